"""The reconcile core's view of Azure: plain data and one small protocol, no SDK types.

Shaped like crossplane-runtime's ExternalClient: the core observes, then asks for a write, and gets
back an ``Operation`` it can persist and poll later. ``aml_operator.azureapi`` implements it over the
real SDK; tests of the core may implement it in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class WorkspaceTarget:
    """Where computes live: one Azure ML workspace, reached with one set of credentials."""

    subscription_id: str
    resource_group: str
    workspace_name: str

    @property
    def arm_id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace_name}")

    def compute_id(self, compute_name: str) -> str:
        return f"{self.arm_id}/computes/{compute_name}"


@dataclass(frozen=True)
class WorkspaceInfo:
    location: str
    arm_id: str


@dataclass(frozen=True)
class AzureErrorInfo:
    code: str
    message: str


@dataclass(frozen=True)
class Observation:
    """A compute as Azure reports it (camelCase JSON, as on the wire)."""

    name: str
    resource: JsonDict

    @property
    def envelope_properties(self) -> JsonDict:
        props = self.resource.get("properties") or {}
        return props if isinstance(props, dict) else {}

    @property
    def properties(self) -> JsonDict:
        """The per-type properties (``properties.properties``)."""
        inner = self.envelope_properties.get("properties") or {}
        return inner if isinstance(inner, dict) else {}

    @property
    def compute_type(self) -> str:
        return str(self.envelope_properties.get("computeType") or "")

    @property
    def provisioning_state(self) -> str:
        return str(self.envelope_properties.get("provisioningState") or "")

    @property
    def tags(self) -> Mapping[str, str]:
        tags = self.resource.get("tags") or {}
        return tags if isinstance(tags, dict) else {}

    @property
    def arm_id(self) -> str:
        return str(self.resource.get("id") or "")

    @property
    def description(self) -> str | None:
        value = self.envelope_properties.get("description")
        return None if value is None else str(value)

    @property
    def provisioning_errors(self) -> list[AzureErrorInfo]:
        errors = []
        for item in self.envelope_properties.get("provisioningErrors") or []:
            error = (item or {}).get("error") or item or {}
            errors.append(AzureErrorInfo(str(error.get("code") or ""), str(error.get("message") or "")))
        return errors


OperationName = Literal["Create", "Update", "Delete", "Detach", "Start", "Stop", "Restart"]


@dataclass(frozen=True)
class Operation:
    """A write Azure accepted. ``status_url`` is None when Azure finished it synchronously."""

    name: OperationName
    status_url: str | None = None
    retry_after: float | None = None
    tags: Mapping[str, str] | None = None
    """The tags Azure returned in the write's answer; None when the answer carried no resource."""


@dataclass(frozen=True)
class OperationStatus:
    status: Literal["InProgress", "Succeeded", "Failed", "Canceled"]
    error: AzureErrorInfo | None = None
    retry_after: float | None = None

    @property
    def finished(self) -> bool:
        return self.status != "InProgress"


@dataclass(frozen=True)
class VmSize:
    name: str
    family: str
    vcpus: int
    low_priority_capable: bool
    supported_compute_types: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Usage:
    """A quota line, e.g. the dedicated cores of a VM family in a region. ``limit`` -1 means unlimited."""

    type: str
    """E.g. Microsoft.MachineLearningServices/vmFamily/dedicatedCores/usages."""
    name: str
    current: int
    limit: int


class AzureError(Exception):
    """Any refusal from Azure, already classified by the adapter's error table."""

    def __init__(self, code: str, status: int | None, reason: str, retryable: bool, message: str,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.reason = reason
        self.retryable = retryable
        self.message = message
        self.retry_after = retry_after


class ComputeClient(Protocol):
    async def workspace(self, target: WorkspaceTarget) -> WorkspaceInfo: ...

    async def get(self, target: WorkspaceTarget, name: str) -> Observation | None: ...

    async def list(self, target: WorkspaceTarget) -> Sequence[Observation]: ...

    async def put(self, target: WorkspaceTarget, name: str, body: JsonDict) -> Operation: ...

    async def patch_scale(self, target: WorkspaceTarget, name: str, scale_settings: JsonDict) -> Operation: ...

    async def delete(self, target: WorkspaceTarget, name: str, action: Literal["Delete", "Detach"]) -> Operation: ...

    async def power(
        self, target: WorkspaceTarget, name: str, action: Literal["Start", "Stop", "Restart"]
    ) -> Operation: ...

    async def act(self, target: WorkspaceTarget, name: str, action: str, body: JsonDict) -> Operation:
        """POST one of the compute's own actions (e.g. ``updateIdleShutdownSetting``) with its body."""
        ...

    async def operation_status(self, target: WorkspaceTarget, url: str) -> OperationStatus: ...

    async def vm_sizes(self, target: WorkspaceTarget, location: str) -> Sequence[VmSize]: ...

    async def usages(self, target: WorkspaceTarget, location: str) -> Sequence[Usage]: ...


class KeysClient(Protocol):
    async def list_keys(self, target: WorkspaceTarget, name: str) -> JsonDict:
        """The compute's secrets (listKeys): for AKS the kubeconfigs. Never logged, never stored in status."""
        ...
