"""`/_emulator/*`: the test-facing control surface (no authentication; never part of ARM).

Faults, stats, reset, runtime settings, a clock to jump forward, and direct access to computes and
underlying resources, so tests can change things "behind the operator's back" as a user in the
Azure portal would, and check what Delete or Detach left behind.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError

from .config import FaultRule, LroConfig, ThrottlingConfig, TimingConfig, UnderlyingResource
from .context import json_response
from .state import compute_key

if TYPE_CHECKING:
    from .app import Emulator


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _bad(message: str, status: int = 400) -> web.Response:
    return json_response({"error": {"code": "BadRequest", "message": message}}, status)


async def _json(request: web.Request) -> Any:
    raw = await request.read()
    return json.loads(raw) if raw else {}


def add_routes(app: web.Application, emu: Emulator) -> None:
    routes = web.RouteTableDef()

    @routes.get("/_emulator/health")
    async def health(request: web.Request) -> web.Response:
        return json_response({"status": "ok", "profile": emu.config.profile})

    @routes.get("/_emulator/stats")
    async def stats(request: web.Request) -> web.Response:
        return json_response(emu.stats.report(emu.store.creates))

    @routes.delete("/_emulator/stats")
    async def clear_stats(request: web.Request) -> web.Response:
        emu.stats.reset()
        emu.store.creates.clear()
        return json_response({"cleared": True})

    @routes.post("/_emulator/reset")
    async def reset(request: web.Request) -> web.Response:
        emu.reset()
        return json_response({"reset": True})

    @routes.get("/_emulator/faults")
    async def list_faults(request: web.Request) -> web.Response:
        return json_response({"rules": emu.faults.describe()})

    async def _rules(request: web.Request) -> list[FaultRule]:
        body = await _json(request)
        raw = body.get("rules", [body]) if isinstance(body, dict) else body
        return [FaultRule.model_validate(rule) for rule in raw]

    @routes.post("/_emulator/faults")
    async def add_faults(request: web.Request) -> web.Response:
        try:
            emu.faults.add_rules(await _rules(request))
        except (ValidationError, ValueError, TypeError) as exc:
            return _bad(str(exc))
        return json_response({"rules": emu.faults.describe()})

    @routes.put("/_emulator/faults")
    async def replace_faults(request: web.Request) -> web.Response:
        try:
            emu.faults.set_rules(await _rules(request))
        except (ValidationError, ValueError, TypeError) as exc:
            return _bad(str(exc))
        return json_response({"rules": emu.faults.describe()})

    @routes.delete("/_emulator/faults")
    async def clear_faults(request: web.Request) -> web.Response:
        emu.faults.clear()
        return json_response({"rules": []})

    @routes.get("/_emulator/settings")
    async def get_settings(request: web.Request) -> web.Response:
        return json_response(_settings(emu))

    @routes.patch("/_emulator/settings")
    async def patch_settings(request: web.Request) -> web.Response:
        body = await _json(request)
        config = emu.config
        try:
            if "timing" in body:
                config.timing = TimingConfig.model_validate(merge_patch(config.timing.model_dump(), body["timing"]))
            if "lro" in body:
                config.lro = LroConfig.model_validate(merge_patch(config.lro.model_dump(), body["lro"]))
            if "throttling" in body:
                config.throttling = ThrottlingConfig.model_validate(
                    merge_patch(config.throttling.model_dump(), body["throttling"])
                )
                emu.throttler.config = config.throttling
                emu.throttler.reset()
            if "profile" in body:
                if body["profile"] not in ("spec", "live"):
                    return _bad("profile must be 'spec' or 'live'")
                config.profile = body["profile"]
            if "page_size" in body:
                config.page_size = int(body["page_size"])
        except (ValidationError, ValueError, TypeError) as exc:
            return _bad(str(exc))
        return json_response(_settings(emu))

    @routes.post("/_emulator/clock")
    async def clock(request: web.Request) -> web.Response:
        body = await _json(request)
        seconds = float(body.get("advance_seconds", 0))
        if body.get("set"):
            # {"set": "2026-12-07T08:30:00Z"}: jump to a moment (schedules fire by the wall clock of their zone).
            try:
                target = datetime.fromisoformat(str(body["set"]).replace("Z", "+00:00"))
            except ValueError:
                return _bad("set must be an ISO-8601 timestamp such as 2026-12-07T08:30:00Z")
            if target.tzinfo is None:
                target = target.replace(tzinfo=UTC)
            seconds = target.timestamp() - emu.clock.now()
        if seconds < 0:
            return _bad("the clock only moves forward")
        emu.clock.offset += seconds
        emu.lifecycle.wake(0.0)
        emu.lifecycle.advance()
        emu.store.save()
        return json_response({"offset": emu.clock.offset, "now": emu.clock.now()})

    @routes.get("/_emulator/operations")
    async def operations(request: web.Request) -> web.Response:
        emu.lifecycle.advance()
        return json_response({"operations": [asdict(op) for op in emu.store.operations.values()]})

    @routes.get("/_emulator/computes")
    async def computes(request: web.Request) -> web.Response:
        emu.lifecycle.advance()
        return json_response(
            {
                "computes": [
                    {"key": record.key, "resource": emu.lifecycle.render(record)}
                    for record in emu.store.computes.values()
                ]
            }
        )

    def _compute_record(request: web.Request) -> Any:
        info = request.match_info
        return emu.store.computes.get(compute_key(info["sub"], info["rg"], info["ws"], info["name"]))

    compute_path = "/_emulator/computes/{sub}/{rg}/{ws}/{name}"

    @routes.get(compute_path)
    async def get_compute(request: web.Request) -> web.Response:
        emu.lifecycle.advance()
        record = _compute_record(request)
        if record is None:
            return _bad("no such compute", 404)
        return json_response(
            {"key": record.key, "resource": emu.lifecycle.render(record), "operation": record.operation_id}
        )

    @routes.patch(compute_path)
    async def patch_compute(request: web.Request) -> web.Response:
        """Change a compute as the portal would: a JSON merge patch on the stored ARM resource."""
        emu.lifecycle.advance()
        record = _compute_record(request)
        if record is None:
            return _bad("no such compute", 404)
        body = await _json(request)
        old_scale = dict(record.inner.get("scaleSettings") or {})
        record.resource = merge_patch(record.resource, body)
        if record.compute_type == "AmlCompute" and record.inner.get("scaleSettings") != old_scale:
            emu.lifecycle.rescale(record)
        emu.store.save()
        return json_response({"key": record.key, "resource": emu.lifecycle.render(record)})

    @routes.delete(compute_path)
    async def delete_compute(request: web.Request) -> web.Response:
        """Remove a compute at once; `?underlyingResourceAction=Delete` also removes its underlying resource."""
        record = _compute_record(request)
        if record is None:
            return _bad("no such compute", 404)
        del emu.store.computes[record.key]
        resource_id = record.props.get("resourceId")
        if request.query.get("underlyingResourceAction", "Detach").lower() == "delete" and isinstance(resource_id, str):
            emu.store.resources.pop(resource_id.lower(), None)
        emu.store.save()
        return json_response({"deleted": record.key})

    @routes.get("/_emulator/resources")
    async def resources(request: web.Request) -> web.Response:
        return json_response({"resources": [r.model_dump() for r in emu.store.resources.values()]})

    @routes.post("/_emulator/resources")
    async def add_resource(request: web.Request) -> web.Response:
        try:
            resource = UnderlyingResource.model_validate(await _json(request))
        except (ValidationError, ValueError) as exc:
            return _bad(str(exc))
        emu.store.resources[resource.id.lower()] = resource
        emu.store.save()
        return json_response(resource.model_dump(), 201)

    @routes.delete("/_emulator/resources")
    async def delete_resource(request: web.Request) -> web.Response:
        resource_id = request.query.get("id", "")
        removed = emu.store.resources.pop(resource_id.lower(), None)
        emu.store.save()
        if removed is None:
            return _bad("no such resource", 404)
        return json_response({"deleted": removed.id})

    app.add_routes(routes)


def _settings(emu: Emulator) -> dict[str, Any]:
    config = emu.config
    return {
        "profile": config.profile,
        "page_size": config.page_size,
        "timing": config.timing.model_dump(),
        "lro": config.lro.model_dump(),
        "throttling": config.throttling.model_dump(),
    }
