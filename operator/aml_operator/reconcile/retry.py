"""One retry model for every failure, whatever step it came from.

=========  =====================================================  ===========================================
class      failures                                               when the step runs again
=========  =====================================================  ===========================================
soon       transient: throttled, Azure busy or unavailable,       after Retry-After, at least the poll interval
           unreachable, expired token
backoff    needs a person: credentials, role, quota, a compute    30 s (AML_RETRY_BACKOFF) doubling up to 20
           that exists already, a missing resource                times that (10 min), ±20 % jitter; at once when
                                                                  the object, its Workspace or a Secret it
                                                                  references changes
never      a spec only an edit can fix: invalid values, a VM      when the object changes
           size not offered, an immutable field changed
=========  =====================================================  ===========================================

The schedule lives in ``status.retry``, so it survives restarts and every entry point (change
handlers, the looks) obeys the same one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from aml_operator.api.common import RetryStatus
from aml_operator.reconcile.outcome import Outcome

RetryClass = Literal["soon", "backoff", "never"]

BACKOFF_BASE = 30.0
BACKOFF_CAP_FACTOR = 20.0
JITTER = 0.2

NEVER_REASONS = frozenset({
    "InvalidSpec", "InvalidName", "ImmutableFieldChanged", "VmSizeNotAvailable", "LowPriorityNotSupported",
    "LocationMismatch",
})


def retry_class(reason: str, retryable: bool) -> RetryClass:
    if retryable:
        return "soon"
    return "never" if reason in NEVER_REASONS else "backoff"


def backoff_seconds(attempt: int, jitter: float, base: float = BACKOFF_BASE) -> float:
    """``jitter`` in [0, 1): spreads objects that failed together so they do not retry together."""
    delay = min(base * BACKOFF_CAP_FACTOR, base * 2.0 ** max(0, attempt - 1))
    return delay * (1 - JITTER + 2 * JITTER * jitter)


def schedule(previous: RetryStatus | None, klass: RetryClass, reason: str, now: datetime, inputs: str, *,
             poll_interval: float, retry_after: float | None, jitter: float,
             backoff_base: float = BACKOFF_BASE) -> RetryStatus:
    """The retry to record after a failure; for ``never`` without a time: only an edit runs the step again."""
    attempt = previous.attempt + 1 if previous is not None and previous.reason == reason else 1
    if klass == "never":
        return RetryStatus(reason=reason, attempt=attempt, next_attempt_time=None, inputs=inputs)
    if klass == "soon":
        delay = max(retry_after or 0.0, poll_interval)
    else:
        delay = max(retry_after or 0.0, backoff_seconds(attempt, jitter, backoff_base))
    return RetryStatus(reason=reason, attempt=attempt, next_attempt_time=now + timedelta(seconds=delay),
                       inputs=inputs)


def due(retry: RetryStatus | None, now: datetime, inputs: str) -> bool:
    """Whether a failed step may run again now (always, when nothing failed)."""
    if retry is None:
        return True
    if retry.next_attempt_time is None:
        return False
    return now >= retry.next_attempt_time or retry.inputs != inputs


def next_look(outcome: Outcome, now: datetime, poll_interval: float) -> float | None:
    """Seconds until an object needs its next pass; None when nothing is pending, so one look per drift
    interval (when the workspace's list is renewed) is enough.

    Work in flight or waiting comes back when the pass asked; a failed step with a retry time is looked at
    at that time and at least every poll interval, because a changed Workspace or Secret retries it at
    once and only a pass notices the change."""
    if outcome.requeue_after is not None:
        return outcome.requeue_after
    retry = outcome.status.get("retry") or {}
    at = retry.get("nextAttemptTime")
    if not at:
        return None
    due_in = (datetime.fromisoformat(str(at).replace("Z", "+00:00")) - now).total_seconds()
    return min(poll_interval, max(0.0, due_in))


def next_check(previous: RetryStatus | None, result: Outcome, now: datetime, recheck: float, poll_interval: float,
               jitter: float, backoff_base: float = BACKOFF_BASE) -> RetryStatus:
    """When to look at a Workspace again: after ``recheck`` seconds when it was reached, else on the
    schedule of its failure's class (an invalid spec is looked at again only when it changes)."""
    if result.state == "ready":
        return RetryStatus(reason="Ready", attempt=1, next_attempt_time=now + timedelta(seconds=recheck))
    klass = retry_class(result.reason, retryable=result.state == "unknown")
    return schedule(previous, klass, result.reason, now, "", poll_interval=poll_interval,
                    retry_after=result.requeue_after, jitter=jitter, backoff_base=backoff_base)
