"""The emulator object and its aiohttp application: routing, the ARM front door, identity routes.

ARM paths are matched case-insensitively (ARM does, and the SDK spells `Quotas` with a capital Q),
so routing is a table of regular expressions instead of aiohttp's case-sensitive router.
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from . import api_versions, cloud, computes, control, locations, lro
from .catalog import Catalogue
from .config import EmulatorConfig, FaultRule
from .context import Ctx, error_response, json_response
from .errors import ArmError, TokenError
from .faults import Faults
from .identity import Identity, key_from_pem, key_to_pem, process_signing_key
from .lifecycle import Lifecycle
from .state import Clock, Store
from .stats import Stats
from .throttling import Throttler

log = logging.getLogger("aml_emulator")
Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]
_ML = r"providers/Microsoft\.MachineLearningServices"
_WS = rf"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/{_ML}/workspaces/(?P<ws>[^/]+)"
_LOC = rf"/subscriptions/(?P<sub>[^/]+)/{_ML}/locations/(?P<loc>[^/]+)"
_COMPUTE = rf"{_WS}/computes/(?P<compute>[^/]+)"
_ACTION_PREFIX = "Microsoft.MachineLearningServices"
# The v1 SDK reaches computes through the workspace's data-plane host as `{api}/rp/workspaces/subscriptions/...`,
# and joins a metadata URL ending in `/` with a path starting with one (`//subscriptions/...`); Azure serves both.
_RP_PREFIX = re.compile(r"^/rp/workspaces(?=/subscriptions/)", re.IGNORECASE)
_SLASHES = re.compile(r"/{2,}")


def normalise_path(path: str) -> str:
    return _RP_PREFIX.sub("", _SLASHES.sub("/", path))


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    pattern: re.Pattern[str]
    name: str
    handler: Handler
    action: str  # the RBAC action ARM checks
    verb: str  # read | write | delete | action
    api_versions: tuple[str, ...]
    resource_type: str


def _route(
    methods: str,
    pattern: str,
    name: str,
    handler: Handler,
    action: str,
    verb: str,
    *,
    api: tuple[str, ...] = api_versions.ML_API_VERSIONS,
    resource_type: str = f"{_ACTION_PREFIX}/workspaces",
) -> Route:
    return Route(
        tuple(methods.split(",")),
        re.compile(f"^{pattern}/?$", re.IGNORECASE),
        name,
        handler,
        action,
        verb,
        api,
        resource_type,
    )


ARM_ROUTES: tuple[Route, ...] = (
    _route(
        "GET",
        "/subscriptions",
        "subscriptions.list",
        cloud.list_subscriptions,
        "Microsoft.Resources/subscriptions/read",
        "read",
        api=api_versions.RESOURCES_API_VERSIONS,
        resource_type="subscriptions",
    ),
    _route(
        "GET",
        "/subscriptions/(?P<sub>[^/]+)",
        "subscriptions.get",
        cloud.get_subscription,
        "Microsoft.Resources/subscriptions/read",
        "read",
        api=api_versions.RESOURCES_API_VERSIONS,
        resource_type="subscriptions",
    ),
    _route(
        "POST",
        f"{_WS}/checkComputeNameAvailability",
        "computes.checkNameAvailability",
        computes.check_name_availability,
        "workspaces/computes/read",
        "read",
    ),
    _route("GET", _WS, "workspaces.get", locations.get_workspace, "workspaces/read", "read"),
    _route("GET", f"{_WS}/computes", "computes.list", computes.list_computes, "workspaces/computes/read", "read"),
    _route("GET", _COMPUTE, "computes.get", computes.get_compute, "workspaces/computes/read", "read"),
    _route("PUT", _COMPUTE, "computes.createOrUpdate", computes.create_or_update, "workspaces/computes/write", "write"),
    _route("PATCH", _COMPUTE, "computes.update", computes.update, "workspaces/computes/write", "write"),
    _route("DELETE", _COMPUTE, "computes.delete", computes.delete, "workspaces/computes/delete", "delete"),
    _route(
        "POST,GET",
        f"{_COMPUTE}/listNodes",
        "computes.listNodes",
        computes.list_nodes,
        "workspaces/computes/listNodes/action",
        "action",
    ),
    _route(
        "POST",
        f"{_COMPUTE}/listKeys",
        "computes.listKeys",
        computes.list_keys,
        "workspaces/computes/listKeys/action",
        "action",
    ),
    _route(
        "POST",
        f"{_COMPUTE}/(?P<action>start|stop|restart)",
        "computes.{action}",
        computes.instance_action,
        "workspaces/computes/{action}/action",
        "action",
    ),
    _route(
        "POST",
        f"{_COMPUTE}/updateIdleShutdownSetting",
        "computes.updateIdleShutdownSetting",
        computes.update_idle_shutdown,
        "workspaces/computes/updateIdleShutdownSetting/action",
        "action",
    ),
    _route("GET", f"{_LOC}/vmSizes", "vmSizes.list", locations.list_vm_sizes, "locations/vmsizes/read", "read"),
    _route("GET", f"{_LOC}/usages", "usages.list", locations.list_usages, "locations/usages/read", "read"),
    _route("GET", f"{_LOC}/quotas", "quotas.list", locations.list_quotas, "locations/quotas/read", "read"),
    _route(
        "POST",
        f"{_LOC}/updateQuotas",
        "quotas.update",
        locations.update_quotas,
        "locations/updateQuotas/action",
        "action",
    ),
    _route(
        "GET",
        f"{_LOC}/computeOperationsStatus/(?P<operation>[^/]+)",
        "operations.status",
        lro.operation_status,
        "locations/computeoperationsstatus/read",
        "read",
    ),
    _route(
        "GET",
        f"{_LOC}/computeOperationsResult/(?P<operation>[^/]+)",
        "operations.result",
        lro.operation_result,
        "locations/computeoperationsstatus/read",
        "read",
    ),
)


class DropConnection(Exception):
    """Raised to lose a request (or its answer) as a broken network would."""


class Emulator:
    """Everything one emulator instance holds; `build_app()` serves it."""

    def __init__(self, config: EmulatorConfig, state_path: Path | None = None) -> None:
        self.config = config
        self.clock = Clock()
        self.store = Store(config, state_path, self.clock)
        loaded = self.store.load()
        if self.store.signing_key_pem:
            key = key_from_pem(self.store.signing_key_pem)
        else:
            key = process_signing_key()
            if state_path is not None:
                self.store.signing_key_pem = key_to_pem(key)
        self.identity = Identity(config, key)
        self.catalogue = Catalogue(config)
        self.lifecycle = Lifecycle(self.store, self.catalogue)
        self.throttler = Throttler(config.throttling)
        self.faults = Faults(seed=config.seed)
        self.faults.set_rules(list(config.faults))
        self.stats = Stats()
        if state_path is not None and not loaded:
            self.store.save()

    def reset(self) -> None:
        self.store.reset()
        self.stats.reset()
        self.throttler.reset()
        self.faults.set_rules(list(self.config.faults))
        self.clock.offset = 0.0
        self.lifecycle.wake(0.0)
        self.store.save()

    def set_faults(self, rules: list[FaultRule]) -> None:
        self.faults.set_rules(rules)

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        control.add_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    # -- the front door ----------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        base = f"{request.scheme}://{request.host}"
        identity_response = await self._identity_route(request, base, request_id)
        if identity_response is not None:
            return identity_response
        route, params = self._match(request)
        route_name = route.name.format(action=params.get("action", "").lower()) if route else "unknown"
        ctx = Ctx(emu=self, request=request, route=route_name, params=params, base=base, request_id=request_id)
        try:
            response = await self._serve_arm(ctx, route)
        except DropConnection:
            self.stats.record(request.method, route_name, 0)
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError from None
        response.headers["x-ms-request-id"] = request_id
        response.headers["x-ms-correlation-request-id"] = request.headers.get("x-ms-client-request-id", request_id)
        response.headers["x-ms-routing-request-id"] = f"EMULATOR:{request_id}"
        response.headers.setdefault("Cache-Control", "no-cache")
        response.headers.setdefault("Pragma", "no-cache")
        response.headers.setdefault("Expires", "-1")
        for name, value in ctx.headers.items():
            response.headers.setdefault(name, value)
        self.stats.record(request.method, route_name, response.status)
        return response

    def _match(self, request: web.Request) -> tuple[Route | None, dict[str, str]]:
        path = normalise_path(request.path)
        method_mismatch = False
        for route in ARM_ROUTES:
            found = route.pattern.match(path)
            if found is None:
                continue
            if request.method not in route.methods:
                method_mismatch = True
                continue
            return route, {k: v for k, v in found.groupdict().items() if v is not None}
        return None, {"_method_mismatch": "1"} if method_mismatch else {}

    async def _serve_arm(self, ctx: Ctx, route: Route | None) -> web.StreamResponse:
        request = ctx.request
        drop_after = False
        try:
            fault = self.faults.for_request(ctx.route, request.method, ctx.compute_name) if route else None
            if fault is not None:
                self.stats.faults += 1
                if fault.kind == "slow":
                    await asyncio.sleep(fault.delay_seconds)
                elif fault.kind == "drop":
                    if fault.when == "before":
                        raise DropConnection
                    drop_after = True
                else:
                    raise self._fault_error(fault)
            if route is None:
                raise self._no_route(ctx)
            self._front_door(ctx, route)
            response = await route.handler(ctx)
        except ArmError as error:
            if error.status == 429:
                self.stats.throttled += 1
            response = error_response(error)
        if drop_after:
            raise DropConnection
        return response

    def _front_door(self, ctx: Ctx, route: Route) -> None:
        """What ARM checks before the resource provider sees a request: token, subscription, version, RBAC, rate."""
        params, request = ctx.params, ctx.request
        caller = self.identity.verify(request.headers.get("Authorization"), ctx.base)
        ctx.caller = caller
        if "sub" in params:
            subscription = self.config.subscription(params["sub"])
            if subscription is None:
                raise ArmError(404, "SubscriptionNotFound", f"The subscription '{params['sub']}' could not be found.")
            self.identity.check_tenant(caller, subscription.tenant_id, ctx.base)
        ctx.api_version = api_versions.check(ctx.query("api-version"), route.api_versions, route.resource_type)
        self.stats.api_versions[ctx.api_version] += 1
        if "sub" in params:
            action = route.action.format(action=params.get("action", "").lower())
            if not action.startswith("Microsoft."):
                action = f"{_ACTION_PREFIX}/{action}"
            self.identity.authorize(caller, self._scope(params), action, route.verb)
        decision = self.throttler.take(params.get("sub", ""), caller.object_id, request.method)
        ctx.headers.update(decision.headers)
        if not decision.allowed:
            op_type = "read" if request.method == "GET" else "write" if request.method != "DELETE" else "delete"
            raise ArmError(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{op_type}' requests for subscription '{params.get('sub', '')}' actor '{caller.object_id}' "
                f"exceeded. Please try again after '{decision.retry_after}' seconds after additional tokens are "
                "available. Refer to https://aka.ms/arm-throttling",
                headers={"Retry-After": str(decision.retry_after), **decision.headers},
            )
        self.lifecycle.advance()
        if "ws" in params:
            if not self.store.resource_group_exists(params["sub"], params["rg"]):
                raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{params['rg']}' could not be found.")
            ctx.workspace = self.store.workspace(params["sub"], params["rg"], params["ws"])
            if ctx.workspace is None:
                raise computes.error_for_missing(ctx)

    @staticmethod
    def _scope(params: dict[str, str]) -> str:
        scope = f"/subscriptions/{params['sub']}"
        if "rg" in params:
            scope += (
                f"/resourceGroups/{params['rg']}/providers/Microsoft.MachineLearningServices/workspaces/{params['ws']}"
            )
            if "compute" in params:
                scope += f"/computes/{params['compute']}"
        return scope

    @staticmethod
    def _no_route(ctx: Ctx) -> ArmError:
        if ctx.params.get("_method_mismatch"):
            return ArmError(
                405,
                "MethodNotAllowed",
                f"The requested resource does not support http method '{ctx.request.method}'.",
            )
        path = normalise_path(ctx.request.path)
        if not path.lower().startswith("/subscriptions/"):
            return ArmError(404, "NotFound", f"The requested path '{path}' does not exist on this server.")
        return ArmError(
            404,
            "InvalidResourceType",
            f"The resource type could not be found for path '{path}' in the namespace "
            f"'Microsoft.MachineLearningServices' for api version '{ctx.query('api-version') or ''}'.",
        )

    @staticmethod
    def _fault_error(fault: FaultRule) -> ArmError:
        if fault.kind == "429":
            return ArmError(
                429,
                "TooManyRequests",
                "The request was throttled (injected fault). Retry after the interval in Retry-After.",
                headers={"Retry-After": str(fault.retry_after_seconds)},
            )
        if fault.kind == "503":
            return ArmError(
                503, "ServiceUnavailable", "The service is temporarily unavailable (injected fault). Please retry."
            )
        return ArmError(
            500,
            "InternalServerError",
            "Encountered internal server error (injected fault). Diagnostic information: please retry.",
        )

    # -- identity ----------------------------------------------------------------------------------------
    _TOKEN = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token/?$", re.IGNORECASE)
    _OPENID = re.compile(r"^/(?P<tenant>[^/]+)(?:/v2\.0)?/\.well-known/openid-configuration/?$", re.IGNORECASE)
    _KEYS = re.compile(r"^/(?P<tenant>[^/]+)/discovery(?:/v2\.0)?/keys/?$", re.IGNORECASE)
    _INSTANCE = re.compile(r"^/common/discovery/instance/?$", re.IGNORECASE)

    async def _identity_route(self, request: web.Request, base: str, request_id: str) -> web.StreamResponse | None:
        path, method = request.path, request.method
        headers = {"x-ms-request-id": request_id, "Cache-Control": "no-store, no-cache"}
        if method == "POST" and (found := self._TOKEN.match(path)):
            tenant = found["tenant"]
            fault = self.faults.for_request("identity.token", method, None)
            if fault is not None and fault.kind in ("500", "503"):
                self.stats.faults += 1
                self.stats.record(method, "identity.token", int(fault.kind))
                return json_response({"error": "temporarily_unavailable"}, int(fault.kind), headers)
            form = {k: str(v) for k, v in (await request.post()).items()}
            token_url = f"{base}{path}"
            try:
                body = await self.identity.issue(tenant, form, token_url, self._own_bases(request, base))
            except TokenError as error:
                log.info("token refused for client %s: AADSTS%s", form.get("client_id", "?"), error.aadsts)
                self.stats.record(method, "identity.token", error.status)
                return json_response(error.body(), error.status, headers)
            self.stats.record(method, "identity.token", 200)
            return json_response(body, 200, headers)
        if method == "GET" and (found := self._OPENID.match(path)):
            if not self.identity.known_tenant(found["tenant"]):
                return json_response(
                    {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."}, 400, headers
                )
            self.stats.record(method, "identity.openid", 200)
            return json_response(self.identity.openid_configuration(base, found["tenant"]), 200, headers)
        if method == "GET" and self._KEYS.match(path):
            return json_response(self.identity.jwks(), 200, headers)
        if method == "GET" and self._INSTANCE.match(path):
            endpoint = request.query.get("authorization_endpoint", f"{base}/common/oauth2/v2.0/authorize")
            # MSAL sends the authority's host without its port; the tenant is the first path segment.
            tenant = urllib.parse.urlparse(endpoint).path.strip("/").split("/")[0] or "common"
            return json_response(
                {
                    "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
                    "api-version": "1.1",
                    "metadata": [
                        {"preferred_network": request.host, "preferred_cache": request.host, "aliases": [request.host]}
                    ],
                },
                200,
                headers,
            )
        if method == "GET" and self._METADATA.match(path):
            self.stats.record(method, "cloud.metadata", 200)
            return await cloud.cloud_metadata(self._public_ctx(request, base, request_id, "cloud.metadata"))
        if method == "GET" and self._DISCOVERY.match(path):
            self.stats.record(method, "cloud.discovery", 200)
            return await cloud.discovery(self._public_ctx(request, base, request_id, "cloud.discovery"))
        return None

    @staticmethod
    def _own_bases(request: web.Request, base: str) -> tuple[str, ...]:
        """The URLs this emulator answers on: the one the client used, and the loopback ones of its port
        (a token request can arrive under another host name, through a proxy, for the emulator's own URL)."""
        sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
        if not sockname:
            return (base,)
        port = sockname[1]
        return (base, f"{request.scheme}://127.0.0.1:{port}", f"{request.scheme}://localhost:{port}")

    _METADATA = re.compile(r"^/+metadata/endpoints/?$", re.IGNORECASE)
    _DISCOVERY = re.compile(r"^/+discovery/?$", re.IGNORECASE)

    def _public_ctx(self, request: web.Request, base: str, request_id: str, route: str) -> Ctx:
        return Ctx(emu=self, request=request, route=route, params={}, base=base, request_id=request_id)
