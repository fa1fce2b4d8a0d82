"""What every compute kind shares: spec fields, field helpers (VM size, subnet, SSH key) and status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints

from .base import ApiModel, KubeResource
from .conditions import Condition, condition_list_field
from .names import NameLength, compute_name_immutable_rule, compute_name_rule, metadata_name_rule
from .references import SUBNET_ID, WorkspaceRef, arm_id_example, arm_id_rule
from .schema import (
    MAX_ARM_ID,
    MAX_DESCRIPTION,
    MAX_TAG_NAME,
    MAX_TAG_VALUE,
    MAX_TAGS,
    MAX_VM_SIZE,
    JsonDict,
    immutable_value,
    rule,
    validations,
)

DeletionPolicy = Literal["Delete", "Detach", "Orphan"]
DELETION_POLICY_TEXT = (
    "What deleting this object does in Azure: Delete removes the compute and its underlying "
    "resource, Detach removes the compute from the workspace but keeps the underlying resource, "
    "Orphan leaves Azure untouched."
)

TagValue = Annotated[str, StringConstraints(max_length=MAX_TAG_VALUE)]

_TAG_NAME_RULE = rule(
    f"self.all(k, size(k) >= 1 && size(k) <= {MAX_TAG_NAME} && !k.matches('[<>%&?/]'))",
    f"spec.tags names must be 1-{MAX_TAG_NAME} characters without any of < > % & ? /",
    reason="FieldValueInvalid",
)


class ComputeSpecBase(ApiModel):
    """Fields every compute kind has. Subclasses narrow computeName (its length differs) and add deletionPolicy."""

    workspace_ref: WorkspaceRef = Field(
        description="The Workspace (in this namespace) the compute belongs to. Immutable.",
        json_schema_extra=validations(immutable_value("spec.workspaceRef")),
    )
    compute_name: str | None = Field(None, description="Name of the compute in Azure ML; defaults to metadata.name.")
    description: str | None = Field(
        None, max_length=MAX_DESCRIPTION, description="Free text shown in Azure ML studio. Can be changed."
    )
    tags: dict[str, TagValue] | None = Field(
        None,
        max_length=MAX_TAGS,
        description=f"Azure tags on the compute (at most {MAX_TAGS}; names up to {MAX_TAG_NAME} and "
        f"values up to {MAX_TAG_VALUE} characters). Can be changed. The operator adds its own owner tag.",
        json_schema_extra=validations(_TAG_NAME_RULE),
    )


def compute_name_field(length: NameLength) -> Any:
    return Field(
        None,
        max_length=length.maximum,
        description=f"Name of the compute in Azure ML; defaults to metadata.name. {length.describe()}. "
        "Unique among the computes of the Azure region. Immutable.",
        json_schema_extra=validations(compute_name_rule(length)),
    )


VM_SIZE_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
SSH_PUBLIC_KEY_PREFIXES = ("ssh-rsa ", "ssh-ed25519 ", "ecdsa-sha2-")
MAX_SSH_PUBLIC_KEY = 8192


def vm_size_field(shown_as: str, description: str, default: str | None = None) -> Any:
    """A VM size: required unless ``default`` is given, and immutable (Azure cannot resize a compute)."""
    return Field(
        default if default is not None else ...,
        min_length=1,
        max_length=MAX_VM_SIZE,
        description=description,
        json_schema_extra=validations(
            rule(
                f"self.matches('{VM_SIZE_PATTERN}')",
                f"{shown_as} must be an Azure VM size name such as Standard_DS3_v2",
                reason="FieldValueInvalid",
            ),
            immutable_value(shown_as),
        ),
    )


def subnet_id_field(shown_as: str, description: str, *, required: bool = False) -> Any:
    return Field(
        ... if required else None,
        max_length=MAX_ARM_ID,
        description=f"{description} ({arm_id_example(*SUBNET_ID)})",
        json_schema_extra=validations(arm_id_rule(shown_as, *SUBNET_ID)),
    )


def ssh_public_key_rule(shown_as: str) -> JsonDict:
    starts = " || ".join(f"self.startsWith('{prefix}')" for prefix in SSH_PUBLIC_KEY_PREFIXES)
    return rule(
        starts,
        f"{shown_as} must be an OpenSSH public key starting with ssh-rsa, ssh-ed25519 or ecdsa-sha2-",
        reason="FieldValueInvalid",
    )


class AzureError(ApiModel):
    """An error Azure reported for the compute."""

    code: str = Field("", description="Azure error code, e.g. QuotaExceeded.")
    message: str = Field("", description="Azure error message.")


UNFINISHED = ("Pending", "InProgress")
"""``operationStatus`` of an operation not ended yet: our recorded intent, or Azure still running it."""


class LastOperation(ApiModel):
    """The last Azure operation the operator started or Azure reported, and how it went."""

    operation_name: str = Field("", description="Create, Update, Delete, Detach, Start, Stop, Restart or Reimage.")
    operation_status: str = Field(
        "", description="InProgress, Succeeded, CreateFailed, StartFailed, StopFailed, ... as Azure reports it."
    )
    operation_time: datetime | None = Field(None, description="When the operation started.")
    operation_trigger: str | None = Field(
        None,
        description="Who started it, as Azure reports it (api-version 2023-04-01 and later): User (a person or the "
        "operator), Schedule (spec.schedules) or IdleShutdown (spec.idleTimeBeforeShutdown).",
    )
    async_operation_url: str | None = Field(
        None,
        description="Azure-AsyncOperation (or Location) URL to poll while the operation runs, so a "
        "restarted operator resumes instead of repeating the write. Not a secret: reading it needs "
        "an Azure token.",
    )


class RetryStatus(ApiModel):
    """When the operator tries a failed step again, and why it waits."""

    reason: str = Field(max_length=128, description="The reason of the failure, as in the Ready condition.")
    attempt: int = Field(ge=1, description="Failed attempts in a row for this reason.")
    next_attempt_time: datetime | None = Field(
        None,
        description="Not before this time, unless the object, its Workspace or a referenced Secret changes. "
        "Absent when only an edit of the object can fix the failure.",
    )
    inputs: str = Field(
        "", max_length=1024,
        description="Versions of the Workspace and Secrets the failed attempt used; a change retries at once.",
    )


class StatusBase(ApiModel):
    """Status fields of every kind."""

    conditions: list[Condition] = condition_list_field()
    observed_generation: int | None = Field(None, description="metadata.generation the operator last acted on.")


class ComputeStatusBase(StatusBase):
    """Status fields of every compute kind, observed from Azure."""

    azure_resource_id: str | None = Field(None, description="ARM id of the compute in the workspace.")
    provisioning_state: str | None = Field(
        None,
        description="Azure provisioning state: Unknown, Updating, Creating, Deleting, Succeeded, Failed or Canceled.",
    )
    provisioning_errors: list[AzureError] = Field(
        default_factory=list, description="Errors Azure reported while provisioning the compute."
    )
    last_operation: LastOperation | None = Field(None, description="The last Azure operation on the compute.")
    retry: RetryStatus | None = Field(
        None, description="Set while a failed step waits to be tried again; gone once a pass succeeds."
    )


class AppliedSecretsStatus(ApiModel):
    """Status of a kind whose Azure body carries Secret values that may rotate."""

    applied_reference_versions: list[str] | None = Field(
        None,
        description="The Secrets whose values the operator last sent to Azure, as name@resourceVersion. When "
        "one of them changes, the operator sends the new values. Versions only, never values.",
    )


class ComputeResource(KubeResource):
    """A compute kind: its Azure name comes from spec.computeName or metadata.name."""

    NAME_LENGTH: ClassVar[NameLength]

    spec: ComputeSpecBase
    status: ComputeStatusBase

    @classmethod
    def root_validations(cls) -> tuple[JsonDict, ...]:
        return (metadata_name_rule(cls.NAME_LENGTH), compute_name_immutable_rule())

    @property
    def azure_name(self) -> str:
        """The compute's name in Azure: spec.computeName, else metadata.name."""
        return self.spec.compute_name or self.metadata.name
