"""Drift detection with one paged list per workspace per interval, shared by every object in it.

N computes in one workspace cost one ``list`` call per interval instead of N GETs; the objects' drift
passes read their own compute out of the shared snapshot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aml_operator.reconcile.external import AzureError, ComputeClient, Observation, WorkspaceTarget
from aml_operator.reconcile.planner import AzureView, ObservationFailed


@dataclass
class _Snapshot:
    taken: float
    by_name: dict[str, Observation]
    failure: AzureError | None = None
    """The list failed: every object of the workspace reports it until the next try."""
    max_age: float | None = None
    read_at: dict[str, float] = field(default_factory=dict)
    """Entries a single GET replaced, and when: a list that started before that GET is older than it."""


class WorkspaceSnapshots:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._snapshots: dict[WorkspaceTarget, _Snapshot] = {}
        self._locks: dict[WorkspaceTarget, asyncio.Lock] = {}

    async def observe(self, client: ComputeClient, target: WorkspaceTarget, name: str,
                      max_age: float, retry_after_failure: float) -> AzureView:
        """The compute as the workspace list shows it; a failed list is shared too, and tried again
        after ``retry_after_failure`` seconds (or Azure's Retry-After), not once per object."""
        lock = self._locks.setdefault(target, asyncio.Lock())
        async with lock:  # objects of one workspace waiting here share the one list call
            snapshot = self._snapshots.get(target)
            if snapshot is None or self._clock() - snapshot.taken >= (snapshot.max_age or max_age):
                started = self._clock()
                try:
                    observations = await client.list(target)
                    snapshot = self._newer_reads_kept(
                        target, started, self._unchanged_kept(
                            target, _Snapshot(self._clock(), {o.name.lower(): o for o in observations})))
                except AzureError as exc:
                    snapshot = _Snapshot(self._clock(), {}, exc, max(exc.retry_after or 0.0, retry_after_failure))
                self._snapshots[target] = snapshot
        if snapshot.failure is not None:
            return ObservationFailed(snapshot.failure)
        return snapshot.by_name.get(name.lower())

    def _newer_reads_kept(self, target: WorkspaceTarget, started: float, listed: _Snapshot) -> _Snapshot:
        """A paged list of a busy workspace takes a while: a compute a GET saw after the list started is
        kept as the GET saw it, or a create finishing meanwhile would look unfinished for a drift interval."""
        previous = self._snapshots.get(target)
        if previous is not None and previous.failure is None:
            for name, at in previous.read_at.items():
                if at >= started:
                    listed.by_name[name] = previous.by_name[name]
                    listed.read_at[name] = at
        return listed

    def _unchanged_kept(self, target: WorkspaceTarget, listed: _Snapshot) -> _Snapshot:
        """A compute Azure shows as before keeps its entry: a pass that saw it can tell by identity that
        nothing changed (``still``), and the old and the new copy are not both held."""
        previous = self._snapshots.get(target)
        if previous is not None and previous.failure is None:
            for name, observation in listed.by_name.items():
                kept = previous.by_name.get(name)
                if kept is not None and kept.resource == observation.resource:
                    listed.by_name[name] = kept
        return listed

    def still(self, target: WorkspaceTarget, name: str, seen: Observation, max_age: float) -> bool:
        """Whether a good snapshot young enough to be read without a new list shows exactly ``seen``."""
        snapshot = self._snapshots.get(target)
        return (snapshot is not None and snapshot.failure is None
                and self._clock() - snapshot.taken < (snapshot.max_age or max_age)
                and snapshot.by_name.get(name.lower()) is seen)

    def listed(self, target: WorkspaceTarget, name: str) -> bool | None:
        """Whether the last list of the workspace had the compute; None when there is no good list."""
        snapshot = self._snapshots.get(target)
        if snapshot is None or snapshot.failure is not None:
            return None
        return name.lower() in snapshot.by_name

    def refresh(self, target: WorkspaceTarget, observation: Observation) -> None:
        """A single GET saw the compute after the list was taken: later passes read that, rather than
        each finding the stale entry and reading the compute again until the next list."""
        snapshot = self._snapshots.get(target)
        if snapshot is not None and snapshot.failure is None:
            snapshot.by_name[observation.name.lower()] = observation
            snapshot.read_at[observation.name.lower()] = self._clock()
