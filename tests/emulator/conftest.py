"""Fixtures for the emulator's own tests: emulators (async, threaded, strict), a raw ARM HTTP client, names."""

from __future__ import annotations

import datetime as dt
import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from aml_emulator.testing import RunningEmulator, run_emulator, run_emulator_in_thread

FAST: dict[str, Any] = {"timing_scale": 0.05, "retry_after": 0}
TENANT2 = "33333333-3333-3333-3333-333333333333"
SUB2 = "44444444-4444-4444-4444-444444444444"
NO_ROLE_CLIENT = "55555555-5555-5555-5555-555555555555"
READER_CLIENT = "66666666-6666-6666-6666-666666666666"
CERT_CLIENT = "77777777-7777-7777-7777-777777777777"
TENANT2_CLIENT = "88888888-8888-8888-8888-888888888888"
SUB = "00000000-0000-0000-0000-000000000000"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/rg-ml"
VM_ID = f"{RG_ID}/providers/Microsoft.Compute/virtualMachines/dsvm1"
HDI_ID = f"{RG_ID}/providers/Microsoft.HDInsight/clusters/hdi1"
AKS_ID = f"{RG_ID}/providers/Microsoft.ContainerService/managedClusters/aks-existing"
DBX_ID = f"{RG_ID}/providers/Microsoft.Databricks/workspaces/dbx1"


def make_certificate(directory: Path) -> tuple[Path, str]:
    """A self-signed client certificate: (PEM file with key and cert, the certificate PEM alone)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aml-emulator-test-client")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = directory / "client.pem"
    path.write_text(key_pem + cert_pem)
    return path, cert_pem


@pytest.fixture(scope="session")
def client_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return make_certificate(tmp_path_factory.mktemp("cert"))


def strict_config(cert_pem: str) -> dict[str, Any]:
    """Everything the refusal and identity tests need in one emulator."""
    return {
        "tenants": [TENANT2],
        "subscriptions": [{"id": SUB2, "tenant_id": TENANT2}],
        "workspaces": [
            {"name": "ws-other", "resource_group": "rg-ml", "location": "westeurope"},
            {"name": "ws-north", "resource_group": "rg-ml", "location": "northeurope"},
        ],
        "principals": [
            {"client_id": NO_ROLE_CLIENT, "secrets": ["no-role-secret"]},
            {"client_id": READER_CLIENT, "secrets": ["reader-secret"]},
            {"client_id": CERT_CLIENT, "certificates": [cert_pem]},
            {"client_id": TENANT2_CLIENT, "tenant_id": TENANT2, "secrets": ["tenant2-secret"]},
        ],
        "role_assignments": [
            {"principal": READER_CLIENT, "scope": f"/subscriptions/{SUB}", "role": "Reader"},
            {"principal": CERT_CLIENT, "scope": RG_ID, "role": "Contributor"},
            {"principal": TENANT2_CLIENT, "scope": f"/subscriptions/{SUB2}", "role": "Owner"},
        ],
        "regions": {"northeurope": {"vm_sizes": ["Standard_DS3_v2", "Standard_NoLowPri_v1"]}},
        "extra_vm_sizes": [
            {"name": "Standard_NoLowPri_v1", "family": "standardDSv2Family", "vCPUs": 2, "lowPriorityCapable": False}
        ],
        "resources": [
            {"id": VM_ID, "properties": {"virtualMachineSize": "Standard_DS3_v2"}},
            {"id": HDI_ID},
            {"id": AKS_ID, "properties": {"agentCount": 3, "agentVmSize": "Standard_D3_v2", "fqdn": "aks1.example"}},
            {"id": DBX_ID},
        ],
        # Long delays: operations stay in flight until a test moves the clock.
        "timing": {"scale": 1000},
        "lro": {"retry_after_seconds": 0},
    }


@pytest.fixture(scope="session")
async def emulator() -> AsyncIterator[RunningEmulator]:
    """A default emulator (no config) with short delays, on the session's event loop."""
    async with run_emulator(**FAST) as running:
        yield running


@pytest.fixture(scope="session")
async def spec_emulator() -> AsyncIterator[RunningEmulator]:
    """The spec profile: status codes as the 2020-08-01 examples read them."""
    async with run_emulator(profile="spec", **FAST) as running:
        yield running


@pytest.fixture(scope="session")
def sync_emulator() -> Iterator[RunningEmulator]:
    """A default emulator on its own thread, for the synchronous SDK (which blocks the calling loop)."""
    with run_emulator_in_thread(**FAST) as running:
        yield running


@pytest.fixture(scope="session")
def sync_spec_emulator() -> Iterator[RunningEmulator]:
    """The spec profile on its own thread: what SDK 1.0.1, generated from the 2020-08-01 spec, expects."""
    with run_emulator_in_thread(profile="spec", **FAST) as running:
        yield running


@pytest.fixture(scope="session")
def strict_emulator(client_certificate: tuple[Path, str]) -> Iterator[RunningEmulator]:
    """Extra principals, regions, sizes and resources; operations wait for `settle()`."""
    with run_emulator_in_thread(strict_config(client_certificate[1])) as running:
        yield running


def settle(running: RunningEmulator, seconds: float = 1e6) -> None:
    """Jump the emulator's clock so every operation in flight finishes."""
    running.control("POST", "clock", {"advance_seconds": seconds})


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Compute names that are valid everywhere (2-16 characters, starting with a letter)."""

    def make(prefix: str = "c") -> str:
        return f"{prefix}{uuid.uuid4().hex[:8]}"

    return make


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


class Arm:
    """Raw ARM requests with a real token, for what the SDK hides (headers, status codes, bodies)."""

    def __init__(self, running: RunningEmulator, session: aiohttp.ClientSession, ssl_context: ssl.SSLContext) -> None:
        self.running = running
        self.session = session
        self.ssl = ssl_context
        self.tokens: dict[tuple[str, str, str], str] = {}

    async def token(self, client_id: str | None = None, secret: str | None = None, tenant: str | None = None) -> str:
        key = (
            client_id or self.running.client_id,
            secret or self.running.client_secret,
            tenant or self.running.tenant_id,
        )
        if key not in self.tokens:
            reply = await self.raw(
                "POST",
                f"/{key[2]}/oauth2/v2.0/token",
                form={
                    "grant_type": "client_credentials",
                    "client_id": key[0],
                    "client_secret": key[1],
                    "scope": "https://management.azure.com/.default",
                },
            )
            assert reply.status == 200, reply.body
            self.tokens[key] = reply.body["access_token"]
        return self.tokens[key]

    async def raw(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        url = path if path.startswith("http") else f"{self.running.url}{path}"
        async with self.session.request(
            method, url, json=json, data=form, headers=headers or {}, ssl=self.ssl
        ) as response:
            text = await response.text()
            body: Any = None
            if text:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = text
            return Reply(response.status, dict(response.headers), body)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        api_version: str | None = "2020-08-01",
        token: str | None = None,
    ) -> Reply:
        if api_version is not None:
            path += ("&" if "?" in path else "?") + f"api-version={api_version}"
        bearer = token if token is not None else await self.token()
        return await self.raw(method, path, json=json, headers={"Authorization": f"Bearer {bearer}"})

    def compute_path(self, name: str, workspace: str | None = None) -> str:
        r = self.running
        return (
            f"/subscriptions/{r.subscription_id}/resourceGroups/{r.resource_group}/providers/"
            f"Microsoft.MachineLearningServices/workspaces/{workspace or r.workspace}/computes/{name}"
        )

    async def wait(self, name: str, predicate: Callable[[dict[str, Any]], bool], limit: float = 20) -> dict[str, Any]:
        import asyncio
        import time

        deadline = time.monotonic() + limit
        while True:
            reply = await self.call("GET", self.compute_path(name))
            if reply.status == 200 and predicate(reply.body):
                return reply.body  # type: ignore[no-any-return]
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} never reached the expected state: {reply.body}")
            await asyncio.sleep(0.02)


@pytest.fixture(scope="session")
async def arm(emulator: RunningEmulator) -> AsyncIterator[Arm]:
    async with aiohttp.ClientSession() as session:
        yield Arm(emulator, session, emulator.ssl_context())


@pytest.fixture(scope="session")
async def spec_arm(spec_emulator: RunningEmulator) -> AsyncIterator[Arm]:
    async with aiohttp.ClientSession() as session:
        yield Arm(spec_emulator, session, spec_emulator.ssl_context())


def aml_body(vm_size: str = "Standard_DS3_v2", min_nodes: int = 0, max_nodes: int = 4, **extra: Any) -> dict[str, Any]:
    return {
        "location": extra.pop("location", "westeurope"),
        "properties": {
            "computeType": "AmlCompute",
            "properties": {
                "vmSize": vm_size,
                "scaleSettings": {"minNodeCount": min_nodes, "maxNodeCount": max_nodes},
                **extra,
            },
        },
    }


def instance_body(vm_size: str = "Standard_DS3_v2", location: str = "westeurope") -> dict[str, Any]:
    return {"location": location, "properties": {"computeType": "ComputeInstance", "properties": {"vmSize": vm_size}}}
