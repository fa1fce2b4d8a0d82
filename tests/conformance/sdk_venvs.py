"""Scratch virtual environments for the official Azure ML SDKs, built once and cached.

The SDKs pin their own dependencies (azure-core, msal, cryptography...), which must never touch the
project's environment, so each SDK gets its own venv under
`~/.cache/azureml-compute-operator/sdk-venvs/<name>-<hash of its pins>`. A changed pin is a new
directory; a finished build is marked by a `.complete` file, and a file lock keeps two test
sessions from building the same venv at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "azureml-compute-operator" / "sdk-venvs"

# The SDK releases the conformance scenarios are written for.
SDK_PINS: dict[str, tuple[str, ...]] = {
    "azure-ai-ml": ("azure-ai-ml==1.35.0", "azure-identity"),
    "azureml-core": ("azureml-core==1.61.0",),
}


@dataclass(frozen=True)
class SdkVenv:
    name: str
    path: Path
    built_seconds: float  # 0 when it came from the cache

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def venv_dir(name: str, pins: tuple[str, ...]) -> Path:
    digest = hashlib.sha256("\n".join(sorted(pins)).encode()).hexdigest()[:12]
    return CACHE_ROOT / f"{name}-{digest}"


def ensure_sdk_venv(name: str, *, timeout: float = 1800) -> SdkVenv:
    """The venv for one SDK, building it (pip into that venv only) when it is not cached yet."""
    pins = SDK_PINS[name]
    path = venv_dir(name, pins)
    marker = path / ".complete"
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with (CACHE_ROOT / f"{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return SdkVenv(name, path, 0.0)
        started = time.monotonic()
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=timeout)
        subprocess.run(
            [str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
            check=True,
            timeout=timeout,
            env={**os.environ, "PIP_REQUIRE_VIRTUALENV": "1"},
        )
        marker.write_text("\n".join(pins) + "\n")
        return SdkVenv(name, path, time.monotonic() - started)
