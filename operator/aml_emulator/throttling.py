"""ARM's request throttling: token buckets per subscription, principal and operation type, plus a global one.

Since 2024 ARM refills buckets continuously (reads 250 burst at 25/s, writes and deletes 200 at
10/s) per region; the emulator is one region. The subscription-wide global bucket holds 15 times a
principal's and is shared by all principals.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .config import ThrottlingConfig

OPERATION_TYPES = ("reads", "writes", "deletes")


def operation_type(method: str) -> str:
    if method in ("GET", "HEAD"):
        return "reads"
    if method == "DELETE":
        return "deletes"
    return "writes"


@dataclass
class Bucket:
    capacity: float
    rate: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for_one(self) -> int:
        if self.rate <= 0:
            return 60
        return max(1, math.ceil((1 - self.tokens) / self.rate))


@dataclass
class Decision:
    allowed: bool
    headers: dict[str, str]
    retry_after: int = 0


class Throttler:
    def __init__(self, config: ThrottlingConfig) -> None:
        self.config = config
        self._buckets: dict[tuple[str, ...], Bucket] = {}

    def reset(self) -> None:
        self._buckets.clear()

    def _limits(self, op_type: str) -> tuple[float, float]:
        burst = float(getattr(self.config, f"{op_type}_burst"))
        rate = float(getattr(self.config, f"{op_type}_per_second"))
        return burst, rate

    def _bucket(self, key: tuple[str, ...], capacity: float, rate: float, now: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.capacity != capacity or bucket.rate != rate:
            bucket = Bucket(capacity=capacity, rate=rate, tokens=capacity, stamp=now)
            self._buckets[key] = bucket
        bucket.refill(now)
        return bucket

    def take(self, subscription_id: str, principal: str, method: str) -> Decision:
        op_type = operation_type(method)
        if not self.config.enabled:
            return Decision(True, {})
        now = time.monotonic()
        burst, rate = self._limits(op_type)
        multiplier = self.config.global_multiplier
        mine = self._bucket((subscription_id.lower(), principal.lower(), op_type), burst, rate, now)
        shared = self._bucket((subscription_id.lower(), "*", op_type), burst * multiplier, rate * multiplier, now)
        allowed = mine.tokens >= 1 and shared.tokens >= 1
        if allowed:
            mine.tokens -= 1
            shared.tokens -= 1
        headers = {
            f"x-ms-ratelimit-remaining-subscription-{op_type}": str(int(mine.tokens)),
            f"x-ms-ratelimit-remaining-subscription-global-{op_type}": str(int(shared.tokens)),
        }
        if allowed:
            return Decision(True, headers)
        retry_after = max(
            mine.wait_for_one() if mine.tokens < 1 else 0, shared.wait_for_one() if shared.tokens < 1 else 0
        )
        return Decision(False, headers, retry_after)
