"""The one retry model: which class a failure falls in, and when its step runs again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aml_operator.reconcile.retry import backoff_seconds, due, retry_class, schedule

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
