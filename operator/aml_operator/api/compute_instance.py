"""ComputeInstance: a personal Azure ML development VM that the operator starts and stops."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

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
from .names import COMPUTE_NAME, NameLength
from .references import GUID_PATTERN
from .schema import immutable_optional, immutable_value, rule, validations

SshPublicAccess = Literal["Enabled", "Disabled"]
ApplicationSharingPolicy = Literal["Personal", "Shared"]
InstanceState = Literal["Running", "Stopped"]


def _guid_field(shown_as: str, description: str) -> Any:
    return Field(
        max_length=36,
        description=description,
        json_schema_extra=validations(
            rule(
                f"self.matches('^{GUID_PATTERN}$')",
                f"{shown_as} must be a GUID such as 00000000-0000-0000-0000-000000000000",
                reason="FieldValueInvalid",
            )
        ),
    )


class SshSettings(ApiModel):
    """SSH access to the instance: off by default and fixed when the instance is created."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.publicAccess != 'Enabled' || has(self.adminPublicKey)",
                "spec.ssh.adminPublicKey is required when spec.ssh.publicAccess is Enabled",
                reason="FieldValueRequired",
                field_path=".adminPublicKey",
            )
        )
    )

    public_access: SshPublicAccess = Field(
        "Disabled",
        description="Enabled opens SSH (needed for VS Code Remote); default Disabled. Immutable: "
        "Azure cannot change it after creation.",
        json_schema_extra=validations(immutable_value("spec.ssh.publicAccess")),
    )
    admin_public_key: str | None = Field(
        None,
        max_length=MAX_SSH_PUBLIC_KEY,
        description="OpenSSH public key of the azureuser account; required when publicAccess is Enabled.",
        json_schema_extra=validations(ssh_public_key_rule("spec.ssh.adminPublicKey")),
    )


class AssignedUser(ApiModel):
    """The Azure AD user the instance is created for (only that user can use it)."""

    object_id: str = _guid_field("spec.assignedUser.objectId", "Azure AD object id of the user.")
    tenant_id: str = _guid_field("spec.assignedUser.tenantId", "Azure AD tenant id of the user.")


class ComputeInstanceSpec(ComputeSpecBase):
    """The compute instance as it should be in Azure."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            immutable_optional("subnetId", "spec.subnetId"),
            immutable_optional("assignedUser", "spec.assignedUser"),
        )
    )

    compute_name: str | None = compute_name_field(COMPUTE_NAME)
    deletion_policy: DeletionPolicy = Field("Delete", description=f"{DELETION_POLICY_TEXT} Default Delete.")
    vm_size: str = vm_size_field(
        "spec.vmSize", "Azure VM size, e.g. Standard_DS3_v2 (CPU) or Standard_NC6 (GPU). Immutable."
    )
    subnet_id: str | None = subnet_id_field("spec.subnetId", "Subnet of a virtual network to join. Immutable.")
    application_sharing_policy: ApplicationSharingPolicy = Field(
        "Shared",
        description="Shared: every workspace user may use the applications; Personal: only the creator. "
        "Default Shared. Immutable.",
        json_schema_extra=validations(immutable_value("spec.applicationSharingPolicy")),
    )
    ssh: SshSettings = Field(
        default_factory=SshSettings,
        description="SSH access (default: disabled).",
        # The whole default object, not {}: the API server checks defaults against the CEL rules,
        # and those read publicAccess.
        json_schema_extra=validations(default=SshSettings().to_json()),
    )
    assigned_user: AssignedUser | None = Field(
        None, description="Create the instance on behalf of this Azure AD user. Immutable."
    )
    state: InstanceState = Field(
        "Running",
        description="Running or Stopped: the operator starts or stops the instance to match. Default "
        "Running. Can be changed.",
    )


class Application(ApiModel):
    """An application the instance serves."""

    display_name: str = Field("", description="Jupyter, JupyterLab, RStudio, ...")
    endpoint_uri: str = Field("", description="URL of the application.")


class ConnectivityEndpoints(ApiModel):
    """How to reach the instance on the network."""

    public_ip_address: str | None = Field(None, description="Public IP address, if any.")
    private_ip_address: str | None = Field(None, description="Private IP address in the virtual network.")


class SshStatus(ApiModel):
    """How to SSH to the instance when public access is enabled (no secret here)."""

    admin_user_name: str | None = Field(None, description="Administrator user name, e.g. azureuser.")
    ssh_port: int | None = Field(None, description="SSH port.")


class ComputeInstanceStatus(ComputeStatusBase):
    """Observed state of the instance in Azure."""

    state: str | None = Field(
        None,
        description="Azure state: Creating, Starting, Running, Stopping, Stopped, Restarting, "
        "JobRunning, Deleting, CreateFailed, Unusable, ...",
    )
    applications: list[Application] = Field(default_factory=list, description="Applications and their URLs.")
    connectivity_endpoints: ConnectivityEndpoints | None = Field(None, description="Network addresses.")
    ssh: SshStatus | None = Field(None, description="SSH user and port.")
    errors: list[AzureError] = Field(default_factory=list, description="Errors Azure reports for the instance.")


class ComputeInstance(ComputeResource):
    """An Azure ML compute instance: a managed development VM with Jupyter, started and stopped by spec.state."""

    KIND: ClassVar[str] = "ComputeInstance"
    PLURAL: ClassVar[str] = "computeinstances"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("amlci",)
    NAME_LENGTH: ClassVar[NameLength] = COMPUTE_NAME
    DESCRIPTION: ClassVar[str] = (
        "ComputeInstance is an Azure ML compute instance: a managed development VM with Jupyter, "
        "JupyterLab and RStudio. spec.state starts and stops it."
    )
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        ready_column(),
        state_column(),
        PrinterColumn(name="Instance", type="string", json_path=".status.state", description="Running, Stopped, ..."),
        PrinterColumn(name="VM Size", type="string", json_path=".spec.vmSize", description="VM size."),
        PrinterColumn(name="Desired", type="string", json_path=".spec.state", description="Desired state.", priority=1),
        reason_column(),
        age_column(),
    )

    kind: Literal["ComputeInstance"] = Field("ComputeInstance", description="ComputeInstance.")
    spec: ComputeInstanceSpec = Field(description="The instance as it should be in Azure.")
    status: ComputeInstanceStatus = Field(
        default_factory=ComputeInstanceStatus, description="Observed state, written by the operator."
    )
