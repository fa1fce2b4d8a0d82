"""The one retry model: which class a failure falls in, and when its step runs again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aml_operator.reconcile.outcome import Outcome
from aml_operator.reconcile.retry import backoff_seconds, due, next_look, retry_class, schedule

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reason", "retryable", "klass"),
    [("Throttled", True, "soon"), ("AzureUnavailable", True, "soon"), ("AzureUnreachable", True, "soon"),
     ("CredentialsInvalid", False, "backoff"), ("AuthorizationFailed", False, "backoff"),
     ("QuotaExceeded", False, "backoff"), ("AlreadyExists", False, "backoff"),
     ("UnderlyingResourceNotFound", False, "backoff"),
     ("InvalidSpec", False, "never"), ("ImmutableFieldChanged", False, "never"),
     ("VmSizeNotAvailable", False, "never")],
)
def test_classes(reason: str, retryable: bool, klass: str) -> None:
    assert retry_class(reason, retryable) == klass


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 24, 36), (2, 48, 72), (3, 96, 144), (6, 480, 720)])
def test_backoff_doubles_from_30_seconds_to_10_minutes_with_jitter(attempt: int, low: float, high: float) -> None:
    spread = [backoff_seconds(attempt, jitter) for jitter in (0.0, 0.5, 0.999)]
    assert low == spread[0] and spread[1] == min(600, 30 * 2 ** (attempt - 1)) and spread[2] < high


def test_the_same_reason_counts_up_another_starts_over() -> None:
    first = schedule(None, "backoff", "QuotaExceeded", NOW, "", poll_interval=5, retry_after=None, jitter=0.5)
    again = schedule(first, "backoff", "QuotaExceeded", NOW, "", poll_interval=5, retry_after=None, jitter=0.5)
    other = schedule(again, "backoff", "AuthorizationFailed", NOW, "", poll_interval=5, retry_after=None,
                     jitter=0.5)
    assert (first.attempt, again.attempt, other.attempt) == (1, 2, 1)
    assert again.next_attempt_time == NOW + timedelta(seconds=60)


def test_soon_honours_retry_after_but_never_less_than_the_poll_interval() -> None:
    throttled = schedule(None, "soon", "Throttled", NOW, "", poll_interval=5, retry_after=42, jitter=0.5)
    unavailable = schedule(None, "soon", "AzureUnavailable", NOW, "", poll_interval=5, retry_after=1, jitter=0.5)
    assert throttled.next_attempt_time == NOW + timedelta(seconds=42)
    assert unavailable.next_attempt_time == NOW + timedelta(seconds=5)


def test_due_at_its_time_at_once_when_an_input_changes_never_for_an_invalid_spec() -> None:
    retry = schedule(None, "backoff", "CredentialsInvalid", NOW, "workspace@1,aml-sp@4", poll_interval=5,
                     retry_after=None, jitter=0.5)
    assert not due(retry, NOW + timedelta(seconds=29), "workspace@1,aml-sp@4")
    assert due(retry, NOW + timedelta(seconds=30), "workspace@1,aml-sp@4")
    assert due(retry, NOW + timedelta(seconds=1), "workspace@1,aml-sp@5")
    invalid = schedule(None, "never", "InvalidSpec", NOW, "", poll_interval=5, retry_after=None, jitter=0.5)
    assert not due(invalid, NOW + timedelta(days=1), "changed") and due(None, NOW, "")


def test_next_look_work_in_flight_at_its_pace_a_failure_every_poll_interval_rest_never() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    def retry_at(seconds: float | None) -> Outcome:
        at = None if seconds is None else (now + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
        retry = {"reason": "QuotaExceeded", "attempt": 1, **({"nextAttemptTime": at} if at else {})}
        return Outcome(status={"retry": retry})

    assert next_look(Outcome(status={}, requeue_after=2.0), now, poll_interval=10) == 2.0
    assert next_look(Outcome(status={}, requeue_after=0.0), now, poll_interval=10) == 0.0
    assert next_look(retry_at(4), now, poll_interval=10) == 4.0
    assert next_look(retry_at(600), now, poll_interval=10) == 10  # a fixed Secret must not wait 10 minutes
    assert next_look(retry_at(-30), now, poll_interval=10) == 0.0  # overdue
    assert next_look(retry_at(None), now, poll_interval=10) is None  # only an edit retries it
    assert next_look(Outcome(status={"conditions": []}), now, poll_interval=10) is None  # at rest
