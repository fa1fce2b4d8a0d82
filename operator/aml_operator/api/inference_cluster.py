"""InferenceCluster: an AKS cluster for model deployment, created by Azure ML or attached."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ConfigDict, Field

from .base import ApiModel, PrinterColumn, age_column, ready_column, reason_column, state_column
from .common import (
    DELETION_POLICY_TEXT,
    AppliedSecretsStatus,
    ComputeResource,
    ComputeSpecBase,
    ComputeStatusBase,
    DeletionPolicy,
    compute_name_field,
    subnet_id_field,
    vm_size_field,
)
from .names import INFERENCE_CLUSTER_NAME, NameLength
from .references import AKS_ID, SecretRef, arm_id_example, arm_id_rule
from .schema import MAX_ARM_ID, MAX_K8S_NAME, immutable_message, immutable_optional, immutable_value, rule, validations

ClusterPurpose = Literal["Production", "DevTest"]
SslStatus = Literal["Enabled", "Disabled", "Auto"]

LOCATION_PATTERN = r"^[a-z][a-z0-9]*$"
# 3 agents of Standard_D3_v2 (4 vCPUs) meet the 12-vCPU minimum Azure sets for Production clusters.
DEFAULT_AGENT_VM_SIZE = "Standard_D3_v2"
DEFAULT_AGENT_COUNT = 3
PRODUCTION_MIN_VCPUS = 12


class AksNetworking(ApiModel):
    """Put the AKS cluster in an existing virtual network subnet."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "cidr(self.serviceCidr).containsIP(self.dnsServiceIP)",
                "spec.create.networking.dnsServiceIP must be an address inside spec.create.networking.serviceCidr",
                reason="FieldValueInvalid",
                field_path=".dnsServiceIP",
            )
        )
    )

    subnet_id: str = subnet_id_field("spec.create.networking.subnetId", "Subnet the agent nodes join.", required=True)
    service_cidr: str = Field(
        max_length=64,
        description="CIDR range for Kubernetes service addresses, e.g. 10.0.0.0/16; must not overlap the subnet.",
        json_schema_extra=validations(
            rule(
                "isCIDR(self)",
                "spec.create.networking.serviceCidr must be a CIDR range such as 10.0.0.0/16",
                reason="FieldValueInvalid",
            )
        ),
    )
    dns_service_ip: str = Field(
        alias="dnsServiceIP",
        max_length=64,
        description="Address of the cluster DNS service, inside serviceCidr, e.g. 10.0.0.10.",
        json_schema_extra=validations(
            rule(
                "isIP(self)",
                "spec.create.networking.dnsServiceIP must be an IP address such as 10.0.0.10",
                reason="FieldValueInvalid",
            )
        ),
    )
    docker_bridge_cidr: str = Field(
        max_length=64,
        description="CIDR of the Docker bridge on each node, e.g. 172.17.0.1/16.",
        json_schema_extra=validations(
            rule(
                "isCIDR(self)",
                "spec.create.networking.dockerBridgeCidr must be a CIDR range such as 172.17.0.1/16",
                reason="FieldValueInvalid",
            )
        ),
    )


class AksCreate(ApiModel):
    """Let Azure ML create a new AKS cluster."""

    model_config = ConfigDict(json_schema_extra=validations(immutable_optional("networking", "spec.create.networking")))

    location: str = Field(
        min_length=1,
        max_length=64,
        description="Azure region of the new cluster, e.g. westeurope. Immutable.",
        json_schema_extra=validations(
            rule(
                f"self.matches('{LOCATION_PATTERN}')",
                "spec.create.location must be an Azure region name in lower case, such as westeurope",
                reason="FieldValueInvalid",
            ),
            immutable_value("spec.create.location"),
        ),
    )
    agent_vm_size: str = vm_size_field(
        "spec.create.agentVmSize",
        f"VM size of the agent nodes (default {DEFAULT_AGENT_VM_SIZE}). Immutable.",
        default=DEFAULT_AGENT_VM_SIZE,
    )
    agent_count: int = Field(
        DEFAULT_AGENT_COUNT,
        ge=1,
        le=100,
        description=f"Number of agent nodes, 1-100 (default {DEFAULT_AGENT_COUNT}). For Production, "
        f"agentCount x vCPUs of agentVmSize must be at least {PRODUCTION_MIN_VCPUS}; the operator "
        "checks that against the region's VM sizes before creating anything. Can be changed.",
    )
    purpose: ClusterPurpose = Field(
        "Production",
        description=f"Production (at least {PRODUCTION_MIN_VCPUS} vCPUs in total) or DevTest (one node is "
        "enough; not for production traffic). Default Production.",
    )
    networking: AksNetworking | None = Field(
        None, description="Virtual network settings; Azure's own network when absent. Immutable."
    )


class AksAttach(ApiModel):
    """Attach an AKS cluster that already exists."""

    aks_resource_id: str = Field(
        max_length=MAX_ARM_ID,
        description=f"ARM id of the AKS cluster ({arm_id_example(*AKS_ID)}). Immutable.",
        json_schema_extra=validations(
            arm_id_rule("spec.attach.aksResourceId", *AKS_ID),
            immutable_value("spec.attach.aksResourceId"),
        ),
    )


class SslConfiguration(ApiModel):
    """TLS for the scoring endpoints."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.status != 'Enabled' || (has(self.certificateSecretRef) && has(self.cname))",
                "spec.ssl.certificateSecretRef and spec.ssl.cname are required when spec.ssl.status is Enabled",
                reason="FieldValueRequired",
                field_path=".certificateSecretRef",
            ),
            rule(
                "self.status == 'Enabled' || !has(self.certificateSecretRef)",
                "spec.ssl.certificateSecretRef is only allowed when spec.ssl.status is Enabled",
                reason="FieldValueForbidden",
                field_path=".certificateSecretRef",
            ),
            rule(
                "self.status == 'Enabled' || !has(self.cname)",
                "spec.ssl.cname is only allowed when spec.ssl.status is Enabled",
                reason="FieldValueForbidden",
                field_path=".cname",
            ),
        )
    )

    status: SslStatus = Field(
        description="Enabled (your certificate), Auto (a certificate Microsoft provides) or Disabled."
    )
    cname: str | None = Field(
        None,
        max_length=MAX_K8S_NAME,
        description="Host name the certificate is for; required when status is Enabled.",
    )
    certificate_secret_ref: SecretRef | None = Field(
        None,
        description="kubernetes.io/tls Secret in this namespace with the certificate (tls.crt) and key "
        "(tls.key); required when status is Enabled.",
    )


class InferenceClusterSpec(ComputeSpecBase):
    """The inference cluster as it should be in Azure: exactly one of create and attach."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.create) != has(self.attach)",
                "spec must set exactly one of spec.create (a new AKS cluster) and spec.attach (an existing one)",
                reason="FieldValueInvalid",
            ),
            rule(
                "has(self.create) == has(oldSelf.create) && has(self.attach) == has(oldSelf.attach)",
                immutable_message("the choice between spec.create and spec.attach"),
                reason="FieldValueForbidden",
            ),
        )
    )

    compute_name: str | None = compute_name_field(INFERENCE_CLUSTER_NAME)
    deletion_policy: DeletionPolicy | None = Field(
        None,
        description=f"{DELETION_POLICY_TEXT} Default: Delete with spec.create, Detach with spec.attach "
        "(the operator resolves it and shows it in status.deletionPolicy).",
    )
    create: AksCreate | None = Field(None, description="Create a new AKS cluster. Immutable choice.")
    attach: AksAttach | None = Field(None, description="Attach an existing AKS cluster. Immutable choice.")
    ssl: SslConfiguration | None = Field(None, description="TLS of the scoring endpoints.")
    kubeconfig_secret_ref: SecretRef | None = Field(
        None,
        description="Secret in this namespace the operator writes the cluster's kubeconfig into (key "
        "'kubeconfig'). The operator creates or updates it; nothing secret goes into status.",
    )

    @property
    def effective_deletion_policy(self) -> DeletionPolicy:
        if self.deletion_policy is not None:
            return self.deletion_policy
        return "Delete" if self.create is not None else "Detach"


class SystemService(ApiModel):
    """A system service Azure ML runs on the cluster."""

    system_service_type: str = Field("", description="Service type, e.g. ScoringFrontEnd.")
    public_ip_address: str | None = Field(None, description="Public IP address of the service.")
    version: str | None = Field(None, description="Version of the service.")


class InferenceClusterStatus(ComputeStatusBase, AppliedSecretsStatus):
    """Observed state of the AKS compute in Azure."""

    cluster_fqdn: str | None = Field(None, description="FQDN of the AKS API server.")
    system_services: list[SystemService] = Field(
        default_factory=list, description="System services Azure ML runs on the cluster."
    )
    agent_count: int | None = Field(None, description="Agent nodes Azure reports.")
    agent_vm_size: str | None = Field(None, description="Agent VM size Azure reports.")
    compute_location: str | None = Field(None, description="Azure region of the cluster.")
    deletion_policy: str | None = Field(
        None, description="The deletion policy in force (spec.deletionPolicy or the default for create/attach)."
    )


class InferenceCluster(ComputeResource):
    """An AKS inference cluster for Azure ML model deployment, created new or attached."""

    KIND: ClassVar[str] = "InferenceCluster"
    PLURAL: ClassVar[str] = "inferenceclusters"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("amlic",)
    NAME_LENGTH: ClassVar[NameLength] = INFERENCE_CLUSTER_NAME
    DESCRIPTION: ClassVar[str] = (
        "InferenceCluster is an Azure Kubernetes Service cluster for deploying models, either created by "
        "Azure ML (spec.create) or an existing cluster attached to the workspace (spec.attach)."
    )
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        ready_column(),
        state_column(),
        PrinterColumn(
            name="VM Size", type="string", json_path=".spec.create.agentVmSize", description="Agent VM size."
        ),
        PrinterColumn(name="Nodes", type="integer", json_path=".status.agentCount", description="Agent nodes."),
        PrinterColumn(
            name="Purpose", type="string", json_path=".spec.create.purpose", description="Production or DevTest."
        ),
        PrinterColumn(
            name="FQDN", type="string", json_path=".status.clusterFqdn", description="API server FQDN.", priority=1
        ),
        reason_column(),
        age_column(),
    )

    kind: Literal["InferenceCluster"] = Field("InferenceCluster", description="InferenceCluster.")
    spec: InferenceClusterSpec = Field(description="The cluster as it should be in Azure.")
    status: InferenceClusterStatus = Field(
        default_factory=InferenceClusterStatus, description="Observed state, written by the operator."
    )
