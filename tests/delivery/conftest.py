"""Delivery fixtures: Helm against the real control plane, the emulator, a namespace to install into."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # deliverykit, chart_operator: helpers of these tests

from deliverykit import CRDS_CHART, CRDS_RELEASE, REPO, Helm, helm_binary, helm_offline, yaml_docs

from controlplane import ControlPlane
from harness import Emulator, start_emulator


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "image: builds the operator image and runs it (skipped without buildah)")


@pytest.fixture(scope="session")
def operator_image() -> str:
    """The image `make image` builds (reused when its inputs did not change), for the tests that run it."""
    missing = [tool for tool in ("buildah", "unshare", "chroot") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: apt-get install buildah (.ci/run installs it)")
    if os.geteuid() != 0:
        pytest.skip("mounting the image and running it in its own namespaces needs root")
    result = subprocess.run(["bash", str(REPO / "tools" / "image" / "build.sh")], capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, f"make image failed:\n{result.stderr[-5000:]}"
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def helm(control_plane: ControlPlane, kube_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm as cluster admin against the control plane, with its own cache and config directories."""
    home = tmp_path_factory.mktemp("helm")
    env = {**kube_env, "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_DATA_HOME": str(home / "data")}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([helm_binary(), *args], capture_output=True, text=True, env=env, timeout=600)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    return run


@pytest.fixture(scope="session")
def crds_chart(helm: Helm, kubectl: Callable[..., Any]) -> str:
    """The CRDs chart installed (taking over CRDs another fixture may have applied with kubectl).

    Never uninstalled: the chart keeps its CRDs, and the rest of the session needs them.
    """
    helm("upgrade", "--install", CRDS_RELEASE, str(CRDS_CHART), "--namespace", "default",
         "--take-ownership", "--force-conflicts", "--wait", "--timeout", "120s")
    names = [doc["metadata"]["name"] for doc in yaml_docs(helm_offline("template", "x", str(CRDS_CHART)).stdout)]
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{name}" for name in names))
    return CRDS_RELEASE


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = start_emulator(tmp_path_factory.mktemp("delivery-emulator"), "spec")
    yield emu
    emu.stop()


@pytest.fixture
def release_namespace(control_plane: ControlPlane) -> Iterator[str]:
    """The namespace the operator chart is installed into (not one it watches)."""
    name = f"aml-system-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)
