"""Session-wide fixtures: the real local control plane, kubectl, and a fresh namespace per test."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import urllib.error
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aml_operator.api import ALL_KINDS
from controlplane import ControlPlane

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
REPO = Path(__file__).resolve().parents[1]
CRDS = REPO / "crds"


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """One real etcd + kube-apiserver + kube-controller-manager for the whole test session."""
    workdir = tmp_path_factory.mktemp("controlplane")
    plane = ControlPlane(workdir=workdir, kubeconfig=workdir / "kubeconfig")
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    return control_plane.kubectl


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> list[str]:
    """The CRDs from crds/, applied and Established. The API server refuses a CRD whose schema is
    not structural or whose CEL rules do not compile or exceed the cost budget, so this fixture is
    itself the first test of the generated YAML."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    names = [kind.crd_name() for kind in ALL_KINDS]
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{name}" for name in names))
    # Discovery (used by `kubectl get azureml`, short names, explain) lags a little behind Established.
    for _ in range(50):
        resources = kubectl("api-resources", "--api-group=azureml.dev", "-o", "name", check=False).stdout
        if all(name in resources for name in names):
            break
        time.sleep(0.2)
    return names


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of the test's own, deleted afterwards (without waiting: the controller-manager finishes it).

    A test that shares its module's operator (tests/e2e: ``shared_operator``) gets the one made for it among
    those that operator watches, deleted with the others once the operator has stopped."""
    if "shared_operator" in request.fixturenames:
        yield request.getfixturevalue("shared_operator").namespace_of(request.node)
        return
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    # In process rather than by kubectl: two processes fewer for each of hundreds of tests.
    control_plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    yield name
    with contextlib.suppress(urllib.error.HTTPError):
        control_plane.request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="session")
def kube_env(control_plane: ControlPlane) -> dict[str, str]:
    """Environment for subprocesses (operators, kopf) that must talk to the control plane as admin."""
    return {**os.environ, "KUBECONFIG": str(control_plane.kubeconfig),
            "PATH": f"{control_plane.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}




def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `-m "not controlplane"` gives a quick run without the API server.
    for item in items:
        if "control_plane" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.controlplane)
