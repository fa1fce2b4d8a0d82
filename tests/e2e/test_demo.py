"""`DEMO_ONCE=1 make demo`: the README's first command, end to end, in an environment of its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness import REPO

pytestmark = pytest.mark.timeout(600)


def test_demo_once_reaches_ready_and_tears_down(tmp_path: Path) -> None:
    local = tmp_path / "local"
    env = {**os.environ, "DEMO_ONCE": "1", "AML_LOCAL_DIR": str(local)}
    result = subprocess.run(["make", "--no-print-directory", "demo"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=540, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for line in ("ComputeCluster/cpu-cluster: Ready=True", "ComputeInstance/dev-instance: Ready=True",
                 "Workspace/ws-ml: Ready=True", "InferenceCluster/aks-prod: Ready=True",
                 "InferenceCluster/aks-attached: Ready=True", "AttachedCompute/dsvm: Ready=True",
                 "AttachedCompute/hdi-spark: Ready=True", "AttachedCompute/databricks: Ready=True",
                 "AttachedCompute/adla: Ready=True", "AttachedCompute/adf: Ready=True"):
        assert line in output
    assert "computecluster.azureml.dev/cpu-cluster" in output  # kubectl get azureml -A
    assert not (local / "environment.json").exists(), "demo --once tears everything down"
    assert not (local / "controlplane" / "state.json").exists()
