"""The error table, row by row: every known ARM code, the HTTP fallbacks, and Retry-After handling."""

from __future__ import annotations

import email.utils

import pytest

from aml_operator.azureapi.errors import (
    ERROR_TABLE,
    Disposition,
    backoff_delay,
    classify,
    parse_retry_after,
)

RETRY, TERMINAL = Disposition.RETRY, Disposition.TERMINAL


@pytest.mark.parametrize(
    ("code", "reason", "disposition"),
    [(code, rule.reason, rule.disposition) for code, rule in sorted(ERROR_TABLE.items())],
)
def test_every_known_code_maps_to_its_row(code: str, reason: str, disposition: Disposition) -> None:
    # Status 418 would fall back to a different rule, so the code alone must decide.
    classified = classify(code, 418, "message from Azure")
    assert (classified.reason, classified.disposition) == (reason, disposition)
    assert classified.code == code and classified.message == "message from Azure"


@pytest.mark.parametrize(
    ("code", "reason", "disposition"),
    [
        ("AuthorizationFailed", "AuthorizationFailed", TERMINAL),
        ("InvalidAuthenticationToken", "CredentialsInvalid", TERMINAL),
        ("QuotaExceeded", "QuotaExceeded", TERMINAL),
        ("InvalidPropertyValue", "InvalidSpec", TERMINAL),
        ("Conflict", "AzureBusy", RETRY),
        ("TooManyRequests", "Throttled", RETRY),
        ("InternalServerError", "AzureUnavailable", RETRY),
    ],
)
def test_the_codes_the_operator_meets_most(code: str, reason: str, disposition: Disposition) -> None:
    classified = classify(code, 400)
    assert (classified.reason, classified.disposition) == (reason, disposition)


@pytest.mark.parametrize(
    ("status", "reason", "disposition"),
    [
        (400, "InvalidSpec", TERMINAL),
        (401, "CredentialsInvalid", TERMINAL),
        (403, "AuthorizationFailed", TERMINAL),
        (404, "NotFound", RETRY),
        (408, "AzureUnavailable", RETRY),
        (409, "AzureBusy", RETRY),
        (429, "Throttled", RETRY),
        (500, "AzureUnavailable", RETRY),
        (503, "AzureUnavailable", RETRY),
        (507, "AzureUnavailable", RETRY),
        (422, "AzureRequestRefused", TERMINAL),
    ],
)
def test_unknown_codes_fall_back_on_the_http_status(status: int, reason: str, disposition: Disposition) -> None:
    classified = classify("SomethingNobodyDocumented", status)
    assert (classified.reason, classified.disposition) == (reason, disposition)
    assert classified.code == "SomethingNobodyDocumented"


def test_missing_code_is_named_after_the_status() -> None:
    assert classify(None, 503).code == "HTTP503"


def test_no_response_at_all_is_a_retryable_connection_error() -> None:
    classified = classify(None, None, "connection reset")
    assert (classified.code, classified.reason, classified.retryable) == ("ConnectionError", "AzureUnreachable", True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("0", 0.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("soon", None),
    ],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_http_date() -> None:
    now = 1_800_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30, abs=1)


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (0, None, 2.0),
        (1, None, 4.0),
        (3, None, 16.0),
        (20, None, 300.0),
        (0, 45.0, 45.0),  # Azure's wish wins over a shorter backoff
        (3, 5.0, 16.0),  # ... but never shortens ours
        (20, 600.0, 600.0),  # ... and may exceed our cap
    ],
)
def test_backoff_honours_retry_after(attempt: int, retry_after: float | None, expected: float) -> None:
    assert backoff_delay(attempt, retry_after) == expected


def test_jitter_spreads_by_at_most_a_quarter() -> None:
    assert backoff_delay(2, None, jitter=0.0) == 8.0
    assert backoff_delay(2, None, jitter=0.999) == pytest.approx(8.0 * 1.24975)
