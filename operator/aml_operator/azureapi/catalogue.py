"""A region's VM sizes and usages, remembered for an interval per client (cloud, subscription, credentials).

Every create checks its VM size and quota against these lists before the first write; read once per
create they cost two of ARM's reads per compute. Kept here they cost two reads per region and
credentials per interval. Callers asking while a read is in flight share it instead of sending their
own. Quota checks on a list up to ``USAGES_TTL`` old are advisory: Azure still refuses a create
beyond the quota, and that refusal is classified like any other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aml_operator.reconcile.external import Usage, VmSize

T = TypeVar("T")

VM_SIZES_TTL = 3600.0
"""A region's catalogue of sizes changes a few times a year."""
USAGES_TTL = 60.0
"""Usage moves with every create; a minute keeps a burst of creates to one read per region."""


@dataclass
class _Entry(Generic[T]):
    value: Sequence[T]
    fetched_at: float


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Marks a failure as seen when every caller gave up before it came."""
    if not task.cancelled():
        task.exception()


class TimedCache(Generic[T]):
    """Values by key, each fetched at most once per ``ttl`` and by one caller at a time."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, _Entry[T]] = {}
        self._in_flight: dict[str, asyncio.Future[Sequence[T]]] = {}

    async def get(self, key: str, fetch: Callable[[], Awaitable[Sequence[T]]]) -> Sequence[T]:
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.fetched_at < self.ttl:
            return entry.value
        task = self._in_flight.get(key)
        if task is None:
            # A task of its own: a caller giving up (cancelled) must not fail the others waiting on it.
            task = asyncio.ensure_future(self._fetch(key, fetch))
            task.add_done_callback(_retrieve)
            self._in_flight[key] = task
        return await asyncio.shield(task)

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[Sequence[T]]]) -> Sequence[T]:
        try:
            value = await fetch()
            self._entries[key] = _Entry(value, self._clock())
            return value
        finally:  # a failure is not remembered: the next caller tries again
            del self._in_flight[key]

    def forget(self, key: str) -> None:
        """The next ``get`` reads again (e.g. after Azure refused a create the cached quota allowed)."""
        self._entries.pop(key, None)


class RegionCatalogue:
    """What one client remembers of the regions it asked about, keyed by region."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.vm_sizes: TimedCache[VmSize] = TimedCache(VM_SIZES_TTL, clock)
        self.usages: TimedCache[Usage] = TimedCache(USAGES_TTL, clock)

    def forget(self, location: str) -> None:
        self.vm_sizes.forget(location.lower())
        self.usages.forget(location.lower())
