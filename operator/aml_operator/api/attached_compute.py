"""AttachedCompute: a compute made outside Azure ML (VM, HDInsight, Databricks, a Kubernetes cluster, a Synapse
Spark pool, ...) attached to the workspace. docs/adr/2026-12-02-kubernetes-compute-is-an-attached-compute.md says
why Kubernetes is a type here rather than a kind of its own."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, StringConstraints

from .base import ApiModel, PrinterColumn, age_column, ready_column, reason_column, state_column
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
from .schema import (
    MAX_ARM_ID,
    MAX_K8S_NAME,
    JsonDict,
    cel_string_list,
    immutable_optional,
    immutable_value,
    rule,
    validations,
)

AttachType = Literal[
    "VirtualMachine", "HDInsight", "Databricks", "DataLakeAnalytics", "DataFactory", "SynapseSpark", "Kubernetes"
]

# The Azure resource types each attach type may point at (namespace, then the type path).
RESOURCE_TYPES: dict[str, tuple[tuple[str, ...], ...]] = {
    "VirtualMachine": (("Microsoft.Compute", "virtualMachines"),),
    "HDInsight": (("Microsoft.HDInsight", "clusters"),),
    "Databricks": (("Microsoft.Databricks", "workspaces"),),
    "DataLakeAnalytics": (("Microsoft.DataLakeAnalytics", "accounts"),),
    "DataFactory": (("Microsoft.DataFactory", "factories"),),
    "SynapseSpark": (("Microsoft.Synapse", "workspaces", "bigDataPools"),),
    # An AKS cluster, or any cluster connected through Azure Arc, with the Azure ML extension installed.
    "Kubernetes": (("Microsoft.ContainerService", "managedClusters"), ("Microsoft.Kubernetes", "connectedClusters")),
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
    ("kubernetesNamespace", ("Kubernetes",), False),
    ("defaultInstanceType", ("Kubernetes",), False),
    ("instanceTypes", ("Kubernetes",), False),
)
K8S_NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_INSTANCE_TYPES = 20
Quantity = Annotated[str, StringConstraints(min_length=1, max_length=32)]
LabelValue = Annotated[str, StringConstraints(max_length=63)]

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
    rules = []
    for type_name, choices in RESOURCE_TYPES.items():
        matches = " || ".join(f"self.resourceId.matches('{arm_id_pattern(*choice)}')" for choice in choices)
        names = " or ".join("/".join(choice) for choice in choices)
        rules.append(rule(
            f"self.type != '{type_name}' || {matches}",
            f"spec.resourceId must be the id of a {names} resource when spec.type is {type_name}",
            reason="FieldValueInvalid",
            field_path=".resourceId",
        ))
    return rules


class InstanceTypeResources(ApiModel):
    """Kubernetes resource requests and limits of the pods of an instance type (cpu, memory, nvidia.com/gpu)."""

    requests: dict[str, Quantity] | None = Field(None, max_length=8, description="e.g. {cpu: 500m, memory: 2Gi}.")
    limits: dict[str, Quantity] | None = Field(
        None, max_length=8, description="e.g. {cpu: '2', memory: 8Gi, nvidia.com/gpu: '1'}."
    )


class InstanceType(ApiModel):
    """An instance type of a Kubernetes compute: where its pods run and what they may use."""

    name: str = Field(
        min_length=1,
        max_length=63,
        description="Name jobs choose it by (lower-case letters, digits and '-').",
        json_schema_extra=validations(rule(
            f"self.matches('{K8S_NAME_PATTERN}')",
            "spec.instanceTypes[].name must be lower-case letters, digits and '-'",
            reason="FieldValueInvalid",
        )),
    )
    node_selector: dict[str, LabelValue] | None = Field(
        None, max_length=16, description="Node labels the pods must match, e.g. {agentpool: gpu}."
    )
    resources: InstanceTypeResources | None = Field(None, description="Resource requests and limits.")


class AttachedComputeSpec(ComputeSpecBase):
    """The compute to attach and how Azure ML reaches it; only the fields of spec.type may be set."""

    model_config = ConfigDict(json_schema_extra=validations(
        *_type_field_rules(),
        *_resource_type_rules(),
        immutable_optional("kubernetesNamespace", "spec.kubernetesNamespace"),
        rule(
            "!has(self.defaultInstanceType) || !has(self.instanceTypes) "
            "|| self.instanceTypes.exists(t, t.name == self.defaultInstanceType)",
            "spec.defaultInstanceType must be one of the names in spec.instanceTypes",
            reason="FieldValueInvalid",
            field_path=".defaultInstanceType",
        ),
    ))

    compute_name: str | None = compute_name_field(COMPUTE_NAME)
    deletion_policy: DeletionPolicy = Field(
        "Detach",
        description=f"{DELETION_POLICY_TEXT} Default Detach: the attached resource was made outside "
        "Azure ML and outlives this object.",
    )
    type: AttachType = Field(
        description="VirtualMachine (e.g. a Data Science VM), HDInsight, Databricks, DataLakeAnalytics, "
        "DataFactory, SynapseSpark (a Spark pool of a Synapse workspace) or Kubernetes (an AKS or Azure "
        "Arc-enabled cluster with the Azure ML extension). Immutable.",
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


    kubernetes_namespace: str | None = Field(
        None,
        max_length=63,
        description="Namespace of the attached cluster the Azure ML workloads run in (Kubernetes; Azure's default: "
        "default). Azure's properties.namespace. Immutable.",
        json_schema_extra=validations(rule(
            f"self.matches('{K8S_NAME_PATTERN}')",
            "spec.kubernetesNamespace must be a Kubernetes namespace name (lower-case letters, digits and '-')",
            reason="FieldValueInvalid",
        )),
    )
    default_instance_type: str | None = Field(
        None, max_length=63, description="Instance type jobs get when they name none (Kubernetes). Can be changed."
    )
    instance_types: list[InstanceType] | None = Field(
        None,
        max_length=MAX_INSTANCE_TYPES,
        description="Instance types (Kubernetes): name, node selector and resource requests/limits. Can be "
        "changed.",
        json_schema_extra=validations(**{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}),
    )


class AttachedComputeStatus(ComputeStatusBase, AppliedSecretsStatus):
    """Observed state of the attached compute in Azure."""

    compute_location: str | None = Field(None, description="Azure region of the attached resource.")
    namespace: str | None = Field(None, description="Kubernetes namespace, as Azure reports it (Kubernetes).")
    default_instance_type: str | None = Field(None, description="Default instance type, per Azure (Kubernetes).")
    instance_types: list[str] = Field(default_factory=list, description="Instance type names, per Azure (Kubernetes).")
    spark_version: str | None = Field(None, description="Spark version of the pool (SynapseSpark).")
    node_size: str | None = Field(None, description="Node size of the pool (SynapseSpark).")
    node_count: int | None = Field(None, description="Nodes of the pool (SynapseSpark).")


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
