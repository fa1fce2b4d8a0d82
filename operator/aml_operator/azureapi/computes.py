"""The reconcile core's ``ComputeClient`` over the SDK client's ARM pipeline, at the configured api-version.

The SDK client (``azure-mgmt-machinelearningservices`` 1.0.1) carries credentials, retries and the rate-limit
policy; its models stop at api-version 2020-08-01, so every request here is built by the adapter and its
JSON read through our own typed models (``wire``), the same way for GET, list and a write's answer.

Writes never wait for Azure: each one sends the initial request and returns the ``Azure-AsyncOperation``
(or ``Location``) URL Azure gave, which the core persists in status and polls on later passes. Azure answers
a write with 200, 201 or 202 depending on the api-version and the operation (PATCH and start/stop became
long-running after 2020-08-01): all three mean "accepted".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import quote

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    StreamConsumedError,
)
from azure.core.rest import AsyncHttpResponse, HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat
from pydantic import ValidationError

from aml_operator.azureapi import wire
from aml_operator.azureapi.clients import ArmClient
from aml_operator.azureapi.errors import classify, parse_retry_after
from aml_operator.azureapi.ratelimit import CURRENT_PRIORITY, Priority
from aml_operator.reconcile.external import (
    AzureError,
    AzureErrorInfo,
    JsonDict,
    Observation,
    Operation,
    OperationName,
    OperationStatus,
    Usage,
    VmSize,
    WorkspaceInfo,
    WorkspaceTarget,
)

ASYNC_HEADERS = ("Azure-AsyncOperation", "Location")
ACCEPTED = (200, 201, 202, 204)


def to_azure_error(exc: Exception) -> AzureError:
    """Turn any SDK or transport failure into the core's classified ``AzureError``."""
    if isinstance(exc, AzureError):
        return exc
    if isinstance(exc, ClientAuthenticationError) and exc.response is None:
        # The token request itself failed (wrong secret, unknown client or tenant).
        classified = classify("InvalidAuthenticationToken", 401, _first_line(exc.message))
    elif isinstance(exc, HttpResponseError):
        code = exc.error.code if exc.error is not None else None
        message = exc.error.message if exc.error is not None and exc.error.message else _first_line(exc.message)
        retry_after = _retry_after_of(exc.response)
        classified = classify(code, exc.status_code, message, retry_after)
    elif isinstance(exc, ServiceRequestError | ServiceResponseError | OSError | TimeoutError):
        classified = classify(None, None, _first_line(str(exc)) or type(exc).__name__)
    elif isinstance(exc, ValidationError):
        # Azure answered, but not in the shape of the api-version asked for: retried like a server error.
        classified = classify(None, 502, f"unreadable answer from Azure: {_first_line(str(exc))}")
    else:
        raise exc
    return AzureError(classified.code, classified.status, classified.reason, classified.retryable,
                      classified.message, classified.retry_after)


def _retry_after_of(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    return parse_retry_after(headers.get("Retry-After"))


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _operation(name: OperationName, response: AsyncHttpResponse, tags: dict[str, str] | None = None) -> Operation:
    lowered = {k.lower(): v for k, v in response.headers.items()}
    url = next((lowered[h.lower()] for h in ASYNC_HEADERS if lowered.get(h.lower())), None)
    return Operation(name=name, status_url=url, retry_after=parse_retry_after(lowered.get("retry-after")),
                     tags=tags)


def _json_of(response: AsyncHttpResponse) -> Any:
    """The answer's JSON; {} for an empty answer (a 202 to a PATCH, start or delete carries none)."""
    try:
        return response.json() if response.content else {}
    except (ValueError, StreamConsumedError):
        return {}


async def _send(client: ArmClient, method: str, url: str, body: JsonDict | None = None,
                params: dict[str, str] | None = None) -> AsyncHttpResponse:
    """One request through the SDK client's pipeline (credentials, retries, rate limit); raises on refusal."""
    query = {"api-version": client._config.api_version, **(params or {})}
    if "api-version=" in url:  # a nextLink or an operation URL already names its version
        query = params or {}
    request = HttpRequest(method, url, params=query, json=body) if body is not None else \
        HttpRequest(method, url, params=query)
    try:
        response = await client._send_request(request)  # the SDK's models are not involved
    except Exception as exc:
        raise to_azure_error(exc) from exc
    # ``_send_request`` without ``stream`` has read the body already: reading again fails on an empty one.
    if response.status_code not in ACCEPTED:
        error_type = ResourceNotFoundError if response.status_code == 404 else HttpResponseError
        raise to_azure_error(error_type(response=response, error_format=ARMErrorFormat))
    return response


def _read(parse: Callable[[Any], Any], raw: Any) -> Any:
    try:
        return parse(raw)
    except ValidationError as exc:
        raise to_azure_error(exc) from exc


class SdkComputeClient:
    """Implements ``ComputeClient`` and ``KeysClient`` of ``aml_operator.reconcile.external``."""

    def __init__(self, client_for: Callable[[str], Awaitable[ArmClient]]) -> None:
        self._client_for = client_for

    @asynccontextmanager
    async def _ops(self, target: WorkspaceTarget, priority: Priority = Priority.OBJECT) -> AsyncIterator[ArmClient]:
        try:
            client = await self._client_for(target.subscription_id)
        except Exception as exc:
            raise to_azure_error(exc) from exc
        # A pass the runtime marked as finishing work (an operation in flight, a deletion) keeps that rank
        # for every call it makes; otherwise the call's own kind decides.
        in_flight = CURRENT_PRIORITY.get() == Priority.IN_FLIGHT
        token = CURRENT_PRIORITY.set(Priority.IN_FLIGHT if in_flight else priority)
        try:
            yield client
        finally:
            CURRENT_PRIORITY.reset(token)

    @staticmethod
    def _compute_url(target: WorkspaceTarget, name: str) -> str:
        return target.compute_id(quote(name, safe=""))

    async def workspace(self, target: WorkspaceTarget) -> WorkspaceInfo:
        async with self._ops(target, Priority.LIST) as client:
            try:
                response = await _send(client, "GET", target.arm_id)
            except AzureError as exc:
                if exc.status != 404:
                    raise
                raise AzureError("WorkspaceNotFound", 404, "WorkspaceNotFound", False,
                                 f"Azure ML workspace {target.workspace_name!r} not found in resource group "
                                 f"{target.resource_group!r} of subscription {target.subscription_id}") from exc
            ws = _read(wire.Workspace.model_validate, _json_of(response))
            return WorkspaceInfo(location=str(ws.location or ""), arm_id=str(ws.id or target.arm_id))

    async def get(self, target: WorkspaceTarget, name: str) -> Observation | None:
        async with self._ops(target) as client:
            try:
                response = await _send(client, "GET", self._compute_url(target, name))
            except AzureError as exc:
                if exc.status == 404:
                    return None
                raise
            return Observation(name=name, resource=_read(wire.parse_compute, _json_of(response)))

    async def list_keys(self, target: WorkspaceTarget, name: str) -> JsonDict:
        """Implements ``KeysClient``: the raw JSON, so no model decides which secrets survive."""
        async with self._ops(target) as client:
            response = await _send(client, "POST", f"{self._compute_url(target, name)}/listKeys")
        raw = _json_of(response)
        return dict(raw) if isinstance(raw, dict) else {}

    async def list(self, target: WorkspaceTarget) -> Sequence[Observation]:
        async with self._ops(target, Priority.LIST) as client:
            found: list[Observation] = []
            url: str | None = f"{target.arm_id}/computes"
            while url:
                page = _read(wire.ComputeList.model_validate, _json_of(await _send(client, "GET", url)))
                for item in page.value:
                    resource = _read(wire.parse_compute, item)
                    found.append(Observation(name=str(resource.get("name") or ""), resource=resource))
                url = page.nextLink
            return found

    async def put(self, target: WorkspaceTarget, name: str, body: JsonDict) -> Operation:
        async with self._ops(target) as client:
            try:
                response = await _send(client, "PUT", self._compute_url(target, name), body)
            except AzureError as exc:
                if not exc.retryable:
                    # Azure refused what the remembered lists allowed (quota refusals come as a plain
                    # BadRequest): the next check reads them afresh.
                    client.catalogue.forget(str(body.get("location") or ""))
                raise
        answer = _json_of(response)
        tags = None
        if isinstance(answer, dict) and answer:
            tags = dict(_read(wire.parse_compute, answer).get("tags") or {})
        return _operation("Create" if response.status_code == 201 else "Update", response, tags)

    async def patch_scale(self, target: WorkspaceTarget, name: str, scale_settings: JsonDict) -> Operation:
        # Up to 2020-08-01 the PATCH body named scaleSettings under ``properties``; later versions nest it one
        # level deeper, beside the compute type, and answer 202 with an operation instead of 200.
        async with self._ops(target) as client:
            nested = client._config.api_version > "2020-08-01"
            body = ({"properties": {"properties": {"scaleSettings": scale_settings}}} if nested
                    else {"properties": {"scaleSettings": scale_settings}})
            response = await _send(client, "PATCH", self._compute_url(target, name), body)
        return _operation("Update", response)

    async def delete(self, target: WorkspaceTarget, name: str, action: Literal["Delete", "Detach"]) -> Operation:
        async with self._ops(target, Priority.IN_FLIGHT) as client:
            try:
                response = await _send(client, "DELETE", self._compute_url(target, name),
                                       params={"underlyingResourceAction": action})
            except AzureError as exc:
                if exc.status == 404:
                    return Operation(name=action)  # already gone: nothing to wait for
                raise
        return _operation(action, response)

    async def power(self, target: WorkspaceTarget, name: str,
                    action: Literal["Start", "Stop", "Restart"]) -> Operation:
        async with self._ops(target) as client:
            response = await _send(client, "POST", f"{self._compute_url(target, name)}/{action.lower()}")
        return _operation(action, response)

    async def act(self, target: WorkspaceTarget, name: str, action: str, body: JsonDict) -> Operation:
        async with self._ops(target) as client:
            response = await _send(client, "POST", f"{self._compute_url(target, name)}/{action}", body)
        return _operation("Update", response)

    async def operation_status(self, target: WorkspaceTarget, url: str) -> OperationStatus:
        async with self._ops(target, Priority.IN_FLIGHT) as client:
            try:
                response = await client._send_request(HttpRequest("GET", url))
                if response.status_code == 404:
                    # Azure forgets finished operations after a while; the resource's state decides then.
                    return OperationStatus("Succeeded")
                response.raise_for_status()
                if response.status_code == 202:  # a Location URL still running
                    return OperationStatus("InProgress", retry_after=parse_retry_after(
                        response.headers.get("Retry-After")))
                body = wire.AsyncOperation.model_validate(_json_of(response) or {})
            except Exception as exc:
                raise to_azure_error(exc) from exc
        status = str(body.status or "Succeeded")
        normalized = {"succeeded": "Succeeded", "failed": "Failed", "canceled": "Canceled"}.get(
            status.lower(), "InProgress")
        error = None
        if normalized in ("Failed", "Canceled"):
            err = body.error or wire.AsyncOperationError()
            error = AzureErrorInfo(str(err.code or normalized), str(err.message or ""))
        return OperationStatus(normalized, error, parse_retry_after(response.headers.get("Retry-After")))  # type: ignore[arg-type]

    async def vm_sizes(self, target: WorkspaceTarget, location: str) -> Sequence[VmSize]:
        """The region's AmlCompute sizes, from the client's catalogue (read at most once an hour)."""
        async with self._ops(target, Priority.LIST) as client:
            async def fetch() -> Sequence[VmSize]:
                url = f"{_provider_path(target)}/locations/{location}/vmSizes"
                listed = _read(wire.VmSizeList.model_validate, _json_of(await _send(client, "GET", url)))
                return [_vm_size(entry) for entry in listed.value or listed.amlCompute or []]
            return await client.catalogue.vm_sizes.get(location.lower(), fetch)

    async def usages(self, target: WorkspaceTarget, location: str) -> Sequence[Usage]:
        """The region's core usages and limits, from the client's catalogue (read at most once a minute)."""
        async with self._ops(target, Priority.LIST) as client:
            async def fetch() -> Sequence[Usage]:
                found: list[Usage] = []
                url: str | None = f"{_provider_path(target)}/locations/{location}/usages"
                while url:
                    page = _read(wire.UsageList.model_validate, _json_of(await _send(client, "GET", url)))
                    found.extend(_usage(entry) for entry in page.value)
                    url = page.nextLink
                return found
            return await client.catalogue.usages.get(location.lower(), fetch)


def _provider_path(target: WorkspaceTarget) -> str:
    return f"/subscriptions/{target.subscription_id}/providers/Microsoft.MachineLearningServices"


def _vm_size(entry: wire.VmSize) -> VmSize:
    return VmSize(name=entry.name, family=entry.family, vcpus=entry.vCPUs,
                  low_priority_capable=bool(entry.lowPriorityCapable),
                  supported_compute_types=tuple(entry.supportedComputeTypes or ()))


def _usage(entry: wire.Usage) -> Usage:
    name = entry.name
    return Usage(type=entry.type, name=str(name.value or "") if isinstance(name, wire.UsageName) else str(name or ""),
                 current=entry.currentValue, limit=entry.limit)
