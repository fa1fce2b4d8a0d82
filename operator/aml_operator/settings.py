"""All operator configuration in one typed place, read from the environment (the Helm chart sets it)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

PUBLIC_ARM_ENDPOINT = "https://management.azure.com"
PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com"
AML_API_VERSION = "2025-09-01"
"""The newest stable Microsoft.MachineLearningServices api-version (azure-rest-api-specs
``specification/machinelearningservices/.../stable/2025-09-01``): every compute, workspace, VM-size and
usage call sends it unless AML_API_VERSION pins another."""
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


@dataclass(frozen=True)
class CloudEndpoints:
    arm_endpoint: str
    arm_audience: str
    authority_host: str


# Microsoft's sovereign clouds. The public cloud's endpoints come from the settings below, so the
# operator can be pointed at the local emulator; a Workspace only names its cloud, never a URL.
SOVEREIGN_CLOUDS = {
    "AzureChinaCloud": CloudEndpoints("https://management.chinacloudapi.cn", "https://management.chinacloudapi.cn",
                                      "https://login.chinacloudapi.cn"),
    "AzureUSGovernment": CloudEndpoints("https://management.usgovcloudapi.net",
                                        "https://management.usgovcloudapi.net", "https://login.microsoftonline.us"),
}


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = field(default_factory=tuple)
    """Namespaces to watch (AML_OPERATOR_NAMESPACES, comma-separated); empty means cluster-wide."""
    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    """kopf's liveness probe endpoint (AML_OPERATOR_LIVENESS)."""
    peering: str = ""
    """kopf peering object name (AML_OPERATOR_PEERING); empty runs standalone (one replica)."""
    peering_priority: int = 0
    """This replica's kopf peering priority (AML_OPERATOR_PEERING_PRIORITY); 0 derives one from the start time, so
    the oldest live replica leads (handlers/lifecycle.py start_priority)."""
    peering_lifetime: int = 15
    """Seconds a replica's peering record stays valid without a keep-alive (AML_OPERATOR_PEERING_LIFETIME): how
    long a standby waits after the active replica dies before it takes over."""
    arm_endpoint: str = PUBLIC_ARM_ENDPOINT
    """Azure Resource Manager base URL (AML_ARM_ENDPOINT); the local emulator's URL for demos and tests."""
    arm_audience: str = PUBLIC_ARM_ENDPOINT
    """Audience of ARM tokens (AML_ARM_AUDIENCE); differs from the endpoint in sovereign clouds and
    stays the public one for the emulator, which plays the public cloud."""
    authority_host: str = PUBLIC_AUTHORITY_HOST
    """Microsoft Entra authority (AML_AUTHORITY_HOST)."""
    ca_bundle: str | None = None
    """Extra CA bundle (PEM path) to trust for ARM and the authority (AML_CA_BUNDLE)."""
    operator_identity_namespaces: tuple[str, ...] = field(default_factory=tuple)
    """Namespaces whose Workspaces may use the operator's own Azure identity
    (AML_OPERATOR_IDENTITY_NAMESPACES; ``*`` for all). Empty: none may, every Workspace brings a Secret."""
    drift_interval: float = 300.0
    """Seconds between observations of a workspace's computes (AML_DRIFT_INTERVAL)."""
    poll_interval: float = 10.0
    """Seconds between checks of an Azure operation in flight (AML_POLL_INTERVAL)."""
    secret_refresh_interval: float = 60.0
    """Seconds between re-reads of each Secret Workspaces and computes reference
    (AML_SECRET_REFRESH_INTERVAL): how long a rotated value may take to reach Azure. One GET per referenced
    Secret per interval, whatever the number of objects; never more than 30 a minute in all."""
    retry_backoff: float = 30.0
    """Seconds before the first retry of a failure that needs a person (credentials, role, quota); the wait
    doubles on each failure up to 20 times this (AML_RETRY_BACKOFF)."""
    concurrent_passes: int = 16
    """Compute passes run at once (AML_CONCURRENT_PASSES); the others wait their turn, building nothing
    meanwhile (``admission.py``). Sixteen keep ARM's budgets in use (a pass takes tens of milliseconds
    unless it waits for them) while bounding the memory of a sync of thousands."""
    metrics_port: int = 8081
    """Port of the Prometheus metrics endpoint /metrics (AML_METRICS_PORT); 0 turns it off."""
    log_format: str = "text"
    """Log lines as ``text`` or ``json`` (AML_LOG_FORMAT; the ``--log-format`` flag wins)."""
    api_version: str = AML_API_VERSION
    """Microsoft.MachineLearningServices api-version of every call (AML_API_VERSION), e.g. 2020-08-01 to pin the
    version earlier releases spoke."""
    cluster_id: str = ""
    """Identifies this Kubernetes cluster in the owner tags (AML_CLUSTER_ID); defaults to the uid of
    the kube-system namespace, read at start-up."""

    @property
    def standalone(self) -> bool:
        return not self.peering

    def endpoints(self, cloud: str = "AzurePublicCloud") -> CloudEndpoints:
        return SOVEREIGN_CLOUDS.get(cloud) or CloudEndpoints(self.arm_endpoint, self.arm_audience,
                                                             self.authority_host)

    def may_use_operator_identity(self, namespace: str) -> bool:
        allowed = self.operator_identity_namespaces
        return "*" in allowed or namespace in allowed

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            namespaces=_csv(env.get("AML_OPERATOR_NAMESPACES")),
            liveness_endpoint=env.get("AML_OPERATOR_LIVENESS") or cls.liveness_endpoint,
            peering=env.get("AML_OPERATOR_PEERING", "").strip(),
            peering_priority=int(env.get("AML_OPERATOR_PEERING_PRIORITY") or cls.peering_priority),
            peering_lifetime=int(_float(env, "AML_OPERATOR_PEERING_LIFETIME", cls.peering_lifetime)),
            arm_endpoint=(env.get("AML_ARM_ENDPOINT") or PUBLIC_ARM_ENDPOINT).rstrip("/"),
            arm_audience=env.get("AML_ARM_AUDIENCE") or PUBLIC_ARM_ENDPOINT,
            authority_host=(env.get("AML_AUTHORITY_HOST") or PUBLIC_AUTHORITY_HOST).rstrip("/"),
            ca_bundle=env.get("AML_CA_BUNDLE") or None,
            operator_identity_namespaces=_csv(env.get("AML_OPERATOR_IDENTITY_NAMESPACES")),
            drift_interval=_float(env, "AML_DRIFT_INTERVAL", cls.drift_interval),
            poll_interval=_float(env, "AML_POLL_INTERVAL", cls.poll_interval),
            secret_refresh_interval=_float(env, "AML_SECRET_REFRESH_INTERVAL", cls.secret_refresh_interval),
            retry_backoff=_float(env, "AML_RETRY_BACKOFF", cls.retry_backoff),
            concurrent_passes=_count(env, "AML_CONCURRENT_PASSES", cls.concurrent_passes),
            metrics_port=int(env.get("AML_METRICS_PORT") or cls.metrics_port),
            cluster_id=env.get("AML_CLUSTER_ID", "").strip(),
            log_format=_log_format(env.get("AML_LOG_FORMAT")),
            api_version=_api_version(env.get("AML_API_VERSION")),
        )


def _log_format(value: str | None) -> str:
    chosen = (value or "text").strip().lower()
    if chosen not in ("text", "json"):
        raise ValueError(f"AML_LOG_FORMAT must be text or json, got {value!r}")
    return chosen


def _api_version(raw: str | None) -> str:
    value = (raw or "").strip()
    if not value:
        return AML_API_VERSION
    if not _API_VERSION.match(value):
        raise ValueError(f"AML_API_VERSION must be an Azure api-version such as {AML_API_VERSION} "
                         f"(YYYY-MM-DD, optionally -preview), got {raw!r}")
    return value
