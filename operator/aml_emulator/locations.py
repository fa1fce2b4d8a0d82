"""The per-region endpoints: VM sizes, usages, quotas (list and update)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .catalog import family_display, family_usage_name
from .cloud import discovery_url
from .context import Ctx, json_response
from .errors import bad_request
from .state import ComputeRecord, workspace_id

if TYPE_CHECKING:
    from .app import Emulator

PROVIDER = "Microsoft.MachineLearningServices"


@dataclass
class UsageSnapshot:
    per_family: Counter[tuple[str, bool]] = field(default_factory=Counter)  # (family lower, low priority)
    totals: Counter[bool] = field(default_factory=Counter)
    per_workspace: Counter[tuple[str, str, bool]] = field(default_factory=Counter)  # (ws id lower, family, low)
    per_compute: list[tuple[ComputeRecord, str, int, bool]] = field(default_factory=list)


def usage_snapshot(emu: Emulator, subscription_id: str, location: str) -> UsageSnapshot:
    snapshot = UsageSnapshot()
    for record in emu.store.computes.values():
        if record.subscription_id.lower() != subscription_id.lower():
            continue
        if str(record.resource.get("location", "")).lower() != location.lower():
            continue
        held = emu.lifecycle.vcpus_in_use(record)
        if held is None:
            continue
        family, vcpus, low = held
        ws = emu.store.workspace(record.subscription_id, record.resource_group, record.workspace)
        snapshot.per_family[(family.lower(), low)] += vcpus
        snapshot.totals[low] += vcpus
        if ws is not None:
            snapshot.per_workspace[(workspace_id(ws).lower(), family.lower(), low)] += vcpus
        snapshot.per_compute.append((record, family, vcpus, low))
    return snapshot


def _families(emu: Emulator, location: str) -> list[str]:
    quotas = emu.config.quotas_for(location)
    names = {f.lower(): f for f in quotas.dedicated_cores_per_family}
    for family in emu.catalogue.families():
        names.setdefault(family.lower(), family)
    return sorted(names.values(), key=str.lower)


async def list_vm_sizes(ctx: Ctx) -> web.Response:
    location = ctx.params["loc"]
    wanted_type = ctx.query("compute-type")
    sizes = [
        size.to_arm()
        for size in ctx.emu.catalogue.sizes_in(location)
        if wanted_type is None or wanted_type in size.supported_compute_types
    ]
    # SDK 1.0.1 reads `amlCompute`; the example and later api-versions use `value`. Answer both.
    return json_response({"amlCompute": sizes, "value": sizes})


def _usage(item_id: str, usage_type: str, current: int, limit: int, value: str, localized: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": f"{PROVIDER}/{usage_type}",
        "currentValue": current,
        "limit": limit,
        "name": {"localizedValue": localized, "value": value},
        "unit": "Count",
    }


async def list_usages(ctx: Ctx) -> web.Response:
    from .validation import family_limit

    emu, sub, location = ctx.emu, ctx.params["sub"], ctx.params["loc"]
    quotas = emu.config.quotas_for(location)
    snapshot = usage_snapshot(emu, sub, location)
    sub_id = f"/subscriptions/{sub}"
    dedicated, low = snapshot.totals[False], snapshot.totals[True]
    rows = [
        _usage(sub_id, "totalCores/usages", dedicated + low, quotas.total_cores, "TotalCores", "Total Cluster vCPUs"),
        _usage(
            sub_id,
            "totalDedicatedCores/usages",
            dedicated,
            quotas.total_dedicated_cores,
            "TotalDedicatedCores",
            "Total Cluster Dedicated Regional vCPUs",
        ),
    ]
    for low_priority in (False, True):
        if low_priority:
            rows.append(
                _usage(
                    sub_id,
                    "totalLowPriorityCores/usages",
                    low,
                    quotas.total_low_priority_cores,
                    "TotalLowPriorityCores",
                    "Total Cluster LowPriority Regional vCPUs",
                )
            )
        kind = "lowPriorityCores" if low_priority else "dedicatedCores"
        label = "LowPriority" if low_priority else "Dedicated"
        for family in _families(emu, location):
            name = family_usage_name(family)
            localized = f"{family_display(family)} Family Cluster {label} vCPUs"
            limit = -1 if low_priority else family_limit(emu.store, location, family)
            used = snapshot.per_family[(family.lower(), low_priority)]
            rows.append(_usage(f"{sub_id}/usages/{name}", f"vmFamily/{kind}/usages", used, limit, name, localized))
            for ws in emu.config.workspaces:
                ws_used = snapshot.per_workspace[(workspace_id(ws).lower(), family.lower(), low_priority)]
                if not ws_used or ws.subscription_id.lower() != sub.lower():
                    continue
                ws_limit = emu.store.workspace_quota(ws, family)
                rows.append(
                    _usage(
                        f"{workspace_id(ws)}/usages/{name}",
                        f"workspaces/{kind}/usages",
                        ws_used,
                        limit if low_priority or ws_limit is None else ws_limit,
                        name,
                        localized,
                    )
                )
                for record, compute_family, vcpus, compute_low in snapshot.per_compute:
                    if (
                        compute_low != low_priority
                        or compute_family.lower() != family.lower()
                        or record.workspace.lower() != ws.name.lower()
                        or record.resource_group.lower() != ws.resource_group.lower()
                    ):
                        continue
                    rows.append(
                        _usage(
                            f"{workspace_id(ws)}/computes/{record.name}/usages/{name}",
                            f"workspaces/computes/{kind}/usages",
                            vcpus,
                            limit if low_priority or ws_limit is None else ws_limit,
                            name,
                            localized,
                        )
                    )
    return json_response({"value": rows})


async def list_quotas(ctx: Ctx) -> web.Response:
    from .validation import family_limit

    emu, sub, location = ctx.emu, ctx.params["sub"], ctx.params["loc"]
    rows: list[dict[str, Any]] = []
    for family in _families(emu, location):
        name = family_usage_name(family)
        localized = f"{family_display(family)} Family Cluster Dedicated vCPUs"
        limit = family_limit(emu.store, location, family)
        rows.append(
            {
                "id": f"/subscriptions/{sub}/quotas/{name}",
                "type": f"{PROVIDER}/vmFamily/dedicatedCores/quotas",
                "limit": limit,
                "name": {"localizedValue": localized, "value": name},
                "unit": "Count",
            }
        )
        for ws in emu.config.workspaces:
            if ws.subscription_id.lower() != sub.lower() or ws.location.lower() != location.lower():
                continue
            ws_limit = emu.store.workspace_quota(ws, family)
            rows.append(
                {
                    "id": f"{workspace_id(ws)}/quotas/{name}",
                    "type": f"{PROVIDER}/workspaces/dedicatedCores/quotas",
                    "limit": limit if ws_limit is None else ws_limit,
                    "name": {"value": name, "localizedValue": localized},
                    "unit": "Count",
                }
            )
    return json_response({"value": rows})


async def update_quotas(ctx: Ctx) -> web.Response:
    from .validation import family_limit

    emu, sub, location = ctx.emu, ctx.params["sub"], ctx.params["loc"]
    body = await ctx.json_body()
    items = body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise bad_request("MissingRequiredProperty", "The property 'value' is required.", target="value")
    families = {f.lower(): f for f in _families(emu, location)}
    results = []
    for item in items:
        if not isinstance(item, dict):
            raise bad_request("InvalidRequestContent", "Each quota update must be an object.", target="value")
        item_id = str(item.get("id", ""))
        parts = item_id.strip("/").split("/")
        status = "Success"
        ws = None
        family = families.get(parts[-1].lower()) if parts else None
        lowered = [p.lower() for p in parts]
        if "workspaces" in lowered and len(parts) >= 8:
            index = lowered.index("workspaces")
            ws = emu.store.workspace(sub, parts[3] if len(parts) > 3 else "", parts[index + 1])
        limit = item.get("limit")
        if family is None:
            status = "InvalidVMFamilyName"
        elif ws is None or not isinstance(limit, int):
            status = "Failure"
        elif limit > family_limit(emu.store, location, family):
            status = "InvalidQuotaExceedsSubscriptionLimit"
        else:
            emu.store.set_workspace_quota(ws, family, limit)
        results.append(
            {
                "id": item_id,
                "type": item.get("type", f"{PROVIDER}/workspaces/dedicatedCores/quotas"),
                "limit": limit,
                "unit": item.get("unit", "Count"),
                "status": status,
            }
        )
    emu.store.save()
    return json_response({"value": results})


async def get_workspace(ctx: Ctx) -> web.Response:
    ws = ctx.workspace
    assert ws is not None
    ws_id = workspace_id(ws)
    rg_id = f"/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}/providers"
    short = ws.name.lower().replace("-", "")[:12]
    body: dict[str, Any] = {
        "id": ws_id,
        "name": ws.name,
        "type": f"{PROVIDER}/workspaces",
        "location": ws.location,
        "sku": {"name": ws.sku, "tier": ws.sku},
        "identity": {
            "type": "SystemAssigned",
            "principalId": _stable_guid(ws_id, "identity"),
            "tenantId": _tenant(ctx),
        },
        "properties": {
            "workspaceId": _stable_guid(ws_id, "workspace"),
            "provisioningState": "Succeeded",
            "containerRegistry": f"{rg_id}/Microsoft.ContainerRegistry/registries/{short}acr",
            "keyVault": f"{rg_id}/Microsoft.KeyVault/vaults/{short}kv",
            "applicationInsights": f"{rg_id}/microsoft.insights/components/{short}ai",
            "storageAccount": f"{rg_id}/Microsoft.Storage/storageAccounts/{short}st",
            # Azure's is https://{region}.api.azureml.ms/discovery; the v1 SDK reads computes through it.
            "discoveryUrl": discovery_url(ctx.base),
            "creationTime": "2020-08-01T00:00:00.0000000Z",
            "friendlyName": ws.friendly_name or ws.name,
            "description": ws.description,
            "encryption": {"status": "Disabled"},
            "hbiWorkspace": False,
            "serviceProvisionedResourceGroup": f"{ws.name}_{_stable_guid(ws_id, 'rg')[:16]}",
            "privateLinkCount": 0,
            "allowPublicAccessWhenBehindVnet": False,
            "imageBuildCompute": None,
            "privateEndpointConnections": [],
            "sharedPrivateLinkResources": [],
            "notebookInfo": {
                "resourceId": _stable_guid(ws_id, "notebook").replace("-", ""),
                "fqdn": f"ml-{short}-{ws.location}.notebooks.azure.net",
            },
        },
    }
    body["properties"].update(ws.properties)
    return json_response(body)


def _tenant(ctx: Ctx) -> str:
    sub = ctx.emu.config.subscription(ctx.params["sub"])
    return sub.tenant_id if sub else ""


def _stable_guid(*parts: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts).lower()))
