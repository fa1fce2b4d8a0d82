"""A Microsoft Entra stand-in: discovery documents, the client-credentials token endpoint, token checks.

Tokens are RS256 JWTs shaped like Entra's v1 app tokens for ARM. Client secrets and client
certificate assertions (RS256 or PS256, `x5t` / `x5t#S256`) are accepted, as MSAL sends them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from .config import ARM_AUDIENCES, EmulatorConfig, Principal
from .errors import ArmError, TokenError
from .federation import IssuerKeys, check_federated_assertion, presents_federated_token

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ROLE_ACTIONS = {
    "Owner": {"read", "write", "delete", "action"},
    "Contributor": {"read", "write", "delete", "action"},
    "Reader": {"read"},
}
_cached_key: rsa.RSAPrivateKey | None = None


def process_signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per process: generating one costs tens of milliseconds and tests start many emulators."""
    global _cached_key
    if _cached_key is None:
        _cached_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _cached_key


def key_to_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def key_from_pem(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the token signing key must be an RSA key")
    return key


def arm_audiences(*own_bases: str) -> tuple[str, ...]:
    """Token audiences ARM accepts: Azure's, and the emulator's own URLs (what its cloud metadata names)."""
    return (*ARM_AUDIENCES, *(f"{base.rstrip('/')}/" for base in own_bases))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_int(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class Caller:
    """Who sent an ARM request, from the verified token."""

    client_id: str
    object_id: str
    tenant_id: str


def _cert_thumbprints(pem: str) -> tuple[bytes, bytes, PublicKeyTypes]:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return (
        cert.fingerprint(hashes.SHA1()),  # noqa: S303 - x5t is defined as a SHA-1 thumbprint
        cert.fingerprint(hashes.SHA256()),
        cert.public_key(),
    )


def _thumbprint_bytes(value: object) -> bytes | None:
    # RFC 7515 says base64url without padding; MSAL sends padded standard base64. Accept both.
    if not isinstance(value, str):
        return None
    try:
        return base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))
    except ValueError:
        return None


class Identity:
    def __init__(self, config: EmulatorConfig, signing_key: rsa.RSAPrivateKey) -> None:
        self.config = config
        self._key = signing_key
        self.issuer_keys = IssuerKeys(config.oidc_ca_file)
        self._public = signing_key.public_key()
        der = self._public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = _b64url(hashlib.sha256(der).digest()[:20])

    # -- discovery ---------------------------------------------------------------------------------------
    def openid_configuration(self, base: str, tenant: str) -> dict[str, Any]:
        return {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
        }

    def jwks(self) -> dict[str, Any]:
        numbers = self._public.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.kid,
                    "n": _b64url_int(numbers.n),
                    "e": _b64url_int(numbers.e),
                }
            ]
        }

    def known_tenant(self, tenant: str) -> bool:
        return tenant.lower() in {t.lower() for t in self.config.tenants}

    # -- token endpoint ----------------------------------------------------------------------------------
    async def issue(self, tenant: str, form: dict[str, str], token_url: str,
                    own_bases: tuple[str, ...]) -> dict[str, Any]:
        """Answer a client-credentials request, or raise TokenError."""
        if not self.known_tenant(tenant):
            raise TokenError(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                "signing into the correct cloud.",
            )
        if form.get("grant_type") != "client_credentials":
            raise TokenError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id = form.get("client_id", "")
        principal = self.config.principal(client_id)
        if (
            principal is None
            or principal.client_id.lower() != client_id.lower()
            or (principal.tenant_id.lower() != tenant.lower())
        ):
            raise TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
                "This can happen if the application has not been installed by the administrator of the "
                "tenant or consented to by any user in the tenant.",
            )
        audience = self._audience(form.get("scope", ""), tenant, own_bases)
        if "client_assertion" in form and presents_federated_token(principal, form["client_assertion"]):
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise TokenError(400, "invalid_request", 900023, "Specified client_assertion_type is not supported.")
            await check_federated_assertion(principal, form["client_assertion"], self.issuer_keys)
            appidacr = "2"
        elif "client_assertion" in form:
            self._check_assertion(principal, form, token_url)
            appidacr = "2"
        else:
            self._check_secret(principal, form.get("client_secret", ""))
            appidacr = "1"
        now = int(time.time())
        lifetime = self.config.token_lifetime_seconds
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{principal.tenant_id}/",
            "iat": now,
            "nbf": now - 5,
            "exp": now + lifetime,
            "aio": _b64url(uuid.uuid4().bytes),
            "appid": principal.client_id,
            "appidacr": appidacr,
            "idp": f"https://sts.windows.net/{principal.tenant_id}/",
            "idtyp": "app",
            "oid": principal.object_id,
            "sub": principal.object_id,
            "tid": principal.tenant_id,
            "uti": _b64url(uuid.uuid4().bytes),
            "ver": "1.0",
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }

    @staticmethod
    def _audience(scope: str, tenant: str, own_bases: tuple[str, ...]) -> str:
        # A client configured from the cloud metadata document asks for the emulator's own URL.
        for item in scope.split():
            if not item.endswith("/.default"):
                continue
            resource = item[: -len("/.default")]
            normalised = resource.rstrip("/") + "/"
            if normalised in arm_audiences(*own_bases):
                return normalised
        raise TokenError(
            400,
            "invalid_scope",
            500011,
            f"The resource principal named {scope!r} was not found in the tenant named {tenant}. This can "
            "happen if the application has not been installed by the administrator of the tenant.",
        )

    @staticmethod
    def _check_secret(principal: Principal, secret: str) -> None:
        if not any(hmac.compare_digest(secret.encode(), s.encode()) for s in principal.secrets):
            raise TokenError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{principal.client_id}'.",
            )

    @staticmethod
    def _check_assertion(principal: Principal, form: dict[str, str], token_url: str) -> None:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenError(400, "invalid_request", 900023, "Specified client_assertion_type is not supported.")
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            raise TokenError(401, "invalid_client", 50027, "Invalid JWT token. The token is malformed.") from exc
        wanted = {_thumbprint_bytes(header.get("x5t")), _thumbprint_bytes(header.get("x5t#S256"))} - {None}
        key: PublicKeyTypes | None = None
        for pem in principal.certificates:
            sha1, sha256, public_key = _cert_thumbprints(pem)
            if wanted & {sha1, sha256}:
                key = public_key
                break
        if key is None:
            presented = header.get("x5t") or header.get("x5t#S256") or ""
            raise TokenError(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not registered on "
                f"application. [Reason - The key was not found., Thumbprint of key used by client: "
                f"'{presented}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see"
                f" configured keys for app Id '{principal.client_id}'.]",
            )
        try:
            claims = jwt.decode(
                assertion,
                key,  # type: ignore[arg-type]
                algorithms=["RS256", "PS256", "ES256"],
                options={"verify_aud": False, "require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError(
                401, "invalid_client", 700024, "Client assertion is not within its valid time range."
            ) from exc
        except jwt.PyJWTError as exc:
            raise TokenError(401, "invalid_client", 700027, "Client assertion failed signature validation.") from exc
        if claims.get("iss") != principal.client_id or claims.get("sub") != principal.client_id:
            raise TokenError(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        expected_path = token_url.split("://", 1)[-1].split("/", 1)[-1].lower()
        if not any(
            isinstance(a, str) and a.split("://", 1)[-1].split("/", 1)[-1].lower() == expected_path for a in audiences
        ):
            raise TokenError(
                401,
                "invalid_client",
                700212,
                "No matching federated identity record found for presented assertion audience.",
            )

    # -- ARM side ----------------------------------------------------------------------------------------
    def verify(self, authorization: str | None, base: str) -> Caller:
        """Check the bearer token of an ARM request; raise the 401 ArmError ARM would send."""
        if not authorization:
            raise self._unauthorized(
                "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.", base
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise self._unauthorized(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                base,
            )
        try:
            claims = jwt.decode(
                token.strip(), self._public, algorithms=["RS256"], options={"verify_aud": False}, leeway=5
            )
        except jwt.ExpiredSignatureError:
            now = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime())
            raise self._unauthorized(
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time is earlier than current UTC time '{now}'.",
                base,
            ) from None
        except jwt.PyJWTError:
            raise self._unauthorized("InvalidAuthenticationToken", "The access token is invalid.", base) from None
        audience = str(claims.get("aud", ""))
        if audience.rstrip("/") + "/" not in arm_audiences(base):
            allowed = ",".join(f"'{a}','{a.rstrip('/')}'" for a in reversed(ARM_AUDIENCES))
            raise self._unauthorized(
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{audience}'. It should "
                f"exactly match with one of the allowed audiences {allowed}.",
                base,
            )
        principal = self.config.principal(str(claims.get("oid", "")))
        if principal is None:
            raise self._unauthorized("InvalidAuthenticationToken", "The access token is invalid.", base)
        return Caller(client_id=principal.client_id, object_id=principal.object_id, tenant_id=str(claims["tid"]))

    def check_tenant(self, caller: Caller, subscription_tenant: str, base: str) -> None:
        if caller.tenant_id.lower() != subscription_tenant.lower():
            raise self._unauthorized(
                "InvalidAuthenticationTokenTenant",
                f"The access token is from the wrong issuer 'https://sts.windows.net/{caller.tenant_id}/'. It "
                f"must match the tenant 'https://sts.windows.net/{subscription_tenant}/' associated with this "
                f"subscription. Please use the authority (URL) '{base}/{subscription_tenant}' to get the token. "
                "Note, if the subscription is transferred to another tenant there is no impact to the services, "
                "but information about new tenant could take time to propagate (up to an hour). If you just "
                "transferred your subscription and see this error message, please try back later.",
                base,
            )

    def authorize(self, caller: Caller, scope: str, action: str, verb: str) -> None:
        """Refuse with 403 AuthorizationFailed unless a role assignment at or above `scope` allows `verb`."""
        wanted_scope = scope.lower().rstrip("/")
        for assignment in self.config.role_assignments:
            if assignment.principal.lower() not in (caller.client_id.lower(), caller.object_id.lower()):
                continue
            assigned = assignment.scope.lower().rstrip("/")
            if (wanted_scope == assigned or wanted_scope.startswith(assigned + "/")) and verb in _ROLE_ACTIONS[
                assignment.role
            ]:
                return
        raise ArmError(
            403,
            "AuthorizationFailed",
            f"The client '{caller.object_id}' with object id '{caller.object_id}' does not have authorization "
            f"to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was "
            "recently granted, please refresh your credentials.",
        )

    def subscriptions_of(self, caller: Caller) -> set[str]:
        """Ids (lower case) of the subscriptions in which the caller holds a role at any scope."""
        ids = set()
        for assignment in self.config.role_assignments:
            if assignment.principal.lower() in (caller.client_id.lower(), caller.object_id.lower()):
                ids.add(assignment.scope.strip("/").split("/")[1].lower())
        return ids

    @staticmethod
    def _unauthorized(code: str, message: str, base: str) -> ArmError:
        challenge = (
            f'Bearer authorization_uri="{base}/", error="invalid_token", error_description="{message.split(".")[0]}."'
        )
        return ArmError(401, code, message, headers={"WWW-Authenticate": challenge})
