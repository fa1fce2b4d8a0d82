"""Workspace credentials: a client certificate works, and a principal without a role gets a clear reason."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from harness import SUBSCRIPTION_ID, TENANT_ID, Emulator, Kube, Operator, start_emulator, workspace

pytestmark = pytest.mark.timeout(300)

CERT_CLIENT = "77777777-7777-7777-7777-777777777777"
NO_ROLE_CLIENT = "55555555-5555-5555-5555-555555555555"
NO_ROLE_SECRET = "no-role-secret"


def self_signed(common_name: str) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2)).sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert_pem, key_pem


@pytest.fixture(scope="module")
def certificate() -> tuple[str, str]:
    return self_signed("azureml-compute-operator e2e")


@pytest.fixture(scope="module")
def principals_emulator(tmp_path_factory: pytest.TempPathFactory, certificate: tuple[str, str]) -> Iterator[Emulator]:
    workdir = tmp_path_factory.mktemp("principals")
    config = {
        "principals": [{"client_id": CERT_CLIENT, "certificates": [certificate[0]]},
                       {"client_id": NO_ROLE_CLIENT, "secrets": [NO_ROLE_SECRET]}],
        "role_assignments": [{"principal": CERT_CLIENT, "scope": f"/subscriptions/{SUBSCRIPTION_ID}",
                              "role": "Contributor"}],
    }
    path = Path(workdir / "config.json")
    path.write_text(json.dumps(config))
    emu = start_emulator(workdir, "spec", "--config", str(path))
    yield emu
    emu.stop()


def test_client_certificate_reaches_the_workspace_and_a_principal_without_role_is_refused(
        kube: Kube, principals_emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str,
        certificate: tuple[str, str]) -> None:
    operator = operator_factory(namespace, principals_emulator)
    cert_pem, key_pem = certificate
    kube.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cert-credentials"},
         "stringData": {"tenantId": TENANT_ID, "clientId": CERT_CLIENT, "clientCertificate": cert_pem + key_pem}},
        workspace("by-certificate", secret="cert-credentials"),
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "no-role"},
         "stringData": {"tenantId": TENANT_ID, "clientId": NO_ROLE_CLIENT, "clientSecret": NO_ROLE_SECRET}},
        workspace("no-role", secret="no-role"),
    )
    ready = kube.wait_condition("workspace", "by-certificate")
    assert ready["status"]["location"] == "westeurope"
    refused = kube.wait_condition("workspace", "no-role", "Ready", "False", reason="AuthorizationFailed")
    message = next(c["message"] for c in refused["status"]["conditions"] if c["type"] == "Ready")
    assert "does not have authorization" in message and "workspaces/ws-ml" in message
    operator.stop()
    assert "PRIVATE KEY" not in operator.output()
