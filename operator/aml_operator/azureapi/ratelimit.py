"""Client-side token buckets that mirror ARM's own throttling, so we slow down before Azure refuses us.

Since 2024 ARM throttles per region, subscription, principal and operation type with token buckets
(reads: 250 burst, 25/s refill; writes and deletes: 200 burst, 10/s). One ``SubscriptionLimiter`` per
(subscription, principal) keeps a bucket per operation type; the ``x-ms-ratelimit-remaining-*``
headers Azure sends back lower our buckets when Azure knows better (other clients share the quota),
and a 429's ``Retry-After`` empties the bucket until then.

When a bucket is empty, callers wait in order of ``Priority`` (then of arrival): polls of operations
already running in Azure and deletes go before reads of single computes, which go before lists, so
work in flight finishes first instead of every object advancing one step at a time together.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum, IntEnum


class OperationType(Enum):
    READ = "reads"
    WRITE = "writes"
    DELETE = "deletes"

    @classmethod
    def of_method(cls, method: str) -> OperationType:
        method = method.upper()
        if method in ("GET", "HEAD", "OPTIONS"):
            return cls.READ
        if method == "DELETE":
            return cls.DELETE
        return cls.WRITE


class Priority(IntEnum):
    IN_FLIGHT = 0
    """Polls of an operation Azure is running, deletes: finishing what was started."""
    OBJECT = 1
    """Reads and writes of one compute."""
    LIST = 2
    """Workspace-wide lists and the region's catalogue: useful, never urgent."""


CURRENT_PRIORITY: ContextVar[Priority] = ContextVar("arm_request_priority", default=Priority.OBJECT)
"""Set by the adapter around a call; read by the rate-limit policy of every HTTP attempt it makes."""


@dataclass(frozen=True)
class BucketSpec:
    capacity: float
    refill_per_second: float


JITTER_RESERVE = 10
"""Tokens of each ARM bucket left unused. Requests leave here spaced at the refill rate but can reach Azure
bunched (a busy event loop, a wait for a pooled connection, TCP): at the sustained limit a bucket with
nothing in reserve turns that into 429s (8 of 2,008 PUTs at 10/s in the scale benchmark, 3 with 5 tokens
kept). The refill rate, hence the throughput, is unchanged."""

ARM_DEFAULTS: Mapping[OperationType, BucketSpec] = {
    OperationType.READ: BucketSpec(250 - JITTER_RESERVE, 25),
    OperationType.WRITE: BucketSpec(200 - JITTER_RESERVE, 10),
    OperationType.DELETE: BucketSpec(200 - JITTER_RESERVE, 10),
}


@dataclass
class TokenBucket:
    spec: BucketSpec
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)
    blocked_until: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.tokens = self.spec.capacity
        self.updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.spec.capacity, self.tokens + (now - self.updated) * self.spec.refill_per_second)
        self.updated = now

    def reserve(self) -> float:
        """Take a token; return how long the caller must wait before sending (0 when it may go now)."""
        self._refill()
        now = self.updated
        wait = max(0.0, self.blocked_until - now)
        self.tokens -= 1.0
        if self.tokens < 0:
            wait = max(wait, -self.tokens / self.spec.refill_per_second)
        return wait

    def take_if_available(self) -> bool:
        """Take a token only if one is there now."""
        self._refill()
        if self.blocked_until > self.updated or self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def give_back(self) -> None:
        self.tokens = min(self.spec.capacity, self.tokens + 1.0)

    def observe_remaining(self, remaining: int, sent_after: int = 0) -> None:
        """Azure's count of what is left is authoritative when it is lower than ours; the requests sent
        after the one it answered and not answered yet (``sent_after``) will take theirs from it too."""
        self._refill()
        self.tokens = min(self.tokens, float(remaining - sent_after))

    def block_for(self, seconds: float) -> None:
        self._refill()
        self.blocked_until = max(self.blocked_until, self.updated + seconds)
        self.tokens = min(self.tokens, 0.0)


@dataclass
class LimiterStats:
    requests: int = 0
    throttled_waits: int = 0
    waited_seconds: float = 0.0
    server_throttles: int = 0


class SubscriptionLimiter:
    """The buckets of one (subscription, principal) pair."""

    def __init__(self, specs: Mapping[OperationType, BucketSpec] = ARM_DEFAULTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.buckets = {op: TokenBucket(spec, clock) for op, spec in specs.items()}
        self.stats = LimiterStats()
        self._clock = clock
        self._waiting: dict[OperationType, list[tuple[int, int, asyncio.Future[None]]]] = {op: [] for op in specs}
        self._dispatchers: dict[OperationType, asyncio.Task[None]] = {}
        self._arrival = itertools.count()
        self._in_flight = dict.fromkeys(specs, 0)
        """Requests given a token and not yet answered, by operation type."""
        self._granted = dict.fromkeys(specs, 0)
        """Tokens given so far, by operation type: ``granted`` marks a request's place among them."""

    def reserve(self, method: str) -> float:
        wait = self.buckets[OperationType.of_method(method)].reserve()
        self.stats.requests += 1
        if wait > 0:
            self.stats.throttled_waits += 1
            self.stats.waited_seconds += wait
        return wait

    async def acquire(self, method: str, priority: Priority | None = None) -> float:
        """Wait for a token of the method's bucket, behind every waiter of higher priority; return the wait."""
        op = OperationType.of_method(method)
        waiting = self._waiting[op]
        self.stats.requests += 1
        if not waiting and self.buckets[op].take_if_available():
            self._in_flight[op] += 1
            self._granted[op] += 1
            return 0.0
        started = self._clock()
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        rank = priority if priority is not None else CURRENT_PRIORITY.get()
        heapq.heappush(waiting, (int(rank), next(self._arrival), turn))
        dispatcher = self._dispatchers.get(op)
        if dispatcher is None or dispatcher.done():
            self._dispatchers[op] = asyncio.get_running_loop().create_task(self._dispatch(op))
        await turn
        self._in_flight[op] += 1
        self._granted[op] += 1
        waited = self._clock() - started
        self.stats.throttled_waits += 1
        self.stats.waited_seconds += waited
        return waited

    async def _dispatch(self, op: OperationType) -> None:
        """Hand out the bucket's tokens as they refill, each to the first waiter in priority order."""
        bucket, waiting = self.buckets[op], self._waiting[op]
        while waiting:
            wait = bucket.reserve()
            if wait > 0:
                await asyncio.sleep(wait)
            while waiting:
                turn = heapq.heappop(waiting)[2]
                if not turn.done():  # a caller cancelled while waiting has left
                    turn.set_result(None)
                    break
            else:
                bucket.give_back()

    def granted(self, method: str) -> int:
        """How many tokens of the method's bucket were given so far; taken right after ``acquire``, it marks
        the request for ``observe_response``."""
        return self._granted[OperationType.of_method(method)]

    def finished(self, method: str) -> None:
        """The request ``acquire`` let go has its answer (or failed without one)."""
        op = OperationType.of_method(method)
        self._in_flight[op] = max(0, self._in_flight[op] - 1)

    def observe_response(self, method: str, status: int, headers: Mapping[str, str],
                         retry_after: float | None, mark: int | None = None) -> None:
        """Azure's answer to a request, before ``finished`` for it. ``mark``: ``granted`` when it was sent; the
        requests sent after it and not yet answered are not in Azure's remaining count yet (those sent
        before it are, and so are those answered already, whose own count lowered the bucket)."""
        op = OperationType.of_method(method)
        bucket = self.buckets[op]
        lowered = {k.lower(): v for k, v in headers.items()}
        remaining = lowered.get(f"x-ms-ratelimit-remaining-subscription-{op.value}")
        if remaining is not None and remaining.strip().isdigit():
            later = self._granted[op] - mark if mark is not None else 0
            bucket.observe_remaining(int(remaining), max(0, min(later, self._in_flight[op] - 1)))
        if status == 429:
            self.stats.server_throttles += 1
            bucket.block_for(retry_after if retry_after is not None else 1.0)


class LimiterRegistry:
    """One limiter per (subscription, principal), created on first use."""

    def __init__(self, specs: Mapping[OperationType, BucketSpec] = ARM_DEFAULTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._specs = specs
        self._clock = clock
        self._limiters: dict[tuple[str, str], SubscriptionLimiter] = {}

    def for_subscription(self, subscription_id: str, principal: str) -> SubscriptionLimiter:
        key = (subscription_id.lower(), principal)
        if key not in self._limiters:
            self._limiters[key] = SubscriptionLimiter(self._specs, self._clock)
        return self._limiters[key]
