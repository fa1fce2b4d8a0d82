"""Install the generated CRDs into the test control plane once per session."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aml_operator.api import ALL_KINDS

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"


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
        subprocess.run(["sleep", "0.2"], check=True)
    return names


@pytest.fixture(scope="module")
def shared_namespace(kubectl: Kubectl, crds: list[str]) -> Iterator[str]:
    """One namespace for a module's table of cases; each case uses its own object names."""
    name = f"api-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)
