"""The `workspaces/{ws}/computes` endpoints of api-version 2020-08-01."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from . import api_versions, schedules
from . import validation as v
from .catalog import VmSize
from .context import Ctx, empty_response, json_response
from .errors import ArmError, bad_request, conflict, not_found
from .lifecycle import TRANSITIONAL_INSTANCE, TRANSITIONAL_PROVISIONING, iso, new_id
from .locations import usage_snapshot
from .lro import lro_headers
from .state import ComputeRecord, Operation, compute_key, workspace_id

TRIGGER_VERSION = "2023-04-01"  # lastOperation.operationTrigger first appears in this api-version's spec
COMPUTE_RESOURCE_TYPE = "Microsoft.MachineLearningServices/workspaces/computes"
_CREATE_TIMING = {
    "AmlCompute": "create_aml_compute",
    "ComputeInstance": "create_compute_instance",
    "AKS": "create_aks",
}


# -- helpers -----------------------------------------------------------------------------------------------
def _key(ctx: Ctx, name: str) -> str:
    return compute_key(ctx.params["sub"], ctx.params["rg"], ctx.params["ws"], name)


def _record(ctx: Ctx) -> ComputeRecord:
    name = ctx.params["compute"]
    record = ctx.emu.store.computes.get(_key(ctx, name))
    if record is None:
        raise not_found(
            f"Microsoft.MachineLearningServices/workspaces/{ctx.params['ws']}/computes", name, ctx.params["rg"]
        )
    return record


def _ensure_idle(ctx: Ctx, record: ComputeRecord) -> None:
    op = ctx.emu.store.operations.get(record.operation_id or "")
    state = record.props.get("provisioningState")
    instance_state = record.inner.get("state") if record.compute_type == "ComputeInstance" else None
    if (
        (op is not None and op.status == "InProgress")
        or state in TRANSITIONAL_PROVISIONING
        or (instance_state in TRANSITIONAL_INSTANCE)
    ):
        busy = op.kind if op is not None else (instance_state or state)
        raise conflict(
            f"The compute '{record.name}' is busy with another operation ({busy}); provisioningState is "
            f"'{state}'. Retry when that operation has finished."
        )


def _count_write(ctx: Ctx, record_key: str) -> None:
    ctx.emu.stats.writes[(record_key, ctx.request.method)] += 1


def _fault_error(ctx: Ctx, name: str) -> dict[str, Any] | None:
    rule = ctx.emu.faults.for_operation(ctx.route, ctx.request.method, name)
    if rule is None:
        return None
    ctx.emu.stats.faults += 1
    return {"code": rule.error_code, "message": rule.error_message}


def _response_body(ctx: Ctx, record: ComputeRecord) -> dict[str, Any]:
    body = ctx.emu.lifecycle.render(record, ctx.api_version)
    if ctx.live:
        # The live service upper-cases vmSize in the PUT response only (recorded traffic, notes §4).
        inner = body.get("properties", {}).get("properties")
        if isinstance(inner, dict) and isinstance(inner.get("vmSize"), str):
            inner["vmSize"] = inner["vmSize"].upper()
    return body


def _identity(body: dict[str, Any], tenant_id: str, seed: str) -> dict[str, Any] | None:
    identity = body.get("identity")
    if not isinstance(identity, dict):
        return None
    result = copy.deepcopy(identity)
    kind = str(result.get("type", ""))
    if "SystemAssigned" in kind:
        result["principalId"] = new_id()
        result["tenantId"] = tenant_id
    assigned = result.get("userAssignedIdentities")
    if isinstance(assigned, dict):
        result["userAssignedIdentities"] = {rid: {"principalId": new_id(), "clientId": new_id()} for rid in assigned}
    return result


# -- read --------------------------------------------------------------------------------------------------
async def list_computes(ctx: Ctx) -> web.Response:
    records = ctx.emu.store.computes_in(ctx.params["sub"], ctx.params["rg"], ctx.params["ws"])
    page_size = max(1, ctx.emu.config.page_size)
    offset = _skiptoken(ctx)
    page = records[offset : offset + page_size]
    body: dict[str, Any] = {"value": [ctx.emu.lifecycle.render(r, ctx.api_version) for r in page]}
    if offset + page_size < len(records):
        body["nextLink"] = (
            f"{ctx.base}{ctx.request.path}?api-version={ctx.query('api-version')}&$skiptoken={offset + page_size}"
        )
    return json_response(body)


def _skiptoken(ctx: Ctx) -> int:
    token = ctx.query("$skiptoken")
    if token is None:
        return 0
    if not token.isdigit():
        raise bad_request("InvalidSkipToken", f"The $skiptoken '{token}' is not valid.")
    return int(token)


async def get_compute(ctx: Ctx) -> web.Response:
    return json_response(ctx.emu.lifecycle.render(_record(ctx), ctx.api_version))


# -- create or update --------------------------------------------------------------------------------------
async def create_or_update(ctx: Ctx) -> web.Response:
    body = await ctx.json_body()
    compute_type, props, inner = v.check_body(body)
    name = ctx.params["compute"]
    record = ctx.emu.store.computes.get(_key(ctx, name))
    if record is None:
        return _create(ctx, name, body, compute_type, props, inner)
    return _update_by_put(ctx, record, body, props, inner)


def _create(
    ctx: Ctx, name: str, body: dict[str, Any], compute_type: str, props: dict[str, Any], inner: dict[str, Any]
) -> web.Response:
    emu, ws = ctx.emu, ctx.workspace
    assert ws is not None
    v.check_name(name, compute_type)
    location = str(body.get("location") or ws.location)
    now = emu.lifecycle.now()
    stored_inner = copy.deepcopy(inner)
    resource_id = v.check_attach(emu.store, compute_type, props, inner)
    owns_underlying = False
    if compute_type == "AmlCompute":
        size = v.check_aml_compute(emu.catalogue, location, inner)
        scale = inner["scaleSettings"]
        _check_quota(
            ctx, location, size, max(int(scale.get("minNodeCount", 0)), 1), inner.get("vmPriority") == "LowPriority"
        )
        stored_inner.setdefault("osType", "Linux")
        stored_inner.setdefault("vmPriority", "Dedicated")
        stored_inner.setdefault("remoteLoginPortPublicAccess", "NotSpecified")
        stored_inner["scaleSettings"] = {
            "maxNodeCount": scale["maxNodeCount"],
            "minNodeCount": scale.get("minNodeCount", 0),
            "nodeIdleTimeBeforeScaleDown": scale.get("nodeIdleTimeBeforeScaleDown") or _default_idle_time(ctx),
        }
        stored_inner.update(
            {
                "allocationState": None,
                "allocationStateTransitionTime": None,
                "errors": None,
                "currentNodeCount": None,
                "targetNodeCount": None,
                "nodeStateCounts": None,
            }
        )
    elif compute_type == "ComputeInstance":
        size = v.check_compute_instance(emu.catalogue, location, inner)
        _check_instance_name_free(ctx, name, location)
        _check_quota(ctx, location, size, 1, False)
        _fill_instance(ctx, name, location, stored_inner, now)
        schedules.stored(stored_inner)
    elif compute_type == "AKS":
        if resource_id is None:
            v.check_aks_create(emu.catalogue, inner)
            resource_id = _create_underlying(ctx, name, location, "Microsoft.ContainerService/managedClusters", inner)
            owns_underlying = True
        _fill_aks(ctx, resource_id, stored_inner)
    elif compute_type == "Kubernetes":
        stored_inner.setdefault("namespace", "default")
        stored_inner.setdefault("extensionInstanceReleaseTrain", "stable")
    elif compute_type == "SynapseSpark" and resource_id is not None:
        _fill_synapse(ctx, resource_id, stored_inner)
    elif compute_type == "DataFactory" and resource_id is None:
        resource_id = _create_underlying(ctx, name, location, "Microsoft.DataFactory/factories", {})
        owns_underlying = True
    attached = resource_id is not None and not owns_underlying
    timing_name = "attach" if attached else _CREATE_TIMING.get(compute_type, "create_other")
    resource: dict[str, Any] = {
        "id": f"{workspace_id(ws)}/computes/{name}",
        "name": name,
        "type": COMPUTE_RESOURCE_TYPE,
        "location": location,
    }
    if isinstance(body.get("tags"), dict):
        resource["tags"] = dict(body["tags"])
    if isinstance(body.get("sku"), dict):
        resource["sku"] = dict(body["sku"])
    caller_tenant = ctx.caller.tenant_id if ctx.caller else ""
    identity = _identity(body, caller_tenant, name)
    if identity is not None:
        resource["identity"] = identity
    resource["properties"] = {
        "computeType": compute_type,
        "computeLocation": location,
        "description": props.get("description"),
        "resourceId": resource_id,
        "provisioningState": "Creating",
        "createdOn": iso(now),
        "modifiedOn": iso(now),
        "provisioningErrors": None,
        "isAttachedCompute": attached,
        "properties": stored_inner,
    }
    record = ComputeRecord(
        key=_key(ctx, name),
        subscription_id=ws.subscription_id,
        resource_group=ws.resource_group,
        workspace=ws.name,
        name=name,
        resource=resource,
        owns_underlying=owns_underlying,
    )
    if compute_type == "ComputeInstance":
        record.clock["schedules_seen"] = now
    emu.store.computes[record.key] = record
    emu.store.creates[record.key] = emu.store.creates.get(record.key, 0) + 1
    _count_write(ctx, record.key)
    op = emu.lifecycle.start_operation(
        record,
        "create",
        emu.config.timing.seconds(timing_name),
        location=ws.location,
        error=_fault_error(ctx, name),
    )
    emu.store.save()
    return json_response(_response_body(ctx, record), 201, lro_headers(ctx, op))


def _update_by_put(
    ctx: Ctx, record: ComputeRecord, body: dict[str, Any], props: dict[str, Any], inner: dict[str, Any]
) -> web.Response:
    emu = ctx.emu
    _ensure_idle(ctx, record)
    if record.props.get("provisioningState") == "Failed":
        raise bad_request(
            "BadRequest",
            f"The compute '{record.name}' is in state Failed and cannot be updated; its name stays in use until it "
            "is deleted. Delete the compute and create it again.",
        )
    v.check_immutables(record, body, props, inner)
    location = str(record.resource.get("location", ""))
    if record.compute_type == "ComputeInstance":
        # Schedules and idle shutdown change in place with a PUT of the whole body (the spec's one way for schedules).
        schedules.check_instance(inner)
        inner = copy.deepcopy(inner)
        schedules.stored(inner, record.inner)
        if "schedules" in inner:
            record.clock["schedules_seen"] = emu.lifecycle.now()
    if record.compute_type == "Kubernetes":
        v.check_kubernetes({**record.inner, **inner})  # instance types change in place; the namespace may not
    if record.compute_type == "AmlCompute" and "scaleSettings" in inner:
        v.check_scale_settings(inner["scaleSettings"], "properties.properties.scaleSettings")
    if record.compute_type == "AKS" and "agentCount" in inner:
        agent_count = inner["agentCount"]
        if not isinstance(agent_count, int) or isinstance(agent_count, bool) or agent_count < 1:
            raise bad_request(
                "InvalidPropertyValue",
                f"agentCount must be at least 1, not {agent_count!r}.",
                target="properties.properties.agentCount",
            )
    for key, value in inner.items():
        if key == "scaleSettings" and isinstance(value, dict):
            merged = dict(record.inner.get("scaleSettings") or {})
            merged.update(value)
            record.inner["scaleSettings"] = merged
        else:
            record.inner[key] = copy.deepcopy(value)
    if "description" in props:
        record.props["description"] = props["description"]
    if isinstance(body.get("tags"), dict):
        record.resource["tags"] = dict(body["tags"])
    if isinstance(body.get("identity"), dict):
        record.resource["identity"] = _identity(body, ctx.caller.tenant_id if ctx.caller else "", record.name)
    live = ctx.live
    record.props["provisioningState"] = "Creating" if live else "Updating"
    _count_write(ctx, record.key)
    op = emu.lifecycle.start_operation(
        record,
        "update",
        emu.config.timing.seconds("update"),
        location=_ws_location(ctx),
        error=_fault_error(ctx, record.name),
    )
    del location
    emu.store.save()
    return json_response(_response_body(ctx, record), 201 if live else 200, lro_headers(ctx, op))


def _default_idle_time(ctx: Ctx) -> str:
    # Recorded clusters read back PT2M; the 2020-08-01 examples show PT120S (the same two minutes).
    return "PT2M" if ctx.live else "PT120S"


def _ws_location(ctx: Ctx) -> str:
    assert ctx.workspace is not None
    return ctx.workspace.location


def _check_quota(ctx: Ctx, location: str, size: VmSize, nodes: int, low_priority: bool) -> None:
    ws = ctx.workspace
    assert ws is not None
    snapshot = usage_snapshot(ctx.emu, ws.subscription_id, location)
    ws_limit = ctx.emu.store.workspace_quota(ws, size.family)
    ws_usage = snapshot.per_workspace.get((workspace_id(ws).lower(), size.family.lower(), low_priority), 0)
    v.check_quota(
        ctx.emu.store,
        {(family, low): used for (family, low), used in snapshot.per_family.items()},
        snapshot.totals,
        location,
        size,
        nodes,
        low_priority,
        ws_limit,
        ws_usage,
    )


def _check_instance_name_free(ctx: Ctx, name: str, location: str) -> None:
    # Instance names are DNS labels within a region, so they are unique across workspaces there.
    for other in ctx.emu.store.computes.values():
        if (
            other.compute_type == "ComputeInstance"
            and other.name.lower() == name.lower()
            and str(other.resource.get("location", "")).lower() == location.lower()
        ):
            raise bad_request(
                "BadRequest",
                f"Compute name '{name}' is not available. Reason: AlreadyExists. Message: The specified name "
                f"{name} is already in use and is therefore unavailable",
                target="computeName",
            )


def _fill_instance(ctx: Ctx, name: str, location: str, inner: dict[str, Any], now: float) -> None:
    caller = ctx.caller
    inner.setdefault("applicationSharingPolicy", "Shared")
    ssh = dict(inner.get("sshSettings") or {})
    ssh.setdefault("sshPublicAccess", "Disabled")
    ssh["adminUserName"] = "azureuser"
    if ctx.live:
        # Recorded instances report the node's SSH port even with public access disabled (4000, 4001, ...).
        ssh["sshPort"] = 4000 + sum(1 for r in ctx.emu.store.computes.values() if r.compute_type == "ComputeInstance")
    else:
        ssh["sshPort"] = 22 if ssh["sshPublicAccess"] == "Enabled" else None
    inner["sshSettings"] = ssh
    principal = ctx.emu.config.principal(caller.client_id) if caller else None
    inner["createdBy"] = {
        "userName": principal.display_name if principal else "unknown",
        "userOrgId": caller.tenant_id if caller else None,
        "userId": caller.object_id if caller else None,
    }
    index = len(ctx.emu.store.computes) % 250 + 4
    inner["connectivityEndpoints"] = {"publicIpAddress": f"20.61.0.{index}", "privateIpAddress": f"10.0.0.{index}"}
    host = f"{name.lower()}.{location.lower()}.instances.azureml.ms"
    inner["applications"] = [
        {"displayName": "Jupyter", "endpointUri": f"https://{host}/tree/"},
        {"displayName": "Jupyter Lab", "endpointUri": f"https://{host}/lab"},
    ]
    inner["errors"] = None
    inner["state"] = "Creating"
    inner["lastOperation"] = {"operationName": "Create", "operationTime": iso(now), "operationStatus": "InProgress"}


def _create_underlying(ctx: Ctx, name: str, location: str, resource_type: str, inner: dict[str, Any]) -> str:
    ws = ctx.workspace
    assert ws is not None
    suffix = new_id().replace("-", "")[:13]
    resource_name = f"{name}{suffix[:5]}-{suffix}"[:63]
    group = f"/subscriptions/{ws.subscription_id}/resourcegroups/{ws.resource_group}"
    resource_id = f"{group}/providers/{resource_type}/{resource_name}"
    properties: dict[str, Any] = {"createdBy": "Microsoft.MachineLearningServices"}
    if resource_type.endswith("managedClusters"):
        properties.update(
            {
                "agentCount": inner.get("agentCount", v.AKS_DEFAULT_AGENT_COUNT),
                "agentVmSize": inner.get("agentVmSize") or v.AKS_DEFAULT_AGENT_VM_SIZE,
                "fqdn": f"{resource_name.lower()}.hcp.{location.lower()}.azmk8s.io",
            }
        )
    from .config import UnderlyingResource

    ctx.emu.store.resources[resource_id.lower()] = UnderlyingResource(
        id=resource_id, location=location, properties=properties
    )
    return resource_id


def _fill_synapse(ctx: Ctx, resource_id: str, inner: dict[str, Any]) -> None:
    """What Azure reads from the Spark pool it attaches (read-only properties of SynapseSpark)."""
    underlying = ctx.emu.store.resources.get(resource_id.lower())
    facts = underlying.properties if underlying is not None else {}
    parts = resource_id.strip("/").split("/")
    inner.update({
        "workspaceName": parts[-3],
        "poolName": parts[-1],
        "nodeSize": facts.get("nodeSize", "Medium"),
        "nodeSizeFamily": facts.get("nodeSizeFamily", "MemoryOptimized"),
        "nodeCount": facts.get("nodeCount", 3),
        "sparkVersion": facts.get("sparkVersion", "3.4"),
        "autoScaleProperties": facts.get("autoScaleProperties", {"enabled": False}),
    })


def _fill_aks(ctx: Ctx, resource_id: str, inner: dict[str, Any]) -> None:
    underlying = ctx.emu.store.resources.get(resource_id.lower())
    facts = underlying.properties if underlying is not None else {}
    inner.setdefault("agentCount", facts.get("agentCount", v.AKS_DEFAULT_AGENT_COUNT))
    inner.setdefault("agentVmSize", facts.get("agentVmSize", v.AKS_DEFAULT_AGENT_VM_SIZE))
    inner["clusterFqdn"] = facts.get("fqdn") or inner.get("clusterFqdn")
    inner.setdefault("sslConfiguration", {"status": "Disabled"})
    inner["systemServices"] = [
        {"systemServiceType": "ScoringFrontEnd", "publicIpAddress": "20.73.0.10", "version": "0.2.0"}
    ]


# -- PATCH (scaleSettings only) ----------------------------------------------------------------------------
def _patch_scale_settings(body: Any) -> tuple[Any, str]:
    """scaleSettings from either PATCH shape: 2020-08-01's `properties.scaleSettings`, or the later (and v1 SDK's)
    `properties.properties.scaleSettings` beside `properties.computeType`."""
    props = body.get("properties") if isinstance(body, dict) else None
    if isinstance(props, dict) and "scaleSettings" in props:
        return props["scaleSettings"], "properties.scaleSettings"
    inner = props.get("properties") if isinstance(props, dict) else None
    if isinstance(inner, dict) and "scaleSettings" in inner:
        return inner["scaleSettings"], "properties.properties.scaleSettings"
    raise bad_request(
        "MissingRequiredProperty",
        "The property 'properties.properties.scaleSettings' (or, up to api-version 2020-08-01, "
        "'properties.scaleSettings') is required: PATCH updates scaleSettings only.",
        target="properties.properties.scaleSettings",
    )


async def update(ctx: Ctx) -> web.Response:
    body = await ctx.json_body()
    record = _record(ctx)
    scale_settings, path = _patch_scale_settings(body)
    if record.compute_type != "AmlCompute":
        raise bad_request("UserError", f"ComputeUpdate with computeType {record.compute_type} is not supported.")
    v.check_scale_settings(scale_settings, path)
    _ensure_idle(ctx, record)
    if record.props.get("provisioningState") == "Failed":
        raise bad_request("BadRequest", f"The compute '{record.name}' is in state Failed and cannot be updated.")
    scale = dict(record.inner.get("scaleSettings") or {})
    scale.update(scale_settings)
    record.inner["scaleSettings"] = scale
    record.props["provisioningState"] = "Updating"
    _count_write(ctx, record.key)
    op = ctx.emu.lifecycle.start_operation(
        record,
        "update",
        ctx.emu.config.timing.seconds("update"),
        location=_ws_location(ctx),
        error=_fault_error(ctx, record.name),
    )
    ctx.emu.store.save()
    if ctx.live and not api_versions.patch_is_synchronous(ctx.api_version):
        # Recorded service: 202 + Azure-AsyncOperation. Clients generated from the 2020-08-01 spec accept 200 only.
        return empty_response(202, lro_headers(ctx, op))
    return json_response(_response_body(ctx, record), 200, lro_headers(ctx, op))


# -- DELETE ------------------------------------------------------------------------------------------------
async def delete(ctx: Ctx) -> web.Response:
    action = ctx.query("underlyingResourceAction")
    if action is None and ctx.live:
        action = "Delete"  # the recorded service deletes when the parameter is left out
    if action is None:
        raise bad_request(
            "MissingRequiredParameter",
            "The query parameter 'underlyingResourceAction' is required: Delete or Detach.",
            target="underlyingResourceAction",
        )
    if action.lower() not in ("delete", "detach"):
        raise bad_request(
            "InvalidQueryParameterValue",
            f"The value '{action}' of query parameter 'underlyingResourceAction' is not one of Delete, Detach.",
            target="underlyingResourceAction",
        )
    record = _record(ctx)
    if ctx.live:
        running = _cancel_for_delete(ctx, record)
        if running is not None:
            return empty_response(202, lro_headers(ctx, running))
    else:
        _ensure_idle(ctx, record)
    record.props["provisioningState"] = "Deleting"
    if record.compute_type == "ComputeInstance":
        record.inner["state"] = "Deleting"
    _count_write(ctx, record.key)
    op = ctx.emu.lifecycle.start_operation(
        record,
        "delete",
        ctx.emu.config.timing.seconds("delete"),
        location=_ws_location(ctx),
        error=_fault_error(ctx, record.name),
        underlying_action="Delete" if action.lower() == "delete" else "Detach",
    )
    ctx.emu.store.save()
    headers = lro_headers(ctx, op, location=not ctx.live)
    return empty_response(202, headers)


def _cancel_for_delete(ctx: Ctx, record: ComputeRecord) -> Operation | None:
    """The recorded service accepts a DELETE whatever the compute is doing: a delete already running is
    answered with its own status URL, any other operation in flight is cancelled."""
    op = ctx.emu.store.operations.get(record.operation_id or "")
    if op is None or op.status != "InProgress":
        return None
    if op.kind == "delete":
        return op
    op.status = "Canceled"
    op.ended = ctx.emu.lifecycle.now()
    record.operation_id = None
    return None


async def check_name_availability(ctx: Ctx) -> web.Response:
    """`POST {workspace}/checkComputeNameAvailability` (what azureml-core asks before creating an instance)."""
    body = await ctx.json_body()
    name = body.get("Name", body.get("name")) if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise bad_request("MissingRequiredProperty", "The property 'Name' is required.", target="Name")
    assert ctx.workspace is not None
    taken = ctx.emu.store.computes.get(_key(ctx, name)) is not None or any(
        other.compute_type == "ComputeInstance"
        and other.name.lower() == name.lower()
        and str(other.resource.get("location", "")).lower() == ctx.workspace.location.lower()
        for other in ctx.emu.store.computes.values()
    )
    if taken:
        return json_response(
            {
                "nameAvailable": False,
                "reason": "AlreadyExists",
                "message": f"The specified name {name} is already in use and is therefore unavailable",
            }
        )
    return json_response({"nameAvailable": True, "reason": None, "message": None})


# -- POST actions ------------------------------------------------------------------------------------------
async def list_nodes(ctx: Ctx) -> web.Response:
    record = _record(ctx)
    if record.compute_type != "AmlCompute":
        raise bad_request("UserError", f"ComputeListNodes with computeType {record.compute_type} is not supported.")
    nodes = ctx.emu.lifecycle.nodes(record)
    page_size = max(1, ctx.emu.config.page_size)
    offset = _skiptoken(ctx)
    body: dict[str, Any] = {"computeType": "AmlCompute", "nodes": nodes[offset : offset + page_size]}
    if offset + page_size < len(nodes):
        body["nextLink"] = (
            f"{ctx.base}{ctx.request.path}?api-version={ctx.query('api-version')}&$skiptoken={offset + page_size}"
        )
    return json_response(body)


async def list_keys(ctx: Ctx) -> web.Response:
    record = _record(ctx)
    inner = record.inner
    if record.compute_type == "AKS":
        fqdn = inner.get("clusterFqdn") or "aks.local"
        return json_response(
            {
                "computeType": "AKS",
                "userKubeConfig": _kubeconfig(record.name, str(fqdn), "clusterUser"),
                "adminKubeConfig": _kubeconfig(record.name, str(fqdn), "clusterAdmin"),
                "imagePullSecretName": f"{record.name.lower()}-image-pull-secret",
            }
        )
    if record.compute_type == "VirtualMachine":
        return json_response(
            {"computeType": "VirtualMachine", "administratorAccount": copy.deepcopy(inner.get("administratorAccount"))}
        )
    if record.compute_type == "Databricks":
        return json_response({"computeType": "Databricks", "databricksAccessToken": inner.get("databricksAccessToken")})
    raise bad_request("UserError", f"ComputeListKeys with computeType {record.compute_type} is not supported.")


def _kubeconfig(name: str, fqdn: str, user: str) -> str:
    token = new_id().replace("-", "")
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- cluster:\n    server: https://{fqdn}:443\n  name: {name}\n"
        f"contexts:\n- context:\n    cluster: {name}\n    user: {user}_{name}\n  name: {name}\n"
        f"current-context: {name}\n"
        f"users:\n- name: {user}_{name}\n  user:\n    token: {token}\n"
    )


_ACTIONS = {
    # action → (required state, transient state, operation name, message when in the wrong state)
    "start": (
        "Stopped",
        "Starting",
        "Start",
        "Start Azure ML Compute Instance is only allowed when the instance {name} is in 'stopped' state",
    ),
    "stop": (
        "Running",
        "Stopping",
        "Stop",
        "Stop Azure ML Compute Instance is only allowed when the instance {name} is in 'running' state",
    ),
    "restart": (
        "Running",
        "Restarting",
        "Restart",
        "Restart Azure ML Compute Instance is only allowed when the instance {name} is in 'running' state",
    ),
}
_ACTION_CODES = {
    "start": "StartComputeInstanceOnlyAllowedInStoppedState",
    "stop": "StopComputeInstanceOnlyAllowedInRunningState",
    "restart": "RestartComputeInstanceOnlyAllowedInRunningState",
}


async def instance_action(ctx: Ctx) -> web.Response:
    action = ctx.params["action"].lower()
    record = _record(ctx)
    required, transient, op_name, message = _ACTIONS[action]
    if record.compute_type != "ComputeInstance":
        raise bad_request("UserError", f"Compute{op_name} with computeType {record.compute_type} is not supported.")
    _ensure_idle(ctx, record)
    if record.inner.get("state") != required:
        raise bad_request(_ACTION_CODES[action], message.format(name=record.name))
    record.inner["state"] = transient
    record.inner["lastOperation"] = {
        "operationName": op_name,
        "operationTime": iso(ctx.emu.lifecycle.now()),
        "operationStatus": "InProgress",
    }
    trigger = "User" if ctx.api_version >= TRIGGER_VERSION else None
    if trigger:
        record.inner["lastOperation"]["operationTrigger"] = trigger
    _count_write(ctx, record.key)
    op = ctx.emu.lifecycle.start_operation(
        record,
        action,
        ctx.emu.config.timing.seconds(action),
        location=_ws_location(ctx),
        error=_fault_error(ctx, record.name),
    )
    op.trigger = trigger
    ctx.emu.store.save()
    if ctx.live:
        # Later api-versions and the live service answer 202 + Azure-AsyncOperation (notes §2.2).
        return empty_response(202, lro_headers(ctx, op))
    return empty_response(200)


def error_for_missing(ctx: Ctx) -> ArmError:
    return not_found("Microsoft.MachineLearningServices/workspaces", ctx.params.get("ws", ""), ctx.params.get("rg", ""))


async def update_idle_shutdown(ctx: Ctx) -> web.Response:
    """`POST {compute}/updateIdleShutdownSetting` `{"idleTimeBeforeShutdown": "PT30M"}`: the idle timer of an
    instance, changed without a PUT (the route Azure's docs give for existing instances)."""
    body = await ctx.json_body()
    record = _record(ctx)
    if record.compute_type != "ComputeInstance":
        raise bad_request(
            "UserError", f"UpdateIdleShutdownSetting with computeType {record.compute_type} is not supported."
        )
    idle = body.get("idleTimeBeforeShutdown") if isinstance(body, dict) else None
    schedules.check_instance({"idleTimeBeforeShutdown": idle})
    record.inner["idleTimeBeforeShutdown"] = idle
    _count_write(ctx, record.key)
    ctx.emu.store.save()
    return empty_response(200)
