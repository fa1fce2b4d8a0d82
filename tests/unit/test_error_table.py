"""The error table, row by row: every known ARM code, the HTTP fallbacks, and Retry-After handling."""

from __future__ import annotations

import email.utils

import pytest

from aml_operator.azureapi.errors import (
    ERROR_TABLE,
    Disposition,
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
    ("code", "status", "message", "reason"),
    [
        ("BadRequest", 400, "The specified subscription has a Standard DSv2 family vCPU quota of 24 and "
         "cannot accomodate for at least 2 requested managed compute nodes which maps to 8 vCPUs.", "QuotaExceeded"),
        (None, 400, "quota of 0 and cannot accommodate 1 node", "QuotaExceeded"),
        ("BadRequest", 400, "Compute name is invalid", "InvalidSpec"),
        ("AuthorizationFailed", 403, "no quota cannot accommodate", "AuthorizationFailed"),
    ],
)
def test_a_quota_refusal_is_a_quota_whatever_its_code(code: str | None, status: int, message: str,
                                                      reason: str) -> None:
    found = classify(code, status, message)
    assert (found.reason, found.retryable) == (reason, False)
