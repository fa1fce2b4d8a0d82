"""Fixtures for the conformance tests: the SDKs' scratch venvs, an emulator, and a scenario runner that
checks every step of an SDK scenario through its own GET to the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aml_emulator.testing import RunningEmulator, run_emulator_in_thread

from .sdk_venvs import SdkVenv, ensure_sdk_venv
from .tunnel import tunnel_to

SCENARIOS = Path(__file__).parent / "scenarios"
CHECK_API_VERSION = "2025-09-01"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
_GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-ml/providers"
# Resources outside Azure ML that the v1 scenario attaches.
ATTACHABLE = {
    "AKS_ID": f"{_GROUP}/Microsoft.ContainerService/managedClusters/aks-existing",
    "VM_ID": f"{_GROUP}/Microsoft.Compute/virtualMachines/dsvm1",
    "HDI_ID": f"{_GROUP}/Microsoft.HDInsight/clusters/hdi1",
    "DBX_ID": f"{_GROUP}/Microsoft.Databricks/workspaces/dbx1",
}
ENTRA_HOST = "login.microsoftonline.com"
# Checks are written against the step names; a step without one fails the test.
Check = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="session")
def sdk_venv() -> Callable[[str], SdkVenv]:
    """The scratch venv of an SDK, built on first use (pip into that venv only) and cached across runs."""
    built: dict[str, SdkVenv] = {}

    def get(name: str) -> SdkVenv:
        if name not in built:
            built[name] = ensure_sdk_venv(name)
            cached = "cached" if built[name].built_seconds == 0 else f"built in {built[name].built_seconds:.0f} s"
            print(f"\nscratch venv {built[name].path.name}: {cached}", file=sys.stderr)
        return built[name]

    return get


@pytest.fixture(scope="session")
def conformance_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """A default (live profile) emulator with short delays; the launcher turns on 1 s Retry-After."""
    ca = tmp_path_factory.mktemp("conformance") / "ca.pem"
    aks = {"agentCount": 3, "agentVmSize": "Standard_D3_v2", "fqdn": "aks1.example"}
    config = {
        "resources": [{"id": rid, "properties": aks if key == "AKS_ID" else {}} for key, rid in ATTACHABLE.items()],
        "tls": {"extra_names": [ENTRA_HOST]},
    }
    with run_emulator_in_thread(config, timing_scale=0.02, ca_file=ca) as running:
        yield running


@pytest.fixture(scope="session")
def entra_proxy(conformance_emulator: RunningEmulator) -> Iterator[str]:
    """HTTPS_PROXY for MSAL's authority validation: login.microsoftonline.com reaches the emulator, nothing else."""
    port = int(conformance_emulator.url.rsplit(":", 1)[1])
    with tunnel_to(port, frozenset({ENTRA_HOST})) as (proxy, _):
        yield proxy


@dataclass
class Reply:
    status: int
    body: Any


class ArmReader:
    """Plain HTTPS GETs with a token of its own: what the test sees, independent of any SDK."""

    def __init__(self, running: RunningEmulator) -> None:
        self.running = running
        self._token: str | None = None

    def _bearer(self) -> str:
        if self._token is None:
            r = self.running
            form = urllib.parse.urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": r.client_id,
                    "client_secret": r.client_secret,
                    "scope": "https://management.azure.com/.default",
                }
            ).encode()
            request = urllib.request.Request(f"{r.token_endpoint}", data=form, method="POST")  # noqa: S310
            with urllib.request.urlopen(request, context=r.ssl_context(), timeout=30) as response:  # noqa: S310
                self._token = json.loads(response.read())["access_token"]
        return self._token

    def get(self, path: str) -> Reply:
        url = f"{self.running.url}{path}?api-version={CHECK_API_VERSION}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self._bearer()}"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, context=self.running.ssl_context(), timeout=30) as response:  # noqa: S310
                return Reply(response.status, json.loads(response.read() or b"null"))
        except urllib.error.HTTPError as error:
            return Reply(error.code, json.loads(error.read() or b"null"))

    def compute(self, name: str, *, settled: bool = False) -> Reply:
        """The compute; with `settled`, after any state still moving has finished (the clock is advanced)."""
        r = self.running
        path = (
            f"/subscriptions/{r.subscription_id}/resourceGroups/{r.resource_group}/providers/"
            f"Microsoft.MachineLearningServices/workspaces/{r.workspace}/computes/{name}"
        )
        if settled:
            r.control("POST", "clock", {"advance_seconds": 3600})
        return self.get(path)

    def computes(self) -> list[str]:
        r = self.running
        path = (
            f"/subscriptions/{r.subscription_id}/resourceGroups/{r.resource_group}/providers/"
            f"Microsoft.MachineLearningServices/workspaces/{r.workspace}/computes"
        )
        return [c["name"] for c in self.get(path).body["value"]]


def scenario_env(running: RunningEmulator, **extra: str) -> dict[str, str]:
    """How each SDK documents pointing at a custom cloud: the metadata URL, a CA bundle, a service principal."""
    assert running.ca_file is not None
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": extra.pop("HOME"),
        "EMULATOR_URL": running.url,
        "ARM_CLOUD_METADATA_URL": f"{running.url}/metadata/endpoints?api-version=2019-05-01",
        "REQUESTS_CA_BUNDLE": running.ca_file,
        "SSL_CERT_FILE": running.ca_file,
        "AZURE_TENANT_ID": running.tenant_id,
        "AZURE_CLIENT_ID": running.client_id,
        "AZURE_CLIENT_SECRET": running.client_secret,
        "SUBSCRIPTION_ID": running.subscription_id,
        "RESOURCE_GROUP": running.resource_group,
        "WORKSPACE": running.workspace,
        **extra,
    }


def run_scenario(
    venv: SdkVenv, script: str, env: dict[str, str], checks: dict[str, Check], timeout: float = 300
) -> list[str]:
    """Run a scenario with the venv's python; check each reported step before letting it go on.

    Returns the steps in the order they ran; fails on a step without a check, a failed check, a
    missing step or a non-zero exit (with the scenario's stderr).
    """
    process = subprocess.Popen(
        [str(venv.python), str(SCENARIOS / script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    done: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        for line in process.stdout:
            if not line.startswith("STEP "):
                continue
            facts = json.loads(line[len("STEP ") :])
            name = facts["step"]
            assert name in checks, f"step {name!r} has no check"
            checks[name](facts)
            done.append(name)
            process.stdin.write("next\n")
            process.stdin.flush()
            assert time.monotonic() < deadline, f"the scenario took longer than {timeout:.0f} s"
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read()
    assert process.returncode == 0, f"{script} exited with {process.returncode} after {done}:\n{stderr[-4000:]}"
    assert done == list(checks), f"{script} ran {done}, expected {list(checks)}"
    return done
