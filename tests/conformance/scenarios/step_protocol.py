"""The one thing every scenario shares: report a step and wait until the test has checked it.

Scenario scripts run in an SDK's scratch venv, so they import nothing from this repository except
this file, which needs only the standard library. Each step prints `STEP {json}` and blocks until
the test, having checked the step through its own GET to the emulator, answers `next` on stdin.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def step(name: str, **facts: Any) -> None:
    print("STEP " + json.dumps({"step": name, **facts}, default=str), flush=True)
    answer = sys.stdin.readline().strip()
    if answer != "next":
        sys.exit(f"the test stopped the scenario after step {name!r}: {answer or 'no answer'}")
