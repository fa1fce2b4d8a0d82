"""When each compute is next looked at, kept per Workspace: one driver per Workspace, not a timer per object.

A compute at rest needs a look once per drift interval, one with work in flight when Azure's
``Retry-After`` says; what the look finds decides the next. Thousands of computes sharing a few
Workspaces would each hold a timer task, its stopper, handles and a body for its lifetime; here an
object costs one heap entry, and its Workspace's driver sleeps until the earliest look is due (or an
earlier one is asked for). Objects whose Workspace does not exist yet wait under its name until it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field

WorkspaceKey = tuple[str, str]
"""(namespace, name) of the Workspace an object references."""


@dataclass(frozen=True, slots=True)
class Look:
    uid: str
    kind: str
    """The object's plural: where its body is found."""


@dataclass
class _Queue:
    heap: list[tuple[float, str]] = field(default_factory=list)
    earlier: asyncio.Event = field(default_factory=asyncio.Event)


class LookSchedule:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._queues: dict[WorkspaceKey, _Queue] = {}
        self._planned: dict[str, tuple[WorkspaceKey, str, float]] = {}
        """uid → (its Workspace, its plural, when): the one look that counts; older heap entries are stale."""

    def __len__(self) -> int:
        return len(self._planned)

    def look_in(self, workspace: WorkspaceKey, look: Look, delay: float) -> None:
        """Look at the object ``delay`` seconds from now, instead of when it was planned before."""
        when = self._clock() + max(0.0, delay)
        self._planned[look.uid] = (workspace, look.kind, when)
        queue = self._queues.setdefault(workspace, _Queue())
        if not queue.heap or when < queue.heap[0][0]:
            queue.earlier.set()
        heapq.heappush(queue.heap, (when, look.uid))

    def forget(self, uid: str) -> None:
        """The object is gone or being deleted: no more looks until it is planned again."""
        self._planned.pop(uid, None)

    def due(self, workspace: WorkspaceKey) -> list[Look]:
        """The looks due now under ``workspace``, each taken off the schedule (the look plans the next)."""
        queue = self._queues.get(workspace)
        if queue is None:
            return []
        now, found = self._clock(), []
        while queue.heap and queue.heap[0][0] <= now:
            when, uid = heapq.heappop(queue.heap)
            planned = self._planned.get(uid)
            if planned is not None and planned[0] == workspace and planned[2] == when:
                del self._planned[uid]
                found.append(Look(uid, planned[1]))
        return found

    def next_due_in(self, workspace: WorkspaceKey) -> float | None:
        """Seconds until the earliest look under ``workspace`` (stale entries included: waking early for one
        costs a pop); None when nothing is planned."""
        queue = self._queues.get(workspace)
        if queue is None or not queue.heap:
            return None
        return max(0.0, queue.heap[0][0] - self._clock())

    async def wait(self, workspace: WorkspaceKey, at_most: float) -> None:
        """Sleep until the earliest look under ``workspace`` is due, an earlier one is planned, or
        ``at_most`` seconds have passed."""
        queue = self._queues.setdefault(workspace, _Queue())
        queue.earlier.clear()  # before reading the heap: a look planned from here on wakes the wait
        until_due = self.next_due_in(workspace)
        timeout = at_most if until_due is None else min(at_most, until_due)
        if timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.earlier.wait(), timeout)
