"""The source layout must never shadow the standard library, and the console scripts must exist."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_operator_is_the_standard_library() -> None:
    # Run in a fresh interpreter from the repo root, where a package `operator/` would win if it existed.
    code = "import operator, sys; print(operator.__file__); print(operator.add(2, 3))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    location, result = out.stdout.split()
    assert Path(location).parent == Path(sysconfig.get_paths()["stdlib"])
    assert result == "5"


def test_source_root_is_not_a_package() -> None:
    assert (REPO / "operator").is_dir()
    assert not (REPO / "operator" / "__init__.py").exists()


def test_import_packages_come_from_the_source_root() -> None:
    for name in ("aml_operator", "aml_emulator"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        assert Path(spec.origin).resolve().parent == REPO / "operator" / name


def test_console_scripts_are_installed() -> None:
    bin_dir = Path(sys.executable).parent
    for script in ("aml-operator", "aml-emulator"):
        out = subprocess.run([str(bin_dir / script), "--help"], capture_output=True, text=True, check=True)
        assert f"usage: {script}" in out.stdout
