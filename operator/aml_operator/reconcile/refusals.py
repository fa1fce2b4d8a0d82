"""Refusals whose ARM code says less than their text.

Azure ML refuses a compute that does not fit the quota with the generic code ``BadRequest`` and the
wording "... vCPU quota of N and cannot accomodate for at least N requested managed compute nodes ..."
(sic). By its code that is an invalid spec, retried only on an edit; it is a quota, which a person
raises or other computes free, so it is retried with backoff.
"""

from __future__ import annotations

import re

from aml_operator.reconcile.external import AzureError

QUOTA_WORDING = re.compile(r"quota.*cannot accomm?odate", re.IGNORECASE | re.DOTALL)
GENERIC_REASONS = frozenset({"InvalidSpec", "AzureRequestRefused"})


def refined(exc: AzureError) -> AzureError:
    if exc.reason in GENERIC_REASONS and QUOTA_WORDING.search(exc.message or ""):
        return AzureError(exc.code, exc.status, "QuotaExceeded", False, exc.message, exc.retry_after)
    return exc
