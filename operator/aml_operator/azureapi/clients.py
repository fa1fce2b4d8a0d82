"""Async Azure ML management clients, one per (cloud, subscription, credentials), cached.

Every client carries the per-subscription rate limiter as a per-retry policy, so each HTTP attempt
(including the SDK's own retries and LRO polls) takes a token and reports Azure's rate-limit headers.
All clients and their credentials send through one shared connection pool (``SharedHttp``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy
from azure.mgmt.machinelearningservices.aio import MachineLearningServicesMgmtClient

from aml_operator import metrics
from aml_operator.azureapi.catalogue import RegionCatalogue
from aml_operator.azureapi.credentials import build_credential
from aml_operator.azureapi.errors import parse_retry_after
from aml_operator.azureapi.ratelimit import LimiterRegistry, SubscriptionLimiter
from aml_operator.azureapi.transport import SharedHttp
from aml_operator.reconcile.credentials import ServicePrincipal
from aml_operator.settings import CloudEndpoints, Settings

OPERATOR_IDENTITY = "operator-identity"
ARM_SCOPE_SUFFIX = "/.default"


class RateLimitPolicy(AsyncHTTPPolicy):  # type: ignore[type-arg]
    def __init__(self, limiter: SubscriptionLimiter) -> None:
        super().__init__()
        self.limiter = limiter

    async def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        method = request.http_request.method
        waited = await self.limiter.acquire(method)
        mark = self.limiter.granted(method)
        if waited:
            metrics.THROTTLE_WAIT.inc(waited)
        try:
            response: PipelineResponse = await self.next.send(request)  # type: ignore[type-arg]
            http = response.http_response
            metrics.ARM_REQUESTS.labels(metrics.operation_of(request.http_request.url), method,
                                        str(http.status_code)).inc()
            if http.status_code == 429:
                metrics.THROTTLED.inc()
            self.limiter.observe_response(method, http.status_code, http.headers,
                                          parse_retry_after(http.headers.get("Retry-After")), mark)
        finally:
            self.limiter.finished(method)
        return response


SDK_RETRIES = 2
"""Retries azure-core makes of one call (its default is 10, with backoff up to 2 minutes): only the
quick ones, for a dropped connection or a 5xx. Everything longer is the reconcile core's retry model,
which classifies the error and records the schedule in status; two models stacked would multiply."""
SDK_RETRY_BACKOFF_MAX = 4.0
"""Seconds azure-core waits at most between its own retries (a Retry-After longer than this still counts)."""


class ArmClient(MachineLearningServicesMgmtClient):
    """The SDK client of one (cloud, subscription, credentials), with the region catalogue it has read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("retry_total", SDK_RETRIES)
        kwargs.setdefault("retry_backoff_max", SDK_RETRY_BACKOFF_MAX)
        super().__init__(*args, **kwargs)
        self.catalogue = RegionCatalogue()


@dataclass
class _Entry:
    client: ArmClient
    credential: AsyncTokenCredential
    fingerprint: str


class ClientFactory:
    def __init__(self, settings: Settings, limiters: LimiterRegistry | None = None) -> None:
        self.settings = settings
        self.limiters = limiters or LimiterRegistry()
        self._entries: dict[tuple[str, str, str, str], _Entry] = {}
        self.max_clients = 64
        """Least recently used clients beyond this are closed (old credentials after a rotation)."""
        self._lock = asyncio.Lock()
        self.http = SharedHttp(settings.ca_bundle)

    async def client(self, subscription_id: str, principal: ServicePrincipal | None,
                     cloud: str = "AzurePublicCloud") -> ArmClient:
        who = principal.client_id if principal else OPERATOR_IDENTITY
        fingerprint = principal.fingerprint if principal else OPERATOR_IDENTITY
        endpoints = self.settings.endpoints(cloud)
        key = (endpoints.arm_endpoint, subscription_id.lower(), who, fingerprint)
        async with self._lock:
            entry = self._entries.pop(key, None)
            if entry is None:
                entry = self._create(subscription_id, principal, who, fingerprint, endpoints)
            self._entries[key] = entry  # most recently used last
            while len(self._entries) > self.max_clients:
                await self._close(self._entries.pop(next(iter(self._entries))))
            return entry.client

    def _create(self, subscription_id: str, principal: ServicePrincipal | None, who: str,
                fingerprint: str, endpoints: CloudEndpoints) -> _Entry:
        # The CA bundle lives in the shared pool's SSL context: passing it as ``connection_verify``
        # would make azure-core load it again for every request.
        credential = build_credential(principal, endpoints.authority_host, self.http.transport())
        client = ArmClient(
            credential, subscription_id, base_url=endpoints.arm_endpoint,
            credential_scopes=[endpoints.arm_audience.rstrip("/") + ARM_SCOPE_SUFFIX],
            per_retry_policies=[RateLimitPolicy(self.limiters.for_subscription(subscription_id, who))],
            transport=self.http.transport(),
            # The SDK puts this version on every call it builds; the adapter's own requests read it back.
            api_version=self.settings.api_version,
        )
        return _Entry(client, credential, fingerprint)

    async def _close(self, entry: _Entry) -> None:
        await entry.client.close()
        await entry.credential.close()

    async def close(self) -> None:
        async with self._lock:
            for entry in self._entries.values():
                await self._close(entry)
            self._entries.clear()
            await self.http.close()
