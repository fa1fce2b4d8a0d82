"""The timed cache behind the region catalogue: one fetch per interval, shared by concurrent callers,
failures never remembered."""

from __future__ import annotations

import asyncio

import pytest

from aml_operator.azureapi.catalogue import TimedCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Source:
    """Counts fetches; each one answers with its own number, after a pause to let callers pile up."""

    def __init__(self) -> None:
        self.fetches = 0
        self.fail_next = False

    async def __call__(self) -> list[int]:
        self.fetches += 1
        await asyncio.sleep(0.01)
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("ARM unreachable")
        return [self.fetches]


async def test_one_fetch_per_interval_shared_by_concurrent_callers() -> None:
    clock, source = Clock(), Source()
    cache: TimedCache[int] = TimedCache(60.0, clock)
    results = await asyncio.gather(*(cache.get("westeurope", source) for _ in range(50)))
    assert results == [[1]] * 50 and source.fetches == 1
    clock.now = 59.9
    assert await cache.get("westeurope", source) == [1]
    assert await cache.get("eastus", source) == [2]  # regions apart
    clock.now = 60.0
    assert await cache.get("westeurope", source) == [3]
    cache.forget("westeurope")
    assert await cache.get("westeurope", source) == [4]


async def test_a_failure_reaches_every_waiter_and_is_not_remembered() -> None:
    source = Source()
    source.fail_next = True
    cache: TimedCache[int] = TimedCache(60.0, Clock())
    results = await asyncio.gather(*(cache.get("westeurope", source) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results) and source.fetches == 1
    assert await cache.get("westeurope", source) == [2]


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    source = Source()
    cache: TimedCache[int] = TimedCache(60.0, Clock())
    first = asyncio.create_task(cache.get("westeurope", source))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get("westeurope", source))
    await asyncio.sleep(0)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await first == [1] and source.fetches == 1


async def test_the_fetching_caller_cancelled_leaves_the_fetch_to_the_others() -> None:
    source = Source()
    cache: TimedCache[int] = TimedCache(60.0, Clock())
    first = asyncio.create_task(cache.get("westeurope", source))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get("westeurope", source))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == [1] and source.fetches == 1
    assert await cache.get("westeurope", source) == [1]
