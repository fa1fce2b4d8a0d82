"""A service principal as a Workspace's credentials Secret holds it: parsed and checked, never shown.

The Secret holds ``tenantId``, ``clientId`` and either ``clientSecret`` or ``clientCertificate`` (PEM
with the private key; ``clientCertificatePassword`` if the key is encrypted). Values never appear in a
repr, a log line or an error message: errors name keys only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

TENANT_ID = "tenantId"
CLIENT_ID = "clientId"
CLIENT_SECRET = "clientSecret"
CLIENT_CERTIFICATE = "clientCertificate"
CLIENT_CERTIFICATE_PASSWORD = "clientCertificatePassword"


class CredentialsError(ValueError):
    """The Secret does not hold a usable service principal; the message names keys, never values."""


@dataclass(frozen=True)
class ServicePrincipal:
    tenant_id: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    certificate_pem: bytes | None = field(default=None, repr=False)
    certificate_password: str | None = field(default=None, repr=False)

    @property
    def fingerprint(self) -> str:
        """Identifies these credentials in caches; changes when any value rotates. Not reversible."""
        digest = hashlib.sha256()
        for part in (self.tenant_id, self.client_id, self.client_secret or "",
                     (self.certificate_pem or b"").decode("latin-1"), self.certificate_password or ""):
            digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
        return digest.hexdigest()[:16]


def service_principal_from_secret(name: str, data: Mapping[str, str]) -> ServicePrincipal:
    """Reads decoded Secret data (str values). Raises ``CredentialsError`` naming what is missing."""
    missing = [key for key in (TENANT_ID, CLIENT_ID) if not data.get(key, "").strip()]
    secret = data.get(CLIENT_SECRET, "")
    certificate = data.get(CLIENT_CERTIFICATE, "")
    if not secret and not certificate:
        missing.append(f"{CLIENT_SECRET} or {CLIENT_CERTIFICATE}")
    if missing:
        raise CredentialsError(f"Secret {name!r} lacks {', '.join(missing)}")
    if secret and certificate:
        raise CredentialsError(f"Secret {name!r} has both {CLIENT_SECRET} and {CLIENT_CERTIFICATE}; keep one")
    if certificate and "PRIVATE KEY" not in certificate:
        raise CredentialsError(f"Secret {name!r}: {CLIENT_CERTIFICATE} must be a PEM holding the private key too")
    return ServicePrincipal(
        tenant_id=data[TENANT_ID].strip(), client_id=data[CLIENT_ID].strip(),
        client_secret=secret or None,
        certificate_pem=certificate.encode() if certificate else None,
        certificate_password=data.get(CLIENT_CERTIFICATE_PASSWORD) or None,
    )
