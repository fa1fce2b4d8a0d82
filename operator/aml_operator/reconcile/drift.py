"""Drift detection with one paged list per workspace per interval, shared by every object in it.

N computes in one workspace cost one ``list`` call per interval instead of N GETs; the objects' drift
passes read their own compute out of the shared snapshot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aml_operator.reconcile.external import ComputeClient, Observation, WorkspaceTarget


@dataclass
class _Snapshot:
    taken: float
    by_name: dict[str, Observation]


class WorkspaceSnapshots:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._snapshots: dict[WorkspaceTarget, _Snapshot] = {}
        self._locks: dict[WorkspaceTarget, asyncio.Lock] = {}
        self.lists = 0
        """How many list calls were made (for metrics and tests)."""

    async def observe(self, client: ComputeClient, target: WorkspaceTarget, name: str,
                      max_age: float) -> Observation | None:
        lock = self._locks.setdefault(target, asyncio.Lock())
        async with lock:  # objects of one workspace waiting here share the one list call
            snapshot = self._snapshots.get(target)
            if snapshot is None or self._clock() - snapshot.taken >= max_age:
                observations = await client.list(target)
                self.lists += 1
                snapshot = _Snapshot(self._clock(), {o.name.lower(): o for o in observations})
                self._snapshots[target] = snapshot
        return snapshot.by_name.get(name.lower())

    def forget(self, target: WorkspaceTarget) -> None:
        self._snapshots.pop(target, None)
