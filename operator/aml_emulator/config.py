"""The emulator's configuration: who exists, what they may do, what each region offers, how fast things go.

Everything has a default, so the emulator runs with no file at all. A file (YAML or JSON) overrides
any part; the runtime control endpoint `/_emulator/settings` changes timing, throttling, LRO and
profile settings of a running emulator.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_TENANT_ID = "11111111-1111-1111-1111-111111111111"
DEFAULT_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
DEFAULT_RESOURCE_GROUP = "rg-ml"
DEFAULT_WORKSPACE = "ws-ml"
DEFAULT_LOCATION = "westeurope"
DEFAULT_CLIENT_ID = "22222222-2222-2222-2222-222222222222"
DEFAULT_CLIENT_SECRET = "emulator-secret"
ARM_AUDIENCES = ("https://management.azure.com/", "https://management.core.windows.net/")

# live: what recorded Azure traffic shows (the default); spec: the 2020-08-01 specification's examples, literally.
Profile = Literal["live", "spec"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _object_id_for(client_id: str) -> str:
    # A principal's object id differs from its client id in Entra; derive a stable one.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aml-emulator/principal/{client_id}"))


TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


class FederatedCredential(_Model):
    """A federated identity credential: tokens of this issuer and subject may stand for the principal."""

    issuer: str
    subject: str
    audiences: list[str] = Field(default_factory=lambda: [TOKEN_EXCHANGE_AUDIENCE])
    name: str = ""


class Principal(_Model):
    client_id: str
    tenant_id: str = DEFAULT_TENANT_ID
    object_id: str = ""
    display_name: str = ""
    secrets: list[str] = Field(default_factory=list)
    # PEM certificates whose private keys may sign client assertions for this principal.
    certificates: list[str] = Field(default_factory=list)
    federated_credentials: list[FederatedCredential] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fill_object_id(self) -> Principal:
        if not self.object_id:
            self.object_id = _object_id_for(self.client_id)
        if not self.display_name:
            self.display_name = f"sp-{self.client_id[:8]}"
        return self


class RoleAssignment(_Model):
    principal: str  # client id or object id
    scope: str  # "/subscriptions/<id>" or "/subscriptions/<id>/resourceGroups/<rg>"
    role: Literal["Owner", "Contributor", "Reader"] = "Contributor"


class Subscription(_Model):
    id: str
    tenant_id: str = DEFAULT_TENANT_ID
    display_name: str = ""


class Workspace(_Model):
    subscription_id: str = DEFAULT_SUBSCRIPTION_ID
    resource_group: str = DEFAULT_RESOURCE_GROUP
    name: str = DEFAULT_WORKSPACE
    location: str = DEFAULT_LOCATION
    sku: str = "Basic"
    friendly_name: str = ""
    description: str = ""
    # Merged over the rendered workspace properties (e.g. a customer-managed-key `encryption` block).
    properties: dict[str, Any] = Field(default_factory=dict)


class UnderlyingResource(_Model):
    """A resource outside Azure ML that a compute can attach (AKS, VM, HDInsight, ...)."""

    id: str
    location: str = DEFAULT_LOCATION
    properties: dict[str, Any] = Field(default_factory=dict)


class QuotaConfig(_Model):
    # Limits in vCPUs, as the usages/quotas endpoints report them.
    total_dedicated_cores: int = 100
    total_low_priority_cores: int = 50
    total_cores: int = 100
    # Per VM family (catalogue family name, case-insensitive); families not listed get the default.
    dedicated_cores_per_family: dict[str, int] = Field(default_factory=dict)
    default_family_dedicated_cores: int = 0


class RegionConfig(_Model):
    # None: the whole default catalogue. Otherwise the names of the catalogue sizes offered here.
    vm_sizes: list[str] | None = None
    quotas: QuotaConfig | None = None


class VmSizeConfig(_Model):
    """An extra VM size (or an override of a catalogue size), in the `VirtualMachineSize` shape."""

    name: str
    family: str
    vCPUs: int
    gpus: int = 0
    memoryGB: float = 8.0
    lowPriorityCapable: bool = True
    premiumIO: bool = True
    osVhdSizeMB: int = 1047552
    maxResourceVolumeMB: int = 65536
    supportedComputeTypes: list[str] = Field(default_factory=lambda: ["AmlCompute", "ComputeInstance"])


class TimingConfig(_Model):
    """Seconds each transition takes; `scale` multiplies them all (0 makes everything instant)."""

    scale: float = 1.0
    create_aml_compute: float = 1.0
    create_compute_instance: float = 2.0
    create_aks: float = 3.0
    create_other: float = 1.0
    attach: float = 0.5
    update: float = 0.5
    delete: float = 1.0
    start: float = 1.0
    stop: float = 1.0
    restart: float = 1.5
    node_allocation: float = 0.5  # per node added or removed while an AmlCompute resizes

    def seconds(self, name: str) -> float:
        value = getattr(self, name)
        assert isinstance(value, float | int)
        return float(value) * self.scale


class LroConfig(_Model):
    # Retry-After on LRO answers. Azure sends none, so clients poll at their own pace (30 s by default);
    # test launchers set it to poll faster than Azure would let them.
    retry_after_seconds: int = 0


class ThrottlingConfig(_Model):
    """ARM's token buckets (2024): per subscription, principal and operation type, plus a global one."""

    enabled: bool = True
    reads_burst: float = 250
    reads_per_second: float = 25
    writes_burst: float = 200
    writes_per_second: float = 10
    deletes_burst: float = 200
    deletes_per_second: float = 10
    global_multiplier: float = 15


class FaultRule(_Model):
    """Inject a fault into matching requests with probability `rate` (at most `count` times)."""

    route: str = "*"  # route name glob, e.g. "computes.*", "computes.createOrUpdate"
    method: str | None = None
    compute: str | None = None  # compute name glob
    kind: Literal["500", "503", "429", "drop", "slow", "fail_operation"]
    rate: float = 1.0
    count: int | None = None
    delay_seconds: float = 1.0  # for "slow"
    retry_after_seconds: int = 1  # for "429"
    when: Literal["before", "after"] = "before"  # for "drop": lose the request or only its response
    error_code: str = "InternalServerError"  # for "fail_operation"
    error_message: str = "An internal error occurred while provisioning the compute."


class TlsConfig(_Model):
    extra_names: list[str] = Field(default_factory=list)


class EmulatorConfig(_Model):
    # The default tenant, subscription, workspace, principal and role assignment stay unless this is false;
    # the lists in a file add to them.
    include_defaults: bool = True
    profile: Profile = "live"
    seed: int = 0
    tenants: list[str] = Field(default_factory=list)
    subscriptions: list[Subscription] = Field(default_factory=list)
    workspaces: list[Workspace] = Field(default_factory=list)
    principals: list[Principal] = Field(default_factory=list)
    role_assignments: list[RoleAssignment] = Field(default_factory=list)
    regions: dict[str, RegionConfig] = Field(default_factory=dict)
    default_quotas: QuotaConfig = Field(default_factory=QuotaConfig)
    extra_vm_sizes: list[VmSizeConfig] = Field(default_factory=list)
    resources: list[UnderlyingResource] = Field(default_factory=list)
    timing: TimingConfig = Field(default_factory=TimingConfig)
    lro: LroConfig = Field(default_factory=LroConfig)
    throttling: ThrottlingConfig = Field(default_factory=ThrottlingConfig)
    faults: list[FaultRule] = Field(default_factory=list)
    tls: TlsConfig = Field(default_factory=TlsConfig)
    page_size: int = 20
    token_lifetime_seconds: int = 3600
    # CA bundle trusted when fetching a federated issuer's discovery document and keys (Entra trusts
    # public CAs only; a local cluster's issuer has its own CA).
    oidc_ca_file: str | None = None

    def principal(self, client_or_object_id: str) -> Principal | None:
        wanted = client_or_object_id.lower()
        for principal in self.principals:
            if wanted in (principal.client_id.lower(), principal.object_id.lower()):
                return principal
        return None

    def subscription(self, subscription_id: str) -> Subscription | None:
        for sub in self.subscriptions:
            if sub.id.lower() == subscription_id.lower():
                return sub
        return None

    def quotas_for(self, location: str) -> QuotaConfig:
        region = self.regions.get(location.lower())
        if region is not None and region.quotas is not None:
            return region.quotas
        return self.default_quotas


def _default_family_limits() -> dict[str, int]:
    # Subscription-level dedicated limits per family from the real ListUsages.json example.
    return {
        "standardDFamily": 48,
        "standardDSv2Family": 24,
        "standardDv2Family": 24,
        "standardFSv2Family": 24,
        "standardNCFamily": 24,
        "standardNCv2Family": 0,
        "standardNCv3Family": 0,
        "standardNDFamily": 0,
        "standardNDv2Family": 0,
        "standardNVFamily": 24,
    }


def _normalise_regions(raw: dict[str, Any]) -> dict[str, Any]:
    regions = raw.get("regions")
    if isinstance(regions, dict):
        raw["regions"] = {str(name).lower(): value for name, value in regions.items()}
    return raw


def _add_defaults(config: EmulatorConfig) -> None:
    if DEFAULT_TENANT_ID not in config.tenants:
        config.tenants.insert(0, DEFAULT_TENANT_ID)
    if config.subscription(DEFAULT_SUBSCRIPTION_ID) is None:
        config.subscriptions.insert(0, Subscription(id=DEFAULT_SUBSCRIPTION_ID))
    if not any(
        ws.subscription_id.lower() == DEFAULT_SUBSCRIPTION_ID
        and ws.resource_group.lower() == DEFAULT_RESOURCE_GROUP
        and ws.name.lower() == DEFAULT_WORKSPACE
        for ws in config.workspaces
    ):
        config.workspaces.insert(0, Workspace())
    if config.principal(DEFAULT_CLIENT_ID) is None:
        config.principals.insert(0, Principal(client_id=DEFAULT_CLIENT_ID, secrets=[DEFAULT_CLIENT_SECRET]))
        config.role_assignments.insert(
            0, RoleAssignment(principal=DEFAULT_CLIENT_ID, scope=f"/subscriptions/{DEFAULT_SUBSCRIPTION_ID}")
        )
    for sub in config.subscriptions:
        if sub.tenant_id not in config.tenants:
            config.tenants.append(sub.tenant_id)


def build_config(raw: dict[str, Any] | None = None) -> EmulatorConfig:
    """Validate a config mapping, filling in the defaults a bare emulator needs."""
    config = EmulatorConfig.model_validate(_normalise_regions(dict(raw or {})))
    if config.include_defaults:
        _add_defaults(config)
    if not config.default_quotas.dedicated_cores_per_family:
        config.default_quotas.dedicated_cores_per_family = _default_family_limits()
    return config


def load_config(path: str | Path | None) -> EmulatorConfig:
    if path is None:
        return build_config()
    text = Path(path).read_text(encoding="utf-8")
    raw = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    if raw is not None and not isinstance(raw, dict):
        raise ValueError(f"{path}: the configuration must be a mapping")
    return build_config(raw)
