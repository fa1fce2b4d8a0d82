"""How many compute passes run at once, and which go first.

A pass builds what it works with (the parsed object, its context, the Azure SDK's request pipeline) before
its first request waits for ARM's budget. When thousands of objects arrive at once, letting every pass
start built all of it for all of them: the heap grew to the convergence peak and stayed there (CPython
keeps an arena while one object in it lives). A pass waits here instead, holding nothing but its place.

Waiting passes go in order of ``Turn``, then of arrival: what Azure is already doing (a deletion sent
included) before changes and deletions of known objects, those before new objects; so a deletion
already sent is confirmed, and its finalizer removed, before the next thousand are sent. A pass never
waits here for another pass.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from enum import IntEnum
from typing import Any

from aml_operator.api.common import UNFINISHED


class Turn(IntEnum):
    FINISHING = 0
    """An operation Azure is running (a deletion sent among them) or our intent to start one."""
    KNOWN = 1
    """An object with a compute in Azure or a past operation: a change, a retry, a drift check, a deletion."""
    NEW = 2
    """An object never acted on: its first pass."""


def turn_of(status: Mapping[str, Any] | None, *, deleting: bool = False) -> Turn:
    """A pass's turn from the object's stored status (read raw: nothing is parsed before admission)."""
    status = status or {}
    operation = status.get("lastOperation") or {}
    if operation.get("operationStatus") in UNFINISHED:
        return Turn.FINISHING
    if deleting or operation or status.get("azureResourceId"):
        return Turn.KNOWN
    return Turn.NEW


class Admission:
    """At most ``limit`` passes at once; the others wait in order of turn, then of arrival."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the number of passes at once must be at least 1, got {limit}")
        self.limit = limit
        self.running = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrival = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for *_, future in self._waiting if not future.done())

    @asynccontextmanager
    async def slot(self, turn: Turn) -> AsyncIterator[None]:
        await self._enter(turn)
        try:
            yield
        finally:
            self._leave()

    async def _enter(self, turn: Turn) -> None:
        if self.running < self.limit and not self._waiting:
            self.running += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (int(turn), next(self._arrival), future))
        try:
            await future  # _leave hands its slot over: ``running`` already counts this pass
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._leave()  # the slot was handed over as the caller was cancelled: pass it on
            raise

    def _leave(self) -> None:
        while self._waiting:
            future = heapq.heappop(self._waiting)[2]
            if not future.done():
                future.set_result(None)
                return
        self.running -= 1
