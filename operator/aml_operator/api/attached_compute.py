"""AttachedCompute: a compute made outside Azure ML (VM, HDInsight, Databricks, ...) attached to the workspace."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ConfigDict, Field

from .base import PrinterColumn, age_column, ready_column, reason_column, state_column
from .common import (
    DELETION_POLICY_TEXT,
    AppliedSecretsStatus,
    ComputeResource,
    ComputeSpecBase,
    ComputeStatusBase,
    DeletionPolicy,
    compute_name_field,
)
from .names import COMPUTE_NAME, NameLength
from .references import SecretRef, arm_id_pattern
from .schema import MAX_ARM_ID, MAX_K8S_NAME, JsonDict, cel_string_list, immutable_value, rule, validations

AttachType = Literal["VirtualMachine", "HDInsight", "Databricks", "DataLakeAnalytics", "DataFactory"]

# The Azure resource type each attach type points at.
RESOURCE_TYPES: dict[str, tuple[str, str]] = {
    "VirtualMachine": ("Microsoft.Compute", "virtualMachines"),
    "HDInsight": ("Microsoft.HDInsight", "clusters"),
    "Databricks": ("Microsoft.Databricks", "workspaces"),
    "DataLakeAnalytics": ("Microsoft.DataLakeAnalytics", "accounts"),
    "DataFactory": ("Microsoft.DataFactory", "factories"),
}

# Which optional fields belong to which types: required for ``required_for``, forbidden for the rest.
SSH_TYPES = ("VirtualMachine", "HDInsight")
TYPE_FIELDS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    # (field, the types that use it, required for them)
    ("address", SSH_TYPES, True),
    ("sshPort", SSH_TYPES, False),
    ("credentialsSecretRef", SSH_TYPES, True),
    ("accessTokenSecretRef", ("Databricks",), True),
    ("storeAccountName", ("DataLakeAnalytics",), True),
)

HOST_PATTERN = r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?([.][a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$"
STORE_ACCOUNT_PATTERN = r"^[a-z0-9]{3,24}$"


def _types_text(types: tuple[str, ...]) -> str:
    return " or ".join(types)


def _type_field_rules() -> list[JsonDict]:
    rules: list[JsonDict] = []
    for field, types, required in TYPE_FIELDS:
        in_types = f"self.type in {cel_string_list(types)}"
        if required:
            rules.append(
                rule(
                    f"!({in_types}) || has(self.{field})",
                    f"spec.{field} is required when spec.type is {_types_text(types)}",
                    reason="FieldValueRequired",
                    field_path=f".{field}",
                )
            )
        rules.append(
            rule(
                f"{in_types} || !has(self.{field})",
                f"spec.{field} is only allowed when spec.type is {_types_text(types)}",
                reason="FieldValueForbidden",
                field_path=f".{field}",
            )
        )
    return rules


def _resource_type_rules() -> list[JsonDict]:
    return [
        rule(
            f"self.type != '{type_name}' || self.resourceId.matches('{arm_id_pattern(namespace, kind)}')",
            f"spec.resourceId must be the id of a {namespace}/{kind} resource when spec.type is {type_name}",
            reason="FieldValueInvalid",
            field_path=".resourceId",
        )
        for type_name, (namespace, kind) in RESOURCE_TYPES.items()
    ]


class AttachedComputeSpec(ComputeSpecBase):
    """The compute to attach and how Azure ML reaches it; only the fields of spec.type may be set."""

    model_config = ConfigDict(json_schema_extra=validations(*_type_field_rules(), *_resource_type_rules()))

    compute_name: str | None = compute_name_field(COMPUTE_NAME)
    deletion_policy: DeletionPolicy = Field(
        "Detach",
        description=f"{DELETION_POLICY_TEXT} Default Detach: the attached resource was made outside "
        "Azure ML and outlives this object.",
    )
    type: AttachType = Field(
        description="VirtualMachine (e.g. a Data Science VM), HDInsight, Databricks, DataLakeAnalytics or "
        "DataFactory. Immutable.",
        json_schema_extra=validations(immutable_value("spec.type")),
    )
    resource_id: str = Field(
        max_length=MAX_ARM_ID,
        description="ARM id of the resource to attach; its resource type must match spec.type. Immutable.",
        json_schema_extra=validations(
            rule(
                f"self.matches('{arm_id_pattern()}')",
                "spec.resourceId must be an Azure resource id of the form "
                "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/<namespace>/<type>/<name>",
                reason="FieldValueInvalid",
            ),
            immutable_value("spec.resourceId"),
        ),
    )
    address: str | None = Field(
        None,
        max_length=MAX_K8S_NAME,
        description="Host name or IP address Azure ML connects to over SSH (VirtualMachine, HDInsight).",
        json_schema_extra=validations(
            rule(
                f"isIP(self) || self.matches('{HOST_PATTERN}')",
                "spec.address must be a host name or an IP address",
                reason="FieldValueInvalid",
            )
        ),
    )
    ssh_port: int | None = Field(
        None, ge=1, le=65535, description="SSH port, 1-65535; 22 when absent (VirtualMachine, HDInsight)."
    )
    credentials_secret_ref: SecretRef | None = Field(
        None,
        description="Secret in this namespace with key 'username' and either 'privateKey' (preferred) or "
        "'password' (VirtualMachine, HDInsight).",
    )
    access_token_secret_ref: SecretRef | None = Field(
        None, description="Secret in this namespace whose key 'accessToken' holds a Databricks access token."
    )
    store_account_name: str | None = Field(
        None,
        max_length=24,
        description="Data Lake Store account of the Data Lake Analytics account: 3-24 lower-case letters "
        "and digits (DataLakeAnalytics).",
        json_schema_extra=validations(
            rule(
                f"self.matches('{STORE_ACCOUNT_PATTERN}')",
                "spec.storeAccountName must be 3-24 lower-case letters and digits",
                reason="FieldValueInvalid",
            )
        ),
    )


class AttachedComputeStatus(ComputeStatusBase, AppliedSecretsStatus):
    """Observed state of the attached compute in Azure."""

    compute_location: str | None = Field(None, description="Azure region of the attached resource.")


class AttachedCompute(ComputeResource):
    """A compute target made outside Azure ML and attached to the workspace."""

    KIND: ClassVar[str] = "AttachedCompute"
    PLURAL: ClassVar[str] = "attachedcomputes"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("amlac",)
    NAME_LENGTH: ClassVar[NameLength] = COMPUTE_NAME
    DESCRIPTION: ClassVar[str] = (
        "AttachedCompute attaches a compute made outside Azure ML (a VM such as a Data Science VM, "
        "HDInsight, Databricks, Data Lake Analytics or Data Factory) to the workspace."
    )
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        ready_column(),
        state_column(),
        PrinterColumn(name="Type", type="string", json_path=".spec.type", description="Attach type."),
        PrinterColumn(
            name="Policy", type="string", json_path=".spec.deletionPolicy", description="Deletion policy.", priority=1
        ),
        reason_column(),
        age_column(),
    )

    kind: Literal["AttachedCompute"] = Field("AttachedCompute", description="AttachedCompute.")
    spec: AttachedComputeSpec = Field(description="The compute to attach.")
    status: AttachedComputeStatus = Field(
        default_factory=AttachedComputeStatus, description="Observed state, written by the operator."
    )
