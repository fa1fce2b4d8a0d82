"""Secrets whose values go into a compute's Azure body: which keys a kind needs, and which versions it sent.

Values only ever flow from the Secret into the request body. What status keeps is the Secret's
``resourceVersion`` (``name@version``), so a rotated Secret is noticed by comparing versions, and
nothing derived from a value (not even a hash a weak password could be guessed from) is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SecretNeed:
    """A Secret in the object's namespace the PUT body needs."""

    name: str
    field: str
    """The spec field that names the Secret, for messages (e.g. spec.credentialsSecretRef)."""
    keys: tuple[str, ...]
    """Keys that must all be present."""
    any_of: tuple[str, ...] = ()
    """Keys of which at least one must be present (e.g. privateKey or password)."""
    secret_type: str | None = None
    """The Secret type required, e.g. kubernetes.io/tls."""

    def missing(self, data: Mapping[str, str] | None, secret_type: str = "") -> str | None:
        """Why the Secret cannot serve, naming keys only; None when it can."""
        if data is None:
            return f"Secret {self.name!r} ({self.field}) does not exist"
        if self.secret_type and secret_type != self.secret_type:
            return f"Secret {self.name!r} ({self.field}) has type {secret_type!r}, not {self.secret_type!r}"
        absent = [key for key in self.keys if not data.get(key)]
        if absent:
            return f"Secret {self.name!r} ({self.field}) has no key {' or '.join(repr(k) for k in absent)}"
        if self.any_of and not any(data.get(key) for key in self.any_of):
            return f"Secret {self.name!r} ({self.field}) needs one of the keys {', '.join(map(repr, self.any_of))}"
        return None

    def values(self, data: Mapping[str, str]) -> dict[str, str]:
        """Only the keys this need names: other keys of the Secret are never read into memory we keep."""
        return {key: data[key] for key in (*self.keys, *self.any_of) if data.get(key)}


def applied_versions(versions: Mapping[str, str]) -> list[str] | None:
    """What status records for the Secrets a write used: sorted ``name@resourceVersion``, None for none."""
    return sorted(f"{name}@{version}" for name, version in versions.items()) or None
