"""What a client reads to find the emulator: the cloud metadata document, the workspace discovery
document and the subscription list.

Clients configured for a custom cloud (`ARM_CLOUD_METADATA_URL`, `cloud=`) take every endpoint
from the metadata document, so each URL in it is the emulator's own: ARM, the Entra authority and
the token audience.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import Ctx, json_response

CLOUD_NAME = "AzureMLEmulator"
METADATA_API_VERSIONS = ("2015-01-01", "2019-05-01", "2020-06-01", "2022-09-01")
# The data-plane services the v1 SDK looks up in a workspace's discovery document; the emulator
# plays only the `api` one (computes through `/rp/workspaces`), the others point at it so the SDK
# builds its clients.
_DISCOVERY_SERVICES = (
    "api",
    "catalog",
    "experimentation",
    "gallery",
    "history",
    "hyperdrive",
    "labeling",
    "modelmanagement",
    "pipelines",
    "studio",
    "studiooauth",
)


def metadata_document(base: str) -> dict[str, Any]:
    root = f"{base}/"
    return {
        "portal": base,
        "authentication": {
            "loginEndpoint": root,
            "audiences": [root, "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "media": root,
        "graphAudience": root,
        "graph": root,
        "name": CLOUD_NAME,
        "suffixes": {
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "keyVaultDns": "vault.azure.net",
            "storage": "core.windows.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
        },
        "batch": root,
        "resourceManager": root,
        "vmImageAliasDoc": f"{base}/metadata/vm-image-aliases.json",
        "activeDirectoryDataLake": root,
        "sqlManagement": root,
        "gallery": root,
    }


async def cloud_metadata(ctx: Ctx) -> web.Response:
    # 2019-05-01 and later answer a list of clouds; 2015-01-01 the current cloud alone.
    document = metadata_document(ctx.base)
    version = ctx.query("api-version") or ""
    return json_response(document if version.startswith("2015") else [document])


def discovery_url(base: str) -> str:
    return f"{base}/discovery"


async def discovery(ctx: Ctx) -> web.Response:
    return json_response(dict.fromkeys(_DISCOVERY_SERVICES, ctx.base))


def _subscription(ctx: Ctx, subscription_id: str) -> dict[str, Any]:
    found = ctx.emu.config.subscription(subscription_id)
    assert found is not None
    return {
        "id": f"/subscriptions/{found.id}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": found.id,
        "tenantId": found.tenant_id,
        "displayName": found.display_name or f"Emulator subscription {found.id[:8]}",
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    }


async def list_subscriptions(ctx: Ctx) -> web.Response:
    """The subscriptions the caller holds a role in, as `GET /subscriptions` lists them."""
    assert ctx.caller is not None
    visible = ctx.emu.identity.subscriptions_of(ctx.caller)
    value = [_subscription(ctx, sub.id) for sub in ctx.emu.config.subscriptions if sub.id.lower() in visible]
    return json_response({"value": value, "count": {"type": "Total", "value": len(value)}})


async def get_subscription(ctx: Ctx) -> web.Response:
    return json_response(_subscription(ctx, ctx.params["sub"]))
