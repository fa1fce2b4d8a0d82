"""Compute passes admitted a few at a time, finishing work before starting new work."""

from __future__ import annotations

import asyncio

import pytest

from aml_operator.admission import Admission, Turn, turn_of


@pytest.mark.parametrize(("status", "deleting", "turn"), [
    (None, False, Turn.NEW),
    ({}, False, Turn.NEW),
    ({"conditions": [{"type": "Ready", "status": "False"}]}, False, Turn.NEW),
    ({"lastOperation": {"operationName": "Create", "operationStatus": "Pending"}}, False, Turn.FINISHING),
    ({"lastOperation": {"operationName": "Create", "operationStatus": "InProgress"}}, False, Turn.FINISHING),
    ({"lastOperation": {"operationName": "Create", "operationStatus": "Succeeded"}}, False, Turn.KNOWN),
    ({"lastOperation": {"operationName": "Create", "operationStatus": "Failed"}}, False, Turn.KNOWN),
    ({"azureResourceId": "/subscriptions/s/…/computes/c"}, False, Turn.KNOWN),
    ({}, True, Turn.KNOWN),
    ({"lastOperation": {"operationName": "Create", "operationStatus": "Succeeded"}}, True, Turn.KNOWN),
    ({"lastOperation": {"operationName": "Delete", "operationStatus": "InProgress"}}, True, Turn.FINISHING),
])
def test_turn_follows_the_stored_status(status: dict | None, deleting: bool, turn: Turn) -> None:
    assert turn_of(status, deleting=deleting) is turn


async def _hold(admission: Admission, turn: Turn, name: str, order: list[str], release: asyncio.Event) -> None:
    async with admission.slot(turn):
        order.append(name)
        await release.wait()


async def test_no_more_than_the_limit_run_at_once() -> None:
    admission, order, release = Admission(2), [], asyncio.Event()
    tasks = [asyncio.create_task(_hold(admission, Turn.NEW, f"p{i}", order, release)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert order == ["p0", "p1"]
    assert (admission.running, admission.waiting) == (2, 3)
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["p0", "p1", "p2", "p3", "p4"]
    assert (admission.running, admission.waiting) == (0, 0)


async def test_waiting_passes_go_by_turn_then_arrival() -> None:
    admission, order = Admission(1), []
    first = asyncio.Event()
    holder = asyncio.create_task(_hold(admission, Turn.NEW, "holder", order, first))
    await asyncio.sleep(0)
    done = asyncio.Event()
    done.set()
    arrivals = [("new-1", Turn.NEW), ("known-1", Turn.KNOWN), ("finishing-1", Turn.FINISHING),
                ("new-2", Turn.NEW), ("finishing-2", Turn.FINISHING)]
    tasks = []
    for name, turn in arrivals:
        tasks.append(asyncio.create_task(_hold(admission, turn, name, order, done)))
        await asyncio.sleep(0)
    first.set()
    await asyncio.gather(holder, *tasks)
    assert order == ["holder", "finishing-1", "finishing-2", "known-1", "new-1", "new-2"]


async def test_a_cancelled_waiter_gives_up_its_place_and_no_slot_is_lost() -> None:
    admission, order, release = Admission(1), [], asyncio.Event()
    holder = asyncio.create_task(_hold(admission, Turn.NEW, "holder", order, release))
    await asyncio.sleep(0)
    impatient = asyncio.create_task(_hold(admission, Turn.FINISHING, "impatient", order, release))
    patient = asyncio.create_task(_hold(admission, Turn.NEW, "patient", order, release))
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()
    await asyncio.gather(holder, patient)
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert order == ["holder", "patient"]
    assert (admission.running, admission.waiting) == (0, 0)


async def test_a_pass_that_fails_frees_its_slot() -> None:
    admission = Admission(1)
    with pytest.raises(RuntimeError):
        async with admission.slot(Turn.NEW):
            raise RuntimeError("Azure said no")
    async with admission.slot(Turn.NEW):
        assert admission.running == 1
    assert admission.running == 0


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Admission(0)
