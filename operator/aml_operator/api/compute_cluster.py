"""ComputeCluster: an Azure ML compute cluster (AmlCompute) that scales its nodes with the job queue."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field

from .base import ApiModel, PrinterColumn, age_column, ready_column, reason_column, state_column
from .common import (
    DELETION_POLICY_TEXT,
    MAX_SSH_PUBLIC_KEY,
    AzureError,
    ComputeResource,
    ComputeSpecBase,
    ComputeStatusBase,
    DeletionPolicy,
    compute_name_field,
    ssh_public_key_rule,
    subnet_id_field,
    vm_size_field,
)
from .identity import ManagedIdentity
from .names import COMPUTE_NAME, NameLength
from .references import SecretRef
from .scale import ScaleSettings
from .schema import immutable_optional, immutable_value, rule, validations

VmPriority = Literal["Dedicated", "LowPriority"]
OsType = Literal["Linux", "Windows"]
RemoteLoginPortPublicAccess = Literal["Enabled", "Disabled", "NotSpecified"]


class AdminCredentials(ApiModel):
    """The administrator account on the cluster's nodes. Passwords only ever come from a Secret."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.sshPublicKey) || has(self.passwordSecretRef)",
                "spec.adminCredentials needs sshPublicKey or passwordSecretRef (a password is never "
                "written in the spec)",
                reason="FieldValueRequired",
            )
        )
    )

    admin_user_name: str = Field(
        min_length=1, max_length=64, description="User name of the administrator account on the nodes."
    )
    ssh_public_key: str | None = Field(
        None,
        max_length=MAX_SSH_PUBLIC_KEY,
        description="OpenSSH public key (ssh-rsa, ssh-ed25519 or ecdsa-sha2-...). Preferred over a password.",
        json_schema_extra=validations(ssh_public_key_rule("spec.adminCredentials.sshPublicKey")),
    )
    password_secret_ref: SecretRef | None = Field(
        None, description="Secret in this namespace whose key 'password' holds the administrator password."
    )


class ComputeClusterSpec(ComputeSpecBase):
    """The compute cluster as it should be in Azure."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            immutable_optional("subnetId", "spec.subnetId"),
            immutable_optional("adminCredentials", "spec.adminCredentials"),
            immutable_optional("enableNodePublicIp", "spec.enableNodePublicIp"),
            rule(
                "!has(self.enableNodePublicIp) || self.enableNodePublicIp || has(self.subnetId)",
                "spec.enableNodePublicIp false needs spec.subnetId: nodes without a public IP are reached through "
                "their virtual network",
                reason="FieldValueRequired",
                field_path=".subnetId",
            ),
        )
    )

    compute_name: str | None = compute_name_field(COMPUTE_NAME)
    deletion_policy: DeletionPolicy = Field("Delete", description=f"{DELETION_POLICY_TEXT} Default Delete.")
    vm_size: str = vm_size_field(
        "spec.vmSize", "Azure VM size of the nodes, e.g. Standard_DS3_v2 (CPU) or Standard_NC6 (GPU). Immutable."
    )
    vm_priority: VmPriority = Field(
        "Dedicated",
        description="Dedicated, or LowPriority (cheaper, but Azure may take nodes away). Immutable.",
        json_schema_extra=validations(immutable_value("spec.vmPriority")),
    )
    os_type: OsType = Field(
        "Linux",
        description="Operating system of the nodes: Linux or Windows. Immutable.",
        json_schema_extra=validations(immutable_value("spec.osType")),
    )
    scale_settings: ScaleSettings = Field(description="Node counts and scale-down delay. Can be changed.")
    subnet_id: str | None = subnet_id_field("spec.subnetId", "Subnet of a virtual network the nodes join. Immutable.")
    identity: ManagedIdentity | None = Field(
        None,
        description="Managed identity the nodes use to reach other Azure resources. Can be changed: the operator "
        "sends it again with the whole cluster (removing it leaves Azure's identity as it is).",
    )
    enable_node_public_ip: bool | None = Field(
        None,
        description="false: the nodes get no public IP (needs spec.subnetId; jobs reach them through the virtual "
        "network). Azure's default is true. Immutable.",
    )
    admin_credentials: AdminCredentials | None = Field(
        None, description="Administrator account on the nodes (SSH key or password Secret). Immutable."
    )
    remote_login_port_public_access: RemoteLoginPortPublicAccess = Field(
        "NotSpecified",
        description="Whether the SSH port of the nodes is open to the internet: Enabled, Disabled, or "
        "NotSpecified (Azure decides: open unless the cluster is in a virtual network). Immutable.",
        json_schema_extra=validations(immutable_value("spec.remoteLoginPortPublicAccess")),
    )


class NodeStateCounts(ApiModel):
    """How many nodes are in each state."""

    idle_node_count: int = Field(0, description="Nodes waiting for work.")
    running_node_count: int = Field(0, description="Nodes running a job.")
    preparing_node_count: int = Field(0, description="Nodes being prepared.")
    unusable_node_count: int = Field(0, description="Nodes Azure marked unusable.")
    leaving_node_count: int = Field(0, description="Nodes leaving the cluster.")
    preempted_node_count: int = Field(0, description="Low-priority nodes Azure took away.")


class IdentityStatus(ApiModel):
    """A compute's managed identity as Azure reports it (ids only, no secret)."""

    type: str | None = Field(None, description="SystemAssigned, UserAssigned, SystemAssigned,UserAssigned or None.")
    principal_id: str | None = Field(None, description="Object id of the system-assigned identity.")
    tenant_id: str | None = Field(None, description="Tenant of the system-assigned identity.")
    user_assigned_identities: list[str] = Field(
        default_factory=list, description="ARM ids of the user-assigned identities."
    )


class ComputeClusterStatus(ComputeStatusBase):
    """Observed state of the cluster in Azure."""

    allocation_state: str | None = Field(
        None, description="Steady (node count is the target) or Resizing (nodes being added or removed)."
    )
    allocation_state_transition_time: datetime | None = Field(None, description="When allocationState last changed.")
    current_node_count: int | None = Field(None, description="Nodes the cluster has now.")
    target_node_count: int | None = Field(None, description="Nodes Azure is scaling towards.")
    node_state_counts: NodeStateCounts | None = Field(None, description="Nodes per state.")
    enable_node_public_ip: bool | None = Field(None, description="Whether the nodes have public IPs, per Azure.")
    remote_login_port_public_access: str | None = Field(
        None, description="Enabled or Disabled as Azure settled it (NotSpecified becomes one of them at creation)."
    )
    identity: IdentityStatus | None = Field(None, description="The managed identity as Azure reports it.")
    errors: list[AzureError] = Field(default_factory=list, description="Errors Azure reports for the cluster.")


class ComputeCluster(ComputeResource):
    """An Azure ML compute cluster (AmlCompute): CPU or GPU nodes that scale with the job queue."""

    KIND: ClassVar[str] = "ComputeCluster"
    PLURAL: ClassVar[str] = "computeclusters"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("amlcc",)
    NAME_LENGTH: ClassVar[NameLength] = COMPUTE_NAME
    DESCRIPTION: ClassVar[str] = (
        "ComputeCluster is an Azure ML compute cluster (AmlCompute): single or multi-node CPU or GPU "
        "compute for training and batch inference that scales between minNodeCount and maxNodeCount."
    )
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        ready_column(),
        state_column(),
        PrinterColumn(name="VM Size", type="string", json_path=".spec.vmSize", description="VM size of the nodes."),
        PrinterColumn(
            name="Nodes", type="integer", json_path=".status.currentNodeCount", description="Current node count."
        ),
        PrinterColumn(
            name="Min", type="integer", json_path=".spec.scaleSettings.minNodeCount", description="Minimum nodes."
        ),
        PrinterColumn(
            name="Max", type="integer", json_path=".spec.scaleSettings.maxNodeCount", description="Maximum nodes."
        ),
        PrinterColumn(
            name="Allocation",
            type="string",
            json_path=".status.allocationState",
            description="Steady or Resizing.",
            priority=1,
        ),
        PrinterColumn(
            name="Priority", type="string", json_path=".spec.vmPriority", description="VM priority.", priority=1
        ),
        reason_column(),
        age_column(),
    )

    kind: Literal["ComputeCluster"] = Field("ComputeCluster", description="ComputeCluster.")
    spec: ComputeClusterSpec = Field(description="The cluster as it should be in Azure.")
    status: ComputeClusterStatus = Field(
        default_factory=ComputeClusterStatus, description="Observed state, written by the operator."
    )
