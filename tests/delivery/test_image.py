"""The Dockerfile, without a Docker engine: hadolint, and its build steps run for real in a scratch directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deliverykit import REPO

DOCKERFILE = REPO / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stage(name: str) -> list[tuple[str, str]]:
    steps, current = [], None
    for word, rest in instructions(DOCKERFILE.read_text()):
        if word == "FROM":
            current = rest.split(" AS ")[-1].strip()
        elif current == name:
            steps.append((word, rest))
    return steps


def test_hadolint_is_clean() -> None:
    result = subprocess.run([str(HADOLINT), "--failure-threshold", "info", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_runtime_stage_is_non_root_and_runs_the_operator_with_liveness() -> None:
    runtime = dict(stage("runtime"))
    assert re.fullmatch(r"\d+:\d+", runtime["USER"]), "a numeric user Kubernetes can check against runAsNonRoot"
    assert runtime["USER"].split(":")[0] != "0"
    assert runtime["ENTRYPOINT"] == '["aml-operator"]'
    assert runtime["CMD"] == '["--liveness", "http://0.0.0.0:8080/healthz"]'
    assert "python:3.11-slim" in DOCKERFILE.read_text()


@pytest.mark.timeout(1200)
def test_build_steps_install_a_working_operator(tmp_path: Path) -> None:
    """The build stage's COPY and RUN, with /src, /dist and /opt/venv moved under tmp_path."""
    src, dist, venv = tmp_path / "src", tmp_path / "dist", tmp_path / "venv"
    src.mkdir()
    ignored = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    runs = []
    for word, rest in stage("build"):
        if word == "COPY":
            *sources, _ = rest.split()
            for source in sources:
                path = REPO / source.rstrip("/")
                if path.is_dir():
                    shutil.copytree(path, src / path.name, ignore=ignored)
                else:
                    shutil.copy(path, src / path.name)
        elif word == "RUN":
            # The pip cache only speeds the test up; the image is built without one.
            run = rest.replace("/opt/venv", str(venv)).replace("/dist", str(dist)).replace(" --no-cache-dir", "")
            runs.append(run)
    assert runs
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update({"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(REPO)))
    python_dir = Path(sys.base_prefix) / "bin"  # the interpreter the project's venv was made from
    env["PATH"] = f"{python_dir}{os.pathsep}{env['PATH']}"
    for run in runs:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", run.replace("python -m", "python3 -m")],
                                cwd=src, env=env, capture_output=True, text=True, timeout=1100)
        assert result.returncode == 0, f"{run}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"

    # Only runtime dependencies: none of the dev group.
    frozen = subprocess.run([str(venv / "bin" / "pip"), "freeze"], capture_output=True, text=True, check=True).stdout
    assert "azureml-compute-operator" in frozen
    for dev in ("pytest", "ruff", "mypy", "lupa", "hadolint"):
        assert f"\n{dev}" not in f"\n{frozen.lower()}", dev

    # A read-only root filesystem: starting the operator and importing all of it writes nothing.
    # (Tests run as root, which permissions would not stop: compare the tree before and after.)
    def tree() -> dict[str, float]:
        return {str(path): path.lstat().st_mtime for path in venv.rglob("*")}

    before = tree()
    run_env = {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path / "home"),
               "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([str(venv / "bin" / "aml-operator"), "--help"], capture_output=True, text=True,
                            env=run_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--liveness" in result.stdout and "usage: aml-operator" in result.stdout
    imported = subprocess.run([str(venv / "bin" / "python"), "-c", "import aml_operator.handlers"],
                              capture_output=True, text=True, env=run_env, timeout=120)
    assert imported.returncode == 0, imported.stderr
    assert tree() == before
