"""Workload identity federation: the emulator checks federated client assertions as Entra ID does.

A small OIDC issuer (discovery document and JWKS over real HTTP) signs tokens the way the
kube-apiserver signs ServiceAccount tokens; the emulator fetches its keys and verifies signature,
validity, issuer, audience and subject. The e2e suite does the same with the real API server's issuer.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ClientAssertionCredential
from cryptography.hazmat.primitives.asymmetric import rsa

from aml_emulator.config import DEFAULT_SUBSCRIPTION_ID, TOKEN_EXCHANGE_AUDIENCE
from aml_emulator.testing import RunningEmulator, run_emulator

FEDERATED_CLIENT = "99999999-9999-9999-9999-999999999999"
SUBJECT = "system:serviceaccount:team-a:trainer"
ARM_SCOPE = "https://management.azure.com/.default"


def _b64url_int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


@dataclass
class Issuer:
    url: str
    key: rsa.RSAPrivateKey
    kid: str
    discovery_reads: int = 0

    def token(self, subject: str = SUBJECT, audience: str = TOKEN_EXCHANGE_AUDIENCE, lifetime: int = 600,
              key: rsa.RSAPrivateKey | None = None, issuer: str | None = None) -> str:
        now = int(time.time())
        claims = {"iss": issuer or self.url, "sub": subject, "aud": [audience], "iat": now, "nbf": now,
                  "exp": now + lifetime}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
async def issuer() -> AsyncIterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    app = web.Application()
    state = Issuer("", key, "test-key-1")

    async def discovery(_: web.Request) -> web.Response:
        state.discovery_reads += 1
        return web.json_response({"issuer": state.url, "jwks_uri": f"{state.url}/openid/v1/jwks",
                                  "id_token_signing_alg_values_supported": ["RS256"]})

    async def jwks(_: web.Request) -> web.Response:
        return web.json_response({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": state.kid,
                                            "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e)}]})

    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/openid/v1/jwks", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


@pytest.fixture(scope="module")
async def federated(issuer: Issuer) -> AsyncIterator[RunningEmulator]:
    config: dict[str, Any] = {
        "principals": [{"client_id": FEDERATED_CLIENT,
                        "federated_credentials": [{"issuer": issuer.url, "subject": SUBJECT}]}],
        "role_assignments": [{"principal": FEDERATED_CLIENT, "scope": f"/subscriptions/{DEFAULT_SUBSCRIPTION_ID}"}],
    }
    async with run_emulator(config) as running:
        yield running


async def _exchange(running: RunningEmulator, assertion: str, client_id: str = FEDERATED_CLIENT) -> tuple[int, Any]:
    form = {"grant_type": "client_credentials", "client_id": client_id, "scope": ARM_SCOPE,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/{running.tenant_id}/oauth2/v2.0/token", data=form, ssl=running.ssl_context()) as reply:
        return reply.status, await reply.json()


async def test_azure_identity_exchanges_a_federated_token_and_reaches_arm(
        federated: RunningEmulator, issuer: Issuer) -> None:
    credential = ClientAssertionCredential(federated.tenant_id, FEDERATED_CLIENT, issuer.token,
                                           **federated.credential_kwargs())
    async with credential:
        token = await credential.get_token(ARM_SCOPE)
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["appid"] == FEDERATED_CLIENT and claims["appidacr"] == "2"
    url = (f"{federated.url}/subscriptions/{federated.subscription_id}/resourceGroups/{federated.resource_group}"
           f"/providers/Microsoft.MachineLearningServices/workspaces/{federated.workspace}?api-version=2025-09-01")
    async with aiohttp.ClientSession() as session, session.get(
            url, headers={"Authorization": f"Bearer {token.token}"}, ssl=federated.ssl_context()) as reply:
        assert reply.status == 200, await reply.text()
        assert (await reply.json())["name"] == federated.workspace


async def test_issuer_keys_are_fetched_once_and_reused(federated: RunningEmulator, issuer: Issuer) -> None:
    await _exchange(federated, issuer.token())
    before = issuer.discovery_reads
    for _ in range(3):
        status, _body = await _exchange(federated, issuer.token())
        assert status == 200
    assert issuer.discovery_reads == before


def _unsigned(issuer: Issuer) -> str:
    payload = issuer.token().split(".")[1]
    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    return f"{none_header}.{payload}."


REFUSALS = [
    ("wrong-subject", lambda i: i.token(subject="system:serviceaccount:team-b:trainer"), 400, 70021,
     "No matching federated identity record found for presented assertion. Assertion Issuer"),
    ("wrong-audience", lambda i: i.token(audience="api://SomethingElse"), 400, 700212,
     "No matching federated identity record found for presented assertion audience 'api://SomethingElse'"),
    ("expired", lambda i: i.token(lifetime=-120), 400, 700024, "Client assertion is not within its valid time range"),
    ("unsigned", _unsigned, 400, 50027, "JWT token is invalid or malformed"),
    ("signed-by-another-key", lambda i: i.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
     401, 50013, "Assertion failed signature validation"),
    ("unknown-issuer", lambda i: i.token(issuer="https://issuer.example/" + uuid.uuid4().hex), 400, 700211,
     "No matching federated identity record found for presented assertion issuer"),
    ("malformed", lambda i: "not-a-jwt", 400, 50027, "JWT token is invalid or malformed"),
]


@pytest.mark.parametrize(("case", "make", "status", "code", "wording"), REFUSALS, ids=[r[0] for r in REFUSALS])
async def test_refusals_carry_entra_codes_and_shape(federated: RunningEmulator, issuer: Issuer, case: str,
                                                    make: Any, status: int, code: int, wording: str) -> None:
    got_status, body = await _exchange(federated, make(issuer))
    assert got_status == status, body
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: {wording}")
    assert {"error", "timestamp", "trace_id", "correlation_id"} <= body.keys()


async def test_subject_refusal_names_what_was_presented(federated: RunningEmulator, issuer: Issuer) -> None:
    credential = ClientAssertionCredential(
        federated.tenant_id, FEDERATED_CLIENT, lambda: issuer.token(subject="system:serviceaccount:team-b:x"),
        **federated.credential_kwargs())
    async with credential:
        with pytest.raises(ClientAuthenticationError) as refused:
            await credential.get_token(ARM_SCOPE)
    message = str(refused.value)
    assert "AADSTS70021" in message and "Assertion Subject: 'system:serviceaccount:team-b:x'" in message
    assert f"Assertion Issuer: '{issuer.url}'" in message
