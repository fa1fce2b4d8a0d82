"""Asynchronous operations as ARM exposes them: the `Azure-AsyncOperation` status resource and `Location`.

Status URLs name the workspace's region, as the live service's do
(`.../locations/{region}/computeOperationsStatus/{id}`).
"""

from __future__ import annotations

from aiohttp import web

from .api_versions import DEFAULT_API_VERSION
from .context import Ctx, empty_response, json_response
from .errors import ArmError
from .state import Operation

PROVIDER = "Microsoft.MachineLearningServices"


def _operation_url(ctx: Ctx, op: Operation, leaf: str) -> str:
    return (
        f"{ctx.base}/subscriptions/{op.subscription_id}/providers/{PROVIDER}/locations/{op.location}"
        f"/{leaf}/{op.id}?api-version={ctx.api_version or DEFAULT_API_VERSION}&service=new"
    )


def status_url(ctx: Ctx, op: Operation) -> str:
    return _operation_url(ctx, op, "computeOperationsStatus")


def result_url(ctx: Ctx, op: Operation) -> str:
    return _operation_url(ctx, op, "computeOperationsResult")


def lro_headers(ctx: Ctx, op: Operation, *, location: bool = False) -> dict[str, str]:
    """The status URL (the service's api-version echoed, as it does), and Retry-After only when the
    faster-than-Azure polling setting asks for it: the live service sends none."""
    headers = {"Azure-AsyncOperation": status_url(ctx, op)}
    if location:
        headers["Location"] = result_url(ctx, op)
    retry_after = ctx.emu.config.lro.retry_after_seconds
    if retry_after > 0:
        headers["Retry-After"] = str(retry_after)
    return headers


def _find(ctx: Ctx) -> Operation:
    op = ctx.emu.lifecycle.operation(ctx.params["operation"])
    if op is None or op.subscription_id.lower() != ctx.params["sub"].lower():
        raise ArmError(404, "NotFound", f"The operation '{ctx.params['operation']}' was not found.")
    return op


async def operation_status(ctx: Ctx) -> web.Response:
    op = _find(ctx)
    body: dict[str, object] = {"status": op.status}
    if op.status == "Succeeded":
        body["percentComplete"] = 100.0
    elif op.status == "Failed" and op.error:
        body["error"] = {**op.error, "details": op.error.get("details", [])}
    headers = {}
    retry_after = ctx.emu.config.lro.retry_after_seconds
    if op.status == "InProgress" and retry_after > 0:
        headers["Retry-After"] = str(retry_after)
    return json_response(body, 200, headers)


async def operation_result(ctx: Ctx) -> web.Response:
    """The `Location` resource: 202 while running, 200 when done, the ARM error when failed."""
    op = _find(ctx)
    if op.status == "InProgress":
        return empty_response(202, lro_headers(ctx, op, location=True) | {"Location": result_url(ctx, op)})
    if op.status == "Failed" and op.error:
        error = ArmError(400, str(op.error.get("code", "BadRequest")), str(op.error.get("message", "")))
        return json_response(error.body(), 400)
    return empty_response(200)
