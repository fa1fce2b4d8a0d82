"""Secrets with their metadata: versions for rotation, and Secrets the operator writes and owns.

Reads are by name (RBAC ``get``, never ``list``) and remembered: the Secrets Workspaces and computes
reference are read once, then re-read by one background loop every ``refresh_interval`` while
someone still asks for them, so at rest the API server sees one GET per referenced Secret per
interval (and never more than ``REFRESH_BUDGET_PER_MINUTE``), not one per object per pass. A new
``resourceVersion`` (or a Secret appearing or going) is announced to the ``on_change`` subscribers,
so the objects that use it can be retried at once. Writes are create or update with the version
read, so a concurrent change is never overwritten blindly. Values never leave this module except
as the returned data.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


SecretKey = tuple[str, str]
"""(namespace, name)"""
ChangeCallback = Callable[[str, str], None]
"""Called with (namespace, name) when a remembered Secret changed, appeared or went away."""

IDLE_AFTER = 600.0
"""A Secret nobody asked for this long is forgotten (its Workspace or compute is gone)."""
REFRESH_BUDGET_PER_MINUTE = 30.0
"""Re-reads per minute at most, however many Secrets are remembered: with more Secrets than
``refresh_interval`` allows within it, the interval stretches instead of the API server's load growing."""
REFRESH_CONCURRENCY = 4

log = logging.getLogger(__name__)


def _stored(secret: client.V1Secret) -> StoredSecret:
    meta = secret.metadata or client.V1ObjectMeta()
    data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.data or {}).items()}
    return StoredSecret(
        data=data, type=str(secret.type or "Opaque"), resource_version=str(meta.resource_version or ""),
        annotations=dict(meta.annotations or {}),
        owner_uids=tuple(str(ref.uid) for ref in meta.owner_references or ()),
    )


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Marks a failure as seen when every caller gave up before it came."""
    if not task.cancelled():
        task.exception()


def _version(secret: StoredSecret | None) -> str | None:
    return secret.resource_version if secret is not None else None


@dataclass
class _Remembered:
    secret: StoredSecret | None
    last_asked: float


class SecretStore:
    def __init__(self, refresh_interval: float, idle_after: float = IDLE_AFTER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._core = client.CoreV1Api()
        self.refresh_interval = refresh_interval
        """How stale a remembered Secret may be: the delay before a rotation reaches Azure at the latest."""
        self.idle_after = idle_after
        self._clock = clock
        self._remembered: dict[SecretKey, _Remembered] = {}
        self._in_flight: dict[SecretKey, asyncio.Future[StoredSecret | None]] = {}
        self._subscribers: list[ChangeCallback] = []
        self._refresher: asyncio.Task[None] | None = None

    def on_change(self, callback: ChangeCallback) -> None:
        self._subscribers.append(callback)

    async def read(self, namespace: str, name: str) -> StoredSecret | None:
        """The Secret as last read (at most ``refresh_interval`` old), None when it does not exist."""
        key = (namespace, name)
        remembered = self._remembered.get(key)
        if remembered is not None:
            remembered.last_asked = self._clock()
            return remembered.secret
        task = self._in_flight.get(key)
        if task is None:  # many objects of one Workspace asking at once share one GET
            task = asyncio.ensure_future(self._first_read(key))
            task.add_done_callback(_retrieve)
            self._in_flight[key] = task
        return await asyncio.shield(task)  # a caller giving up does not fail the others

    async def _first_read(self, key: SecretKey) -> StoredSecret | None:
        try:
            secret = await self._get(*key)
            self._remember(key, secret)
            return secret
        finally:
            del self._in_flight[key]

    async def _get(self, namespace: str, name: str) -> StoredSecret | None:
        try:
            secret = await asyncio.to_thread(self._core.read_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return _stored(secret)

    def _remember(self, key: SecretKey, secret: StoredSecret | None, announce: bool = True) -> None:
        before = self._remembered.get(key)
        self._remembered[key] = _Remembered(secret, self._clock())
        if announce and before is not None and _version(before.secret) != _version(secret):
            for callback in self._subscribers:
                callback(*key)
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever(),
                                                                     name="secret-refresh")

    def interval(self) -> float:
        """Seconds between re-reads of the same Secret, given how many are remembered."""
        return max(self.refresh_interval, len(self._remembered) * 60.0 / REFRESH_BUDGET_PER_MINUTE)

    async def _refresh_forever(self) -> None:
        while self._remembered:
            await asyncio.sleep(self.interval())
            await self.refresh()

    async def refresh(self) -> None:
        """Re-read every Secret still asked for; forget the others."""
        now = self._clock()
        for key in [k for k, r in self._remembered.items() if now - r.last_asked > self.idle_after]:
            del self._remembered[key]
        limit = asyncio.Semaphore(REFRESH_CONCURRENCY)

        async def refresh_one(key: SecretKey) -> None:
            async with limit:
                try:
                    secret = await self._get(*key)
                except Exception as exc:  # keep what we had; the next round tries again
                    # Status and reason only: the API server's answer may echo the Secret.
                    why = f"HTTP {exc.status} {exc.reason}" if isinstance(exc, ApiException) else type(exc).__name__
                    log.warning("could not re-read Secret %s/%s: %s", *key, why)
                    return
            remembered = self._remembered.get(key)
            if remembered is not None and _version(remembered.secret) != _version(secret):
                self._remember(key, secret)
                self._remembered[key].last_asked = remembered.last_asked

        await asyncio.gather(*(refresh_one(key) for key in list(self._remembered)))

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None

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
                written = await asyncio.to_thread(self._core.create_namespaced_secret, namespace, body)
            else:
                written = await asyncio.to_thread(self._core.replace_namespaced_secret, name, namespace, body)
        except ApiException as exc:
            # A conflict means the remembered version is stale: read afresh next time.
            self._remembered.pop((namespace, name), None)
            raise SecretWriteFailed(exc.status, exc.reason) from None
        self._remember((namespace, name), _stored(written), announce=False)  # our own change is no news
