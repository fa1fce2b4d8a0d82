"""Workload identity federation as Entra ID checks it: a client assertion issued by an external OIDC issuer.

A principal lists federated credentials (issuer, subject, audiences). A token exchange presents a
JWT from such an issuer; it is accepted when a credential names its issuer, its signature verifies
against a key the issuer publishes (discovery document, then ``jwks_uri``), it is within its
validity, and one credential names both its subject and one of its audiences. Refusals carry Entra's
codes and wording.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from .config import FederatedCredential, Principal
from .errors import TokenError

KEYS_TTL = 300.0
"""How long an issuer's keys are reused; an unknown key id fetches them again at once (rotation)."""
_DOCS = "https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation"


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime(epoch))


@dataclass
class _Keys:
    by_kid: dict[str, Any]
    fetched_at: float


class IssuerKeys:
    """The signing keys of external issuers, read from their OIDC discovery documents."""

    def __init__(self, ca_file: str | None = None, ttl: float = KEYS_TTL) -> None:
        self._ssl = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self._ttl = ttl
        self._cache: dict[str, _Keys] = {}
        self.fetches = 0

    async def key(self, issuer: str, kid: str | None) -> Any | None:
        """The issuer's public key with this id (or its only key when the token names none)."""
        cached = self._cache.get(issuer)
        if cached is None or time.monotonic() - cached.fetched_at > self._ttl or (kid and kid not in cached.by_kid):
            cached = self._cache[issuer] = await self._fetch(issuer)
        if kid is None:
            return next(iter(cached.by_kid.values())) if len(cached.by_kid) == 1 else None
        return cached.by_kid.get(kid)

    async def _fetch(self, issuer: str) -> _Keys:
        self.fetches += 1
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                discovery = await self._get_json(session, issuer.rstrip("/") + "/.well-known/openid-configuration")
                if discovery.get("issuer") != issuer or not isinstance(discovery.get("jwks_uri"), str):
                    raise ValueError("the discovery document names another issuer or no jwks_uri")
                jwks = await self._get_json(session, discovery["jwks_uri"])
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TokenError(400, "invalid_request", 50166,
                             f"Request to External OIDC endpoint failed. Issuer: '{issuer}'. Reason: {exc}.") from exc
        by_kid: dict[str, Any] = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "RSA" and jwk.get("use", "sig") == "sig":
                by_kid[str(jwk.get("kid", ""))] = jwt.PyJWK(jwk, algorithm="RS256").key
        return _Keys(by_kid, time.monotonic())

    async def _get_json(self, session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
        async with session.get(url, ssl=self._ssl) as response:
            if response.status != 200:
                raise ValueError(f"GET {url} answered HTTP {response.status}")
            body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise ValueError(f"GET {url} did not answer a JSON object")
        return body


def presents_federated_token(principal: Principal, assertion: str) -> bool:
    """True when the assertion comes from an external issuer rather than the app's own certificate."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return bool(principal.federated_credentials)
    return claims.get("iss") != principal.client_id and bool(principal.federated_credentials)


async def check_federated_assertion(principal: Principal, assertion: str, keys: IssuerKeys) -> None:
    """Accepts the assertion or raises the ``TokenError`` Entra ID would answer."""
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError(400, "invalid_request", 50027, "JWT token is invalid or malformed.") from exc
    issuer, subject = str(claims.get("iss", "")), str(claims.get("sub", ""))
    audience = claims.get("aud")
    audiences = [str(a) for a in (audience if isinstance(audience, list) else [audience]) if a]
    trusting = [c for c in principal.federated_credentials if c.issuer == issuer]
    if not trusting:
        raise TokenError(400, "invalid_request", 700211,
                         f"No matching federated identity record found for presented assertion issuer '{issuer}'. "
                         "Please check your federated identity credential Subject, Audience and Issuer against the "
                         f"presented assertion. {_DOCS}")
    if header.get("alg") != "RS256":
        raise TokenError(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
    key = await keys.key(issuer, header.get("kid"))
    if key is None:
        raise TokenError(401, "invalid_client", 50013,
                         "Assertion failed signature validation. [Reason - The key was not found., Thumbprint of key "
                         f"used by client: '{header.get('kid', '')}', Found key 'Start=, End='].")
    try:
        jwt.decode(assertion, key, algorithms=["RS256"],
                   options={"verify_aud": False, "verify_iss": False, "require": ["exp", "iss", "sub", "aud"]})
    except jwt.ExpiredSignatureError as exc:
        now = time.time()
        raise TokenError(400, "invalid_client", 700024,
                         f"Client assertion is not within its valid time range. Current time: {_iso(now)}, assertion "
                         f"valid from {_iso(float(claims.get('nbf', claims.get('iat', 0))))}, expiry time of "
                         f"assertion {_iso(float(claims.get('exp', 0)))}. Review the documentation at "
                         "https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-"
                         "credentials .") from exc
    except jwt.PyJWTError as exc:
        raise TokenError(401, "invalid_client", 50013,
                         "Assertion failed signature validation. [Reason - The provided signature value did not match "
                         "the expected signature value.]") from exc
    if not any(_names_audience(c, audiences) for c in trusting):
        raise TokenError(400, "invalid_request", 700212,
                         "No matching federated identity record found for presented assertion audience "
                         f"'{', '.join(audiences)}'. Please note that the matching is done using a case-sensitive "
                         f"comparison. {_DOCS}")
    if not any(c.subject == subject and _names_audience(c, audiences) for c in trusting):
        raise TokenError(400, "invalid_request", 70021,
                         f"No matching federated identity record found for presented assertion. Assertion Issuer: "
                         f"'{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{', '.join(audiences)}'. "
                         f"{_DOCS}")


def _names_audience(credential: FederatedCredential, audiences: list[str]) -> bool:
    return any(a in credential.audiences for a in audiences)
