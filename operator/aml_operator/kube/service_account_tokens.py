"""Short-lived ServiceAccount tokens from the TokenRequest API, kept until shortly before they expire.

The token is bound to the ServiceAccount of the Workspace's own namespace and to one audience
(``api://AzureADTokenExchange``); the API server signs it with its service-account issuer key, which
is what Entra ID checks against the issuer's published keys. Tokens live in memory only and never
appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.exceptions import ApiException

REQUESTED_LIFETIME = 3600
"""Seconds asked for; the API server may shorten it (never below 10 minutes)."""
REFRESH_AT = 0.8
"""A token is replaced once this share of its life has passed, as the kubelet does for projected tokens:
the exchange with Entra ID then always presents a token with minutes to spare."""


class ServiceAccountTokenUnavailable(Exception):
    """The API server would not issue a token; the message names the ServiceAccount and the cause only."""


@dataclass
class _Token:
    value: str = field(repr=False)
    refresh_after: float
    expires_at: float


class ServiceAccountToken:
    """Tokens of one ServiceAccount for one audience."""

    def __init__(self, namespace: str, name: str, audience: str, lifetime: int = REQUESTED_LIFETIME,
                 core: client.CoreV1Api | None = None) -> None:
        self.namespace, self.name, self.audience, self.lifetime = namespace, name, audience, lifetime
        self._core = core or client.CoreV1Api()
        self._token: _Token | None = None
        self._lock = threading.Lock()
        self.requests = 0
        """TokenRequests sent so far (what the cache saves is visible in tests and benchmarks)."""

    def __repr__(self) -> str:
        return f"ServiceAccountToken({self.namespace}/{self.name}, audience={self.audience})"

    async def refresh(self) -> None:
        """Makes sure a fresh token is cached, asking the API server off the event loop when needed."""
        if not self._stale():
            return
        await asyncio.to_thread(self.current)

    def current(self) -> str:
        """The cached token, or a new one when the cached one is near its end."""
        with self._lock:
            if self._token is None or self._stale():
                self._token = self._request()
            return self._token.value

    def _stale(self) -> bool:
        return self._token is None or time.time() >= self._token.refresh_after

    def _request(self) -> _Token:
        body = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[self.audience], expiration_seconds=self.lifetime))
        self.requests += 1
        asked_at = time.time()
        try:
            answer = self._core.create_namespaced_service_account_token(self.name, self.namespace, body)
        except ApiException as exc:
            raise ServiceAccountTokenUnavailable(self._explain(exc)) from None
        status = answer.status
        if status is None or not status.token:
            raise ServiceAccountTokenUnavailable(f"the API server answered a TokenRequest for ServiceAccount "
                                                 f"{self.name!r} in namespace {self.namespace} without a token")
        expires_at = (status.expiration_timestamp.timestamp() if status.expiration_timestamp
                      else asked_at + self.lifetime)
        return _Token(status.token, asked_at + (expires_at - asked_at) * REFRESH_AT, expires_at)

    def _explain(self, exc: ApiException) -> str:
        where = f"ServiceAccount {self.name!r} in namespace {self.namespace}"
        if exc.status == 404:
            return f"{where} does not exist (spec.credentials.workloadIdentity.serviceAccountName)"
        if exc.status == 403:
            return (f"the operator may not request tokens for {where}: its Role there lacks serviceaccounts/token "
                    f"create, or namespace {self.namespace} is not one it watches")
        return f"the API server refused a token for {where}: HTTP {exc.status} {exc.reason or ''}".strip()
