"""Helpers shared by the delivery tests: chart paths, offline helm, YAML documents, values files."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "azureml-compute-operator"
CRDS_CHART = REPO / "deploy" / "helm" / "azureml-compute-operator-crds"
KUSTOMIZE = REPO / "deploy" / "kustomize"
CRDS_RELEASE = "aml-crds"

Helm = Callable[..., subprocess.CompletedProcess[str]]


def helm_binary() -> str:
    """The helm the control plane build made (.local/bin), else one on PATH; skips the test without either."""
    import shutil

    import pytest

    local = REPO / ".local" / "bin" / "helm"
    if local.exists():
        return str(local)
    found = shutil.which("helm")
    if found is None:
        pytest.skip("no helm binary: `make controlplane` builds one into .local/bin")
    return found


def helm_offline(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """helm with no cluster at all (lint, template), as a user rendering the chart offline."""
    result = subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "KUBECONFIG": os.devnull})
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def yaml_docs(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def values_file(tmp: Path, values: dict[str, Any]) -> str:
    path = tmp / f"values-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(values))
    return str(path)
