"""Token buckets that mirror ARM's: burst, refill, Azure's remaining-count headers and 429s."""

from __future__ import annotations

import asyncio

import pytest

from aml_operator.azureapi.ratelimit import (
    CURRENT_PRIORITY,
    JITTER_RESERVE,
    BucketSpec,
    LimiterRegistry,
    OperationType,
    Priority,
    SubscriptionLimiter,
    TokenBucket,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("method", "op"),
    [
        ("GET", OperationType.READ),
        ("head", OperationType.READ),
        ("PUT", OperationType.WRITE),
        ("PATCH", OperationType.WRITE),
        ("POST", OperationType.WRITE),
        ("DELETE", OperationType.DELETE),
    ],
)
def test_methods_map_to_arm_operation_types(method: str, op: OperationType) -> None:
    assert OperationType.of_method(method) is op


def test_burst_then_refill() -> None:
    clock = FakeClock()
    bucket = TokenBucket(BucketSpec(capacity=3, refill_per_second=2), clock)
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0]
    assert bucket.reserve() == pytest.approx(0.5)  # one token short at 2/s
    clock.now += 0.5
    assert bucket.reserve() == pytest.approx(0.5)  # the refill went to the one who waited
    clock.now += 10
    assert bucket.reserve() == 0  # refilled, capped at capacity
    assert bucket.tokens == pytest.approx(2)


def test_remaining_header_lowers_but_never_raises_our_count() -> None:
    clock = FakeClock()
    limiter = SubscriptionLimiter({op: BucketSpec(10, 1) for op in OperationType}, clock)
    limiter.observe_response("GET", 200, {"x-ms-ratelimit-remaining-subscription-reads": "2"}, None)
    assert limiter.buckets[OperationType.READ].tokens == 2
    limiter.observe_response("GET", 200, {"X-Ms-Ratelimit-Remaining-Subscription-Reads": "9"}, None)
    assert limiter.buckets[OperationType.READ].tokens == 2
    assert limiter.buckets[OperationType.WRITE].tokens == 10  # other operation types are separate


async def test_remaining_header_counts_the_requests_sent_after_the_one_it_answers() -> None:
    clock = FakeClock()
    limiter = SubscriptionLimiter({op: BucketSpec(10, 1) for op in OperationType}, clock)
    marks = []
    for _ in range(4):
        assert await limiter.acquire("PUT") == 0
        marks.append(limiter.granted("PUT"))
    writes = limiter.buckets[OperationType.WRITE]
    # The second request's answer: 6 left. The first, sent before it, is in that count already;
    # the third and fourth, sent after it and unanswered, will take two of those six.
    limiter.observe_response("PUT", 200, {"x-ms-ratelimit-remaining-subscription-writes": "6"}, None, marks[1])
    limiter.finished("PUT")
    assert writes.tokens == 4
    # The first request's answer comes late, with the count as Azure had it before the second: no news.
    limiter.observe_response("PUT", 200, {"x-ms-ratelimit-remaining-subscription-writes": "7"}, None, marks[0])
    limiter.finished("PUT")
    assert writes.tokens == 4
    limiter.observe_response("PUT", 200, {"x-ms-ratelimit-remaining-subscription-writes": "3"}, None, marks[3])
    limiter.finished("PUT")
    assert writes.tokens == 3  # nothing was sent after the fourth


def test_429_blocks_the_bucket_for_retry_after() -> None:
    clock = FakeClock()
    limiter = SubscriptionLimiter({op: BucketSpec(100, 10) for op in OperationType}, clock)
    limiter.observe_response("PUT", 429, {}, retry_after=7)
    assert limiter.reserve("PUT") == pytest.approx(7)
    assert limiter.reserve("GET") == 0
    clock.now += 7
    assert limiter.reserve("PUT") == pytest.approx(0.1, abs=0.11)
    assert limiter.stats.server_throttles == 1
    assert limiter.stats.throttled_waits >= 1


def test_arm_defaults_allow_the_documented_burst_less_a_reserve_for_jitter() -> None:
    clock = FakeClock()
    limiter = SubscriptionLimiter(clock=clock)
    assert all(limiter.reserve("GET") == 0 for _ in range(250 - JITTER_RESERVE))
    assert limiter.reserve("GET") == pytest.approx(1 / 25)
    assert all(limiter.reserve("PUT") == 0 for _ in range(200 - JITTER_RESERVE))
    assert limiter.reserve("PUT") == pytest.approx(1 / 10)


def test_registry_keeps_one_limiter_per_subscription_and_principal() -> None:
    registry = LimiterRegistry()
    a = registry.for_subscription("SUB-1", "client-a")
    assert registry.for_subscription("sub-1", "client-a") is a
    assert registry.for_subscription("sub-1", "client-b") is not a
    assert registry.for_subscription("sub-2", "client-a") is not a


async def test_an_empty_bucket_serves_work_in_flight_first_then_objects_then_lists() -> None:
    limiter = SubscriptionLimiter({op: BucketSpec(capacity=1, refill_per_second=200) for op in OperationType})
    served: list[str] = []

    async def call(name: str, priority: Priority) -> None:
        token = CURRENT_PRIORITY.set(priority)  # what the adapter does around a call
        try:
            await limiter.acquire("GET")
        finally:
            CURRENT_PRIORITY.reset(token)
        served.append(name)

    await limiter.acquire("GET")  # the burst is spent
    await asyncio.gather(call("list-1", Priority.LIST), call("get-1", Priority.OBJECT),
                         call("poll-1", Priority.IN_FLIGHT), call("list-2", Priority.LIST),
                         call("poll-2", Priority.IN_FLIGHT), call("get-2", Priority.OBJECT))
    assert served == ["poll-1", "poll-2", "get-1", "get-2", "list-1", "list-2"]
    assert limiter.stats.requests == 7 and limiter.stats.throttled_waits == 6
    assert await limiter.acquire("PUT") == 0  # writes have their own bucket


async def test_a_waiter_that_gives_up_leaves_its_token_to_the_next() -> None:
    limiter = SubscriptionLimiter({op: BucketSpec(capacity=1, refill_per_second=20) for op in OperationType})
    await limiter.acquire("DELETE")
    impatient = asyncio.create_task(limiter.acquire("DELETE", Priority.IN_FLIGHT))
    patient = asyncio.create_task(limiter.acquire("DELETE", Priority.LIST))
    await asyncio.sleep(0)
    impatient.cancel()
    waited = await patient
    assert 0 < waited < 1
    assert limiter.buckets[OperationType.DELETE].tokens < 1  # the one refilled token went to the patient caller


async def test_a_429_holds_every_waiter_until_retry_after() -> None:
    limiter = SubscriptionLimiter({op: BucketSpec(capacity=5, refill_per_second=100) for op in OperationType})
    limiter.observe_response("PUT", 429, {}, retry_after=0.3)
    waited = await asyncio.gather(*(limiter.acquire("PUT") for _ in range(3)))
    assert all(w >= 0.25 for w in waited)
