"""Client-side token buckets that mirror ARM's own throttling, so we slow down before Azure refuses us.

Since 2024 ARM throttles per region, subscription, principal and operation type with token buckets
(reads: 250 burst, 25/s refill; writes and deletes: 200 burst, 10/s). One ``SubscriptionLimiter`` per
(subscription, principal) keeps a bucket per operation type; the ``x-ms-ratelimit-remaining-*``
headers Azure sends back lower our buckets when Azure knows better (other clients share the quota),
and a 429's ``Retry-After`` empties the bucket until then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum


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


@dataclass(frozen=True)
class BucketSpec:
    capacity: float
    refill_per_second: float


ARM_DEFAULTS: Mapping[OperationType, BucketSpec] = {
    OperationType.READ: BucketSpec(250, 25),
    OperationType.WRITE: BucketSpec(200, 10),
    OperationType.DELETE: BucketSpec(200, 10),
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

    def observe_remaining(self, remaining: int) -> None:
        """Azure's count of what is left is authoritative when it is lower than ours."""
        self._refill()
        self.tokens = min(self.tokens, float(remaining))

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

    def reserve(self, method: str) -> float:
        wait = self.buckets[OperationType.of_method(method)].reserve()
        self.stats.requests += 1
        if wait > 0:
            self.stats.throttled_waits += 1
            self.stats.waited_seconds += wait
        return wait

    async def acquire(self, method: str) -> float:
        wait = self.reserve(method)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    def observe_response(self, method: str, status: int, headers: Mapping[str, str],
                         retry_after: float | None) -> None:
        op = OperationType.of_method(method)
        bucket = self.buckets[op]
        lowered = {k.lower(): v for k, v in headers.items()}
        remaining = lowered.get(f"x-ms-ratelimit-remaining-subscription-{op.value}")
        if remaining is not None and remaining.strip().isdigit():
            bucket.observe_remaining(int(remaining))
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
