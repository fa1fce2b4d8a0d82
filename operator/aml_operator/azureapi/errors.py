"""One table that decides, for every ARM error, whether to retry and what to tell the user.

Modelled on Azure Service Operator's error classifier: a known ARM error code maps to a condition
reason and to retryable-with-backoff or terminal (a human must act); an unknown code falls back on
the HTTP status. The reconcile core never looks at raw codes, only at ``ClassifiedError``.
"""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass
from enum import Enum


class Disposition(Enum):
    RETRY = "retry"
    """Transient: try again after a delay (honouring Retry-After when Azure sends it)."""
    TERMINAL = "terminal"
    """Needs a human (fix the spec, the credentials or the quota): stop and report Stalled."""


@dataclass(frozen=True)
class Rule:
    reason: str
    disposition: Disposition


@dataclass(frozen=True)
class ClassifiedError:
    code: str
    """The ARM error code, or ``HTTP<status>`` when Azure sent none."""
    status: int | None
    reason: str
    """PascalCase condition reason shown to the user."""
    disposition: Disposition
    message: str
    retry_after: float | None = None
    """Seconds Azure asked us to wait, when it said so."""

    @property
    def retryable(self) -> bool:
        return self.disposition is Disposition.RETRY


RETRY, TERMINAL = Disposition.RETRY, Disposition.TERMINAL

ERROR_TABLE: dict[str, Rule] = {
    # Credentials and permissions: retrying cannot help until someone fixes them.
    "InvalidAuthenticationToken": Rule("CredentialsInvalid", TERMINAL),
    "InvalidAuthenticationTokenTenant": Rule("CredentialsInvalid", TERMINAL),
    "ExpiredAuthenticationToken": Rule("CredentialsExpired", RETRY),
    "AuthenticationFailed": Rule("CredentialsInvalid", TERMINAL),
    "AuthorizationFailed": Rule("AuthorizationFailed", TERMINAL),
    "LinkedAuthorizationFailed": Rule("AuthorizationFailed", TERMINAL),
    "SubscriptionNotFound": Rule("SubscriptionNotFound", TERMINAL),
    "InvalidSubscriptionId": Rule("SubscriptionNotFound", TERMINAL),
    "ResourceGroupNotFound": Rule("ResourceGroupNotFound", TERMINAL),
    "WorkspaceNotFound": Rule("WorkspaceNotFound", TERMINAL),
    # What the user asked for cannot be done as written.
    "QuotaExceeded": Rule("QuotaExceeded", TERMINAL),
    "OperationNotAllowed": Rule("QuotaExceeded", TERMINAL),
    "InvalidPropertyValue": Rule("InvalidSpec", TERMINAL),
    "InvalidRequestContent": Rule("InvalidSpec", TERMINAL),
    "BadRequest": Rule("InvalidSpec", TERMINAL),
    "UserError": Rule("InvalidSpec", TERMINAL),
    "ValidationError": Rule("InvalidSpec", TERMINAL),
    "InvalidVmSize": Rule("VmSizeNotAvailable", TERMINAL),
    "VmSizeNotSupported": Rule("VmSizeNotAvailable", TERMINAL),
    "LowPriorityNotSupported": Rule("LowPriorityNotSupported", TERMINAL),
    "ImmutablePropertyChange": Rule("ImmutableFieldChanged", TERMINAL),
    "PropertyChangeNotAllowed": Rule("ImmutableFieldChanged", TERMINAL),
    "InvalidComputeName": Rule("InvalidName", TERMINAL),
    "ComputeNameNotAvailable": Rule("AlreadyExists", TERMINAL),
    "AlreadyExists": Rule("AlreadyExists", TERMINAL),
    "LinkedResourceNotFound": Rule("UnderlyingResourceNotFound", TERMINAL),
    "UnderlyingResourceNotFound": Rule("UnderlyingResourceNotFound", TERMINAL),
    "InvalidResourceReference": Rule("AttachTargetNotFound", TERMINAL),
    "InvalidLocation": Rule("LocationMismatch", TERMINAL),
    "LocationMismatch": Rule("LocationMismatch", TERMINAL),
    "MissingCredentials": Rule("InvalidSpec", TERMINAL),
    "StartComputeInstanceOnlyAllowedInStoppedState": Rule("InvalidState", RETRY),
    # Azure is busy or briefly unwell: come back later.
    "Conflict": Rule("AzureBusy", RETRY),
    "OperationInProgress": Rule("AzureBusy", RETRY),
    "AnotherOperationInProgress": Rule("AzureBusy", RETRY),
    "RetryableErrorDueToAnotherOperation": Rule("AzureBusy", RETRY),
    "TooManyRequests": Rule("Throttled", RETRY),
    "SubscriptionRequestsThrottled": Rule("Throttled", RETRY),
    "InternalServerError": Rule("AzureUnavailable", RETRY),
    "ServiceUnavailable": Rule("AzureUnavailable", RETRY),
    "GatewayTimeout": Rule("AzureUnavailable", RETRY),
    "InternalError": Rule("AzureUnavailable", RETRY),
    "ResourceNotFound": Rule("NotFound", RETRY),
    "NotFound": Rule("NotFound", RETRY),
}

STATUS_FALLBACK: dict[int, Rule] = {
    400: Rule("InvalidSpec", TERMINAL),
    401: Rule("CredentialsInvalid", TERMINAL),
    403: Rule("AuthorizationFailed", TERMINAL),
    404: Rule("NotFound", RETRY),
    408: Rule("AzureUnavailable", RETRY),
    409: Rule("AzureBusy", RETRY),
    429: Rule("Throttled", RETRY),
}

UNKNOWN_SERVER_ERROR = Rule("AzureUnavailable", RETRY)
UNKNOWN_CLIENT_ERROR = Rule("AzureRequestRefused", TERMINAL)
CONNECTION_ERROR = Rule("AzureUnreachable", RETRY)

# Azure ML refuses a compute that does not fit the quota with the generic code BadRequest and the wording
# "... vCPU quota of N and cannot accomodate for at least N requested managed compute nodes ..." (sic). By
# its code that is an invalid spec, fixed only by an edit; it is a quota, which a person raises or other
# computes free.
QUOTA_WORDING = re.compile(r"quota.*cannot accomm?odate", re.IGNORECASE | re.DOTALL)


def classify(
    code: str | None, status: int | None, message: str = "", retry_after: float | None = None
) -> ClassifiedError:
    """Classify an ARM error by its code first, then by its HTTP status."""
    rule = ERROR_TABLE.get(code or "")
    if rule is None:
        if status is None:
            rule = CONNECTION_ERROR
        elif status in STATUS_FALLBACK:
            rule = STATUS_FALLBACK[status]
        else:
            rule = UNKNOWN_SERVER_ERROR if status >= 500 else UNKNOWN_CLIENT_ERROR
    if rule.reason in ("InvalidSpec", "AzureRequestRefused") and QUOTA_WORDING.search(message):
        rule = ERROR_TABLE["QuotaExceeded"]
    return ClassifiedError(
        code=code or (f"HTTP{status}" if status is not None else "ConnectionError"),
        status=status, reason=rule.reason, disposition=rule.disposition,
        message=message or code or "", retry_after=retry_after,
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` is either delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
