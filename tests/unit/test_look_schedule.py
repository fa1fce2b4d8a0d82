"""Looks at computes planned per Workspace: due in time order, the latest plan counting, waits woken early."""

from __future__ import annotations

import asyncio
import time

from aml_operator.look_schedule import Look, LookSchedule

WS = ("team-a", "ws-ml")
OTHER = ("team-b", "ws-ml")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_looks_come_due_in_time_order_under_their_workspace_only() -> None:
    clock = Clock()
    schedule = LookSchedule(clock)
    schedule.look_in(WS, Look("b", "computeclusters"), 5)
    schedule.look_in(WS, Look("a", "computeinstances"), 2)
    schedule.look_in(OTHER, Look("c", "computeclusters"), 1)
    assert schedule.due(WS) == [] and schedule.next_due_in(WS) == 2
    clock.now += 6
    assert schedule.due(WS) == [Look("a", "computeinstances"), Look("b", "computeclusters")]
    assert schedule.due(WS) == [] and schedule.next_due_in(WS) is None
    assert len(schedule) == 1  # c, under the other Workspace
    assert schedule.due(OTHER) == [Look("c", "computeclusters")] and len(schedule) == 0


def test_the_latest_plan_of_an_object_is_the_one_that_counts() -> None:
    clock = Clock()
    schedule = LookSchedule(clock)
    look = Look("a", "computeclusters")
    schedule.look_in(WS, look, 1)
    schedule.look_in(WS, look, 300)  # a look found it resting: the next is a drift interval away
    clock.now += 2
    assert schedule.due(WS) == []
    schedule.look_in(WS, look, 0.5)  # a change: sooner again
    clock.now += 1
    assert schedule.due(WS) == [look]
    clock.now += 300
    assert schedule.due(WS) == []  # taken once: the look plans the next


def test_a_forgotten_object_is_not_looked_at() -> None:
    clock = Clock()
    schedule = LookSchedule(clock)
    schedule.look_in(WS, Look("a", "computeclusters"), 1)
    schedule.forget("a")
    clock.now += 2
    assert schedule.due(WS) == [] and len(schedule) == 0


async def test_a_wait_ends_when_an_earlier_look_is_planned() -> None:
    schedule = LookSchedule()
    schedule.look_in(WS, Look("late", "computeclusters"), 60)
    started = time.monotonic()
    waiting = asyncio.create_task(schedule.wait(WS, at_most=30))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    schedule.look_in(WS, Look("soon", "computeclusters"), 0)
    await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - started < 5
    assert schedule.due(WS) == [Look("soon", "computeclusters")]


async def test_a_wait_ends_when_the_earliest_look_is_due_or_at_most_after_the_limit() -> None:
    schedule = LookSchedule()
    started = time.monotonic()
    await schedule.wait(WS, at_most=0.1)  # nothing planned: the limit
    schedule.look_in(WS, Look("a", "computeclusters"), 0.1)
    await schedule.wait(WS, at_most=30)
    assert time.monotonic() - started < 5
    assert schedule.due(WS) == [Look("a", "computeclusters")]
