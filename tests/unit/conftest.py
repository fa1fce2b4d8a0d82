"""Unit tests import their shared test doubles (``fake_azure``) from this folder.

pytest runs with ``--import-mode=importlib``, which leaves ``sys.path`` alone, so the folder is added here.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
