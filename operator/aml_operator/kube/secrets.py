"""Secrets with their metadata: versions for rotation, and Secrets the operator writes and owns.

Reads are by name (RBAC ``get``, never ``list``); writes are create or update with the version read,
so a concurrent change is never overwritten blindly. Values never leave this module except as the
returned data.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.exceptions import ApiException


class SecretWriteFailed(Exception):
    """A refused write, described by HTTP status and reason only (the API's answer may echo the body)."""

    def __init__(self, status: int | None, reason: str | None) -> None:
        super().__init__(f"HTTP {status} {reason or ''}".strip())


@dataclass(frozen=True)
class StoredSecret:
    data: Mapping[str, str] = field(repr=False)
    type: str
    resource_version: str
    annotations: Mapping[str, str]
    owner_uids: tuple[str, ...]


@dataclass(frozen=True)
class OwnerRef:
    api_version: str
    kind: str
    name: str
    uid: str


class SecretStore:
    def __init__(self) -> None:
        self._core = client.CoreV1Api()

    async def read(self, namespace: str, name: str) -> StoredSecret | None:
        try:
            secret = await asyncio.to_thread(self._core.read_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        meta = secret.metadata or client.V1ObjectMeta()
        data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.data or {}).items()}
        return StoredSecret(
            data=data, type=str(secret.type or "Opaque"), resource_version=str(meta.resource_version or ""),
            annotations=dict(meta.annotations or {}),
            owner_uids=tuple(str(ref.uid) for ref in meta.owner_references or ()),
        )

    async def write(self, namespace: str, name: str, data: Mapping[str, str], annotations: Mapping[str, str],
                    owner: OwnerRef, existing: StoredSecret | None) -> None:
        """Create the Secret owned by ``owner`` (garbage-collected with it), or update the one read."""
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=name, namespace=namespace, annotations=dict(annotations),
                resource_version=existing.resource_version if existing is not None else None,
                owner_references=[client.V1OwnerReference(
                    api_version=owner.api_version, kind=owner.kind, name=owner.name, uid=owner.uid,
                    controller=True, block_owner_deletion=False)],
            ),
            type="Opaque",
            data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        )
        try:
            if existing is None:
                await asyncio.to_thread(self._core.create_namespaced_secret, namespace, body)
            else:
                await asyncio.to_thread(self._core.replace_namespaced_secret, name, namespace, body)
        except ApiException as exc:
            raise SecretWriteFailed(exc.status, exc.reason) from None
