"""The reconcile core's ``ComputeClient`` over the real ``azure-mgmt-machinelearningservices`` SDK.

Writes never wait for Azure: each one sends the initial request (``polling=False``) and returns the
``Azure-AsyncOperation`` (or ``Location``) URL Azure gave, which the core persists in status and polls
on later passes. Bodies go to the SDK as raw JSON so properties the 2020-08-01 models lack (such as
``clusterPurpose``) reach Azure unchanged.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineResponse
from azure.core.rest import HttpRequest

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

T = TypeVar("T")
ASYNC_HEADERS = ("Azure-AsyncOperation", "Location")


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
    else:
        raise exc
    return AzureError(classified.code, classified.status, classified.reason, classified.retryable,
                      classified.message, classified.retry_after)


def _retry_after_of(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    return parse_retry_after(headers.get("Retry-After"))


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


async def _azure_call(call: Awaitable[T]) -> T:
    try:
        return await call
    except Exception as exc:  # every failure leaves this module classified
        raise to_azure_error(exc) from exc


class _Capture:
    """Keeps the initial response of a write so its async-operation headers can be read."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}

    def __call__(self, response: PipelineResponse) -> None:  # type: ignore[type-arg]
        self.status = response.http_response.status_code
        self.headers = dict(response.http_response.headers)

    def operation(self, name: OperationName) -> Operation:
        lowered = {k.lower(): v for k, v in self.headers.items()}
        url = next((lowered[h.lower()] for h in ASYNC_HEADERS if lowered.get(h.lower())), None)
        return Operation(name=name, status_url=url, retry_after=parse_retry_after(lowered.get("retry-after")))


def _json_body(body: JsonDict) -> io.BytesIO:
    return io.BytesIO(json.dumps(body).encode())


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
        token = CURRENT_PRIORITY.set(priority)
        try:
            yield client
        finally:
            CURRENT_PRIORITY.reset(token)

    async def workspace(self, target: WorkspaceTarget) -> WorkspaceInfo:
        async with self._ops(target, Priority.LIST) as client:
            try:
                ws = await client.workspaces.get(target.resource_group, target.workspace_name)
            except ResourceNotFoundError as exc:
                raise AzureError("WorkspaceNotFound", 404, "WorkspaceNotFound", False,
                                 f"Azure ML workspace {target.workspace_name!r} not found in resource group "
                                 f"{target.resource_group!r} of subscription {target.subscription_id}") from exc
            except Exception as exc:
                raise to_azure_error(exc) from exc
            return WorkspaceInfo(location=str(ws.location or ""), arm_id=str(ws.id or target.arm_id))

    async def get(self, target: WorkspaceTarget, name: str) -> Observation | None:
        async with self._ops(target) as client:
            try:
                raw: Any = await client.machine_learning_compute.get(
                    target.resource_group, target.workspace_name, name,
                    cls=lambda response, _deserialized, _headers: response.http_response.json(),
                )
            except ResourceNotFoundError:
                return None
            except Exception as exc:
                raise to_azure_error(exc) from exc
            return Observation(name=name, resource=dict(raw))

    async def list_keys(self, target: WorkspaceTarget, name: str) -> JsonDict:
        """Implements ``KeysClient``: the raw JSON, so no SDK model decides which secrets survive."""
        async with self._ops(target) as client:
            raw: Any = await _azure_call(client.machine_learning_compute.list_keys(
                target.resource_group, target.workspace_name, name,
                cls=lambda response, _deserialized, _headers: response.http_response.json(),
            ))
        return dict(raw or {})

    async def list(self, target: WorkspaceTarget) -> Sequence[Observation]:
        async with self._ops(target, Priority.LIST) as client:
            found: list[Observation] = []
            try:
                async for compute in client.machine_learning_compute.list_by_workspace(
                        target.resource_group, target.workspace_name):
                    resource = dict(compute.serialize(keep_readonly=True))
                    found.append(Observation(name=str(compute.name), resource=resource))
            except Exception as exc:
                raise to_azure_error(exc) from exc
            return found

    async def put(self, target: WorkspaceTarget, name: str, body: JsonDict) -> Operation:
        capture = _Capture()
        async with self._ops(target) as client:
            try:
                await _azure_call(client.machine_learning_compute.begin_create_or_update(
                    target.resource_group, target.workspace_name, name, _json_body(body),
                    content_type="application/json", polling=False, raw_response_hook=capture,
                ))
            except AzureError as exc:
                if not exc.retryable:
                    # Azure refused what the remembered lists allowed (quota refusals come as a plain
                    # BadRequest): the next check reads them afresh.
                    client.catalogue.forget(str(body.get("location") or ""))
                raise
        return capture.operation("Create" if capture.status == 201 else "Update")

    async def patch_scale(self, target: WorkspaceTarget, name: str, scale_settings: JsonDict) -> Operation:
        capture = _Capture()
        async with self._ops(target) as client:
            await _azure_call(client.machine_learning_compute.begin_update(
                target.resource_group, target.workspace_name, name,
                _json_body({"properties": {"scaleSettings": scale_settings}}),
                content_type="application/json", polling=False, raw_response_hook=capture,
            ))
        return capture.operation("Update")

    async def delete(self, target: WorkspaceTarget, name: str, action: Literal["Delete", "Detach"]) -> Operation:
        capture = _Capture()
        async with self._ops(target, Priority.IN_FLIGHT) as client:
            try:
                await client.machine_learning_compute.begin_delete(
                    target.resource_group, target.workspace_name, name, underlying_resource_action=action,
                    polling=False, raw_response_hook=capture,
                )
            except ResourceNotFoundError:
                return Operation(name=action)  # already gone: nothing to wait for
            except Exception as exc:
                raise to_azure_error(exc) from exc
        return capture.operation(action)

    async def power(self, target: WorkspaceTarget, name: str,
                    action: Literal["Start", "Stop", "Restart"]) -> Operation:
        async with self._ops(target) as client:
            method = {"Start": client.machine_learning_compute.start,
                      "Stop": client.machine_learning_compute.stop,
                      "Restart": client.machine_learning_compute.restart}[action]
            try:
                await method(target.resource_group, target.workspace_name, name)
            except HttpResponseError as exc:
                # SDK 1.0.1 follows the 2020-08-01 spec (200 only); the live service answers 202 with an
                # async operation. Both mean "accepted".
                if exc.status_code == 202 and exc.response is not None:
                    capture = _Capture()
                    capture.status, capture.headers = 202, dict(getattr(exc.response, "headers", {}))
                    return capture.operation(action)
                raise to_azure_error(exc) from exc
            except Exception as exc:
                raise to_azure_error(exc) from exc
        return Operation(name=action)

    async def operation_status(self, target: WorkspaceTarget, url: str) -> OperationStatus:
        async with self._ops(target, Priority.IN_FLIGHT) as client:
            try:
                response = await client._send_request(HttpRequest("GET", url))  # the SDK has no public op
                if response.status_code == 404:
                    # Azure forgets finished operations after a while; the resource's state decides then.
                    return OperationStatus("Succeeded")
                response.raise_for_status()
                if response.status_code == 202:  # a Location URL still running
                    return OperationStatus("InProgress", retry_after=parse_retry_after(
                        response.headers.get("Retry-After")))
                body: Any = response.json() if response.content else {}
            except Exception as exc:
                raise to_azure_error(exc) from exc
        status = str((body or {}).get("status") or "Succeeded")
        normalized = {"succeeded": "Succeeded", "failed": "Failed", "canceled": "Canceled"}.get(
            status.lower(), "InProgress")
        error = None
        if normalized in ("Failed", "Canceled"):
            err = (body or {}).get("error") or {}
            error = AzureErrorInfo(str(err.get("code") or normalized), str(err.get("message") or ""))
        return OperationStatus(normalized, error, parse_retry_after(response.headers.get("Retry-After")))  # type: ignore[arg-type]

    async def vm_sizes(self, target: WorkspaceTarget, location: str) -> Sequence[VmSize]:
        """The region's AmlCompute sizes, from the client's catalogue (read at most once an hour)."""
        async with self._ops(target, Priority.LIST) as client:
            async def fetch() -> Sequence[VmSize]:
                body = await _get_json(client, f"{_provider_path(target)}/locations/{location}/vmSizes")
                # 2020-08-01 lists them under ``amlCompute``, later versions under ``value``.
                return [_vm_size(entry) for entry in body.get("value") or body.get("amlCompute") or []]
            return await client.catalogue.vm_sizes.get(location.lower(), fetch)

    async def usages(self, target: WorkspaceTarget, location: str) -> Sequence[Usage]:
        """The region's core usages and limits, from the client's catalogue (read at most once a minute)."""
        async with self._ops(target, Priority.LIST) as client:
            async def fetch() -> Sequence[Usage]:
                found: list[Usage] = []
                url: str | None = f"{_provider_path(target)}/locations/{location}/usages"
                while url:
                    body = await _get_json(client, url)
                    found.extend(_usage(entry) for entry in body.get("value") or [])
                    url = body.get("nextLink") or None
                return found
            return await client.catalogue.usages.get(location.lower(), fetch)


def _provider_path(target: WorkspaceTarget) -> str:
    return f"/subscriptions/{target.subscription_id}/providers/Microsoft.MachineLearningServices"


async def _get_json(client: ArmClient, url: str) -> JsonDict:
    """GET ``url`` (relative to the client's endpoint, or a nextLink) as wire JSON, with no SDK models.

    Deserialising a region's hundreds of VM sizes into SDK models costs more CPU than everything
    else a create does; the core needs five fields of each.
    """
    if "api-version=" not in url:
        url += f"{'&' if '?' in url else '?'}api-version={client._config.api_version}"
    try:
        response = await client._send_request(HttpRequest("GET", url))  # the SDK has no raw list op
        response.raise_for_status()
        body: Any = response.json() if response.content else {}
    except Exception as exc:
        raise to_azure_error(exc) from exc
    return body if isinstance(body, dict) else {}


def _vm_size(entry: JsonDict) -> VmSize:
    return VmSize(name=str(entry.get("name") or ""), family=str(entry.get("family") or ""),
                  vcpus=int(entry.get("vCPUs") or 0), low_priority_capable=bool(entry.get("lowPriorityCapable")),
                  supported_compute_types=tuple(entry.get("supportedComputeTypes") or ()))


def _usage(entry: JsonDict) -> Usage:
    name = entry.get("name") or {}
    return Usage(type=str(entry.get("type") or ""),
                 name=str(name.get("value") or "") if isinstance(name, dict) else str(name),
                 current=int(entry.get("currentValue") or 0), limit=int(entry.get("limit") or 0))
