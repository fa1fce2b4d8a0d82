"""azure-identity credentials against the emulator's token endpoint, and ARM's token and role checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from aml_emulator.testing import RunningEmulator

from .conftest import (
    CERT_CLIENT,
    NO_ROLE_CLIENT,
    READER_CLIENT,
    SUB2,
    TENANT2,
    TENANT2_CLIENT,
    Arm,
    aml_body,
)


def test_client_secret_credential_reaches_arm(strict_emulator: RunningEmulator) -> None:
    credential = strict_emulator.credential()
    token = credential.get_token("https://management.azure.com/.default")
    assert token.token.count(".") == 2 and token.expires_on > 0
    client = strict_emulator.client(credential=credential)
    assert client.workspaces.get(strict_emulator.resource_group, strict_emulator.workspace).name == "ws-ml"


def test_wrong_secret_is_refused_by_the_token_endpoint(strict_emulator: RunningEmulator) -> None:
    credential = strict_emulator.credential(client_secret="not-the-secret")
    with pytest.raises(ClientAuthenticationError) as caught:
        credential.get_token("https://management.azure.com/.default")
    assert "AADSTS7000215" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)


def test_unknown_client_is_refused(strict_emulator: RunningEmulator) -> None:
    credential = strict_emulator.credential(client_id="99999999-9999-9999-9999-999999999999")
    with pytest.raises(ClientAuthenticationError) as caught:
        credential.get_token("https://management.azure.com/.default")
    assert "AADSTS700016" in str(caught.value)


def test_principal_without_a_role_gets_authorization_failed(strict_emulator: RunningEmulator) -> None:
    credential = strict_emulator.credential(client_id=NO_ROLE_CLIENT, client_secret="no-role-secret")
    client = strict_emulator.client(credential=credential)
    with pytest.raises(HttpResponseError) as caught:
        client.workspaces.get(strict_emulator.resource_group, strict_emulator.workspace)
    assert caught.value.status_code == 403
    assert caught.value.error.code == "AuthorizationFailed"
    assert "Microsoft.MachineLearningServices/workspaces/read" in caught.value.error.message


def test_reader_may_read_but_not_write(strict_emulator: RunningEmulator) -> None:
    credential = strict_emulator.credential(client_id=READER_CLIENT, client_secret="reader-secret")
    client = strict_emulator.client(credential=credential)
    ops = client.machine_learning_compute
    assert isinstance(list(ops.list_by_workspace(strict_emulator.resource_group, strict_emulator.workspace)), list)
    with pytest.raises(HttpResponseError) as caught:
        ops.begin_create_or_update(
            strict_emulator.resource_group, strict_emulator.workspace, "readerc", _json(aml_body())
        )
    assert caught.value.status_code == 403
    assert "workspaces/computes/write" in caught.value.error.message


def test_certificate_credential_reaches_arm_within_its_scope(
    strict_emulator: RunningEmulator, client_certificate: tuple[Path, str]
) -> None:
    credential = strict_emulator.certificate_credential(str(client_certificate[0]), client_id=CERT_CLIENT)
    client = strict_emulator.client(credential=credential)
    # Contributor on the resource group: the workspace is in scope, the subscription-level VM sizes are not.
    assert client.workspaces.get(strict_emulator.resource_group, strict_emulator.workspace).name == "ws-ml"
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_sizes.list("westeurope")
    assert caught.value.status_code == 403


def test_certificate_not_registered_is_refused(strict_emulator: RunningEmulator, tmp_path: Path) -> None:
    from .conftest import make_certificate

    other, _ = make_certificate(tmp_path)
    credential = strict_emulator.certificate_credential(str(other), client_id=CERT_CLIENT)
    with pytest.raises(ClientAuthenticationError) as caught:
        credential.get_token("https://management.azure.com/.default")
    assert "AADSTS700027" in str(caught.value)


def test_token_of_another_tenant_is_refused_for_this_subscription(strict_emulator: RunningEmulator) -> None:
    credential = strict_emulator.credential(tenant_id=TENANT2, client_id=TENANT2_CLIENT, client_secret="tenant2-secret")
    own = strict_emulator.client(credential=credential, subscription_id=SUB2)
    # Its own subscription has no workspace: a 404 proves the token passed the front door.
    with pytest.raises(HttpResponseError) as caught:
        own.workspaces.get("rg-ml", "ws-ml")
    assert caught.value.status_code == 404
    other = strict_emulator.client(credential=credential)
    with pytest.raises(ClientAuthenticationError) as caught_auth:
        other.workspaces.get(strict_emulator.resource_group, strict_emulator.workspace)
    assert caught_auth.value.error.code == "InvalidAuthenticationTokenTenant"


async def test_arm_requires_a_valid_bearer_token(arm: Arm) -> None:
    path = arm.compute_path("anything")
    missing = await arm.raw("GET", path + "?api-version=2020-08-01")
    assert missing.status == 401
    assert missing.body["error"]["code"] == "AuthenticationFailed"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer ")
    forged = await arm.call("GET", path, token="eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2lnbmF0dXJl")
    assert (forged.status, forged.body["error"]["code"]) == (401, "InvalidAuthenticationToken")


async def test_token_endpoint_wants_the_arm_scope(arm: Arm) -> None:
    reply = await arm.raw(
        "POST",
        f"/{arm.running.tenant_id}/oauth2/v2.0/token",
        form={
            "grant_type": "client_credentials",
            "client_id": arm.running.client_id,
            "client_secret": arm.running.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert reply.status == 400
    assert reply.body["error"] == "invalid_scope"
    discovery = await arm.raw("GET", f"/{arm.running.tenant_id}/v2.0/.well-known/openid-configuration")
    assert discovery.body["token_endpoint"] == arm.running.token_endpoint


def _json(body: object) -> bytes:
    import json

    return json.dumps(body).encode()
