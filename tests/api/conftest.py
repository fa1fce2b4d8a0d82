"""Fixtures of the API-server tests: a namespace shared by a module's table of cases."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

Kubectl = Callable[..., subprocess.CompletedProcess[str]]



@pytest.fixture(scope="module")
def shared_namespace(kubectl: Kubectl, crds: list[str]) -> Iterator[str]:
    """One namespace for a module's table of cases; each case uses its own object names."""
    name = f"api-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)
