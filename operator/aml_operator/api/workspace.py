"""Workspace: where an Azure ML workspace is and which credentials reach it."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from .base import ApiModel, KubeResource, PrinterColumn, age_column, ready_column, reason_column
from .common import StatusBase
from .references import GUID_PATTERN, SecretRef
from .schema import MAX_K8S_NAME, immutable_value, rule, validations

Cloud = Literal["AzurePublicCloud", "AzureChinaCloud", "AzureUSGovernment"]

RESOURCE_GROUP_NAME_PATTERN = r"^[-a-zA-Z0-9_.()]*[-a-zA-Z0-9_()]$"
WORKSPACE_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"

# The keys the operator reads from the credentials Secret.
SECRET_KEY_TENANT_ID = "tenantId"
SECRET_KEY_CLIENT_ID = "clientId"
SECRET_KEY_CLIENT_SECRET = "clientSecret"
SECRET_KEY_CLIENT_CERTIFICATE = "clientCertificate"

# A ServiceAccount name is a DNS-1123 subdomain (what the API server checks when one is created).
SERVICE_ACCOUNT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def _guid_field(path: str, description: str) -> Any:
    return Field(
        max_length=36,
        description=description,
        json_schema_extra=validations(
            rule(
                f"self.matches('^{GUID_PATTERN}$')",
                f"{path} must be a GUID such as 00000000-0000-0000-0000-000000000000",
                reason="FieldValueInvalid",
            )
        ),
    )


class WorkloadIdentity(ApiModel):
    """A Microsoft Entra application or managed identity that trusts a ServiceAccount of this namespace."""

    client_id: str = _guid_field(
        "spec.credentials.workloadIdentity.clientId",
        "Client (application) id of the Entra application or user-assigned managed identity.",
    )
    tenant_id: str = _guid_field("spec.credentials.workloadIdentity.tenantId", "Entra tenant (directory) id.")
    service_account_name: str = Field(
        max_length=MAX_K8S_NAME,
        description="ServiceAccount in this namespace whose tokens the identity's federated credential trusts "
        "(subject system:serviceaccount:<namespace>:<name>, audience api://AzureADTokenExchange). The operator "
        "requests short-lived tokens for it; nothing is stored.",
        json_schema_extra=validations(
            rule(
                f"self.matches('{SERVICE_ACCOUNT_NAME_PATTERN}')",
                "spec.credentials.workloadIdentity.serviceAccountName must be a ServiceAccount name (lower-case "
                "letters, digits, '-' and '.', starting and ending with a letter or digit)",
                reason="FieldValueInvalid",
            )
        ),
    )


class WorkspaceCredentials(ApiModel):
    """How the operator authenticates to Azure for this workspace: a Secret, a ServiceAccount, or its own identity."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "(has(self.secretRef) ? 1 : 0) + (has(self.workloadIdentity) ? 1 : 0)"
                " + (self.useOperatorIdentity ? 1 : 0) == 1",
                "spec.credentials must set exactly one of secretRef, workloadIdentity and useOperatorIdentity: true",
                reason="FieldValueInvalid",
            )
        )
    )

    secret_ref: SecretRef | None = Field(
        None,
        description=f"Secret in this namespace holding a service principal: keys {SECRET_KEY_TENANT_ID}, "
        f"{SECRET_KEY_CLIENT_ID}, and {SECRET_KEY_CLIENT_SECRET} or {SECRET_KEY_CLIENT_CERTIFICATE} (PEM).",
    )
    workload_identity: WorkloadIdentity | None = Field(
        None,
        description="Workload identity federation: the operator requests a token for a ServiceAccount of this "
        "namespace and exchanges it with Entra ID; no secret is stored anywhere.",
    )
    use_operator_identity: bool = Field(
        False,
        description="Use the operator's own identity (workload identity, managed identity or its service "
        "principal). Honoured only when the operator is configured to allow it for this namespace.",
    )


class WorkspaceSpec(ApiModel):
    """The Azure ML workspace computes in this namespace belong to."""

    subscription_id: str = Field(
        max_length=36,
        description="Azure subscription id (a GUID). Immutable.",
        json_schema_extra=validations(
            rule(
                f"self.matches('^{GUID_PATTERN}$')",
                "spec.subscriptionId must be a GUID such as 00000000-0000-0000-0000-000000000000",
                reason="FieldValueInvalid",
            ),
            immutable_value("spec.subscriptionId"),
        ),
    )
    resource_group: str = Field(
        max_length=90,
        description="Resource group of the workspace: 1-90 letters, digits, '-', '_', '.', '(' and ')', "
        "not ending in '.'. Immutable.",
        json_schema_extra=validations(
            rule(
                f"self.matches('{RESOURCE_GROUP_NAME_PATTERN}')",
                "spec.resourceGroup must be 1-90 letters, digits, '-', '_', '.', '(' and ')', not ending in '.'",
                reason="FieldValueInvalid",
            ),
            immutable_value("spec.resourceGroup"),
        ),
    )
    workspace_name: str = Field(
        max_length=33,
        description="Name of the Azure ML workspace: 3-33 letters, digits, '-' and '_', starting with a "
        "letter or digit. Immutable.",
        json_schema_extra=validations(
            rule(
                f"size(self) >= 3 && self.matches('{WORKSPACE_NAME_PATTERN}')",
                "spec.workspaceName must be 3-33 letters, digits, '-' and '_', starting with a letter or digit",
                reason="FieldValueInvalid",
            ),
            immutable_value("spec.workspaceName"),
        ),
    )
    cloud: Cloud = Field(
        "AzurePublicCloud",
        description="Azure cloud of the subscription. Its endpoints come from the operator's settings, "
        "never from this object, so a user cannot send credentials to an endpoint of their choosing.",
    )
    credentials: WorkspaceCredentials = Field(description="How the operator authenticates to Azure.")


class WorkspaceStatus(StatusBase):
    """What the operator found in Azure. Ready means the workspace was reached with the credentials."""

    azure_resource_id: str | None = Field(None, description="ARM id of the Azure ML workspace.")
    location: str | None = Field(None, description="Azure region of the workspace, e.g. westeurope.")
    provisioning_state: str | None = Field(None, description="Azure provisioning state of the workspace.")


class Workspace(KubeResource):
    """An Azure ML workspace that computes in the same namespace refer to by spec.workspaceRef."""

    KIND: ClassVar[str] = "Workspace"
    PLURAL: ClassVar[str] = "workspaces"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("amlws",)
    DESCRIPTION: ClassVar[str] = (
        "Workspace points at an Azure Machine Learning workspace and the credentials that reach it. "
        "Computes in the same namespace refer to it by spec.workspaceRef.name."
    )
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        ready_column(),
        PrinterColumn(
            name="Workspace", type="string", json_path=".spec.workspaceName", description="Azure ML workspace name."
        ),
        PrinterColumn(
            name="Resource Group", type="string", json_path=".spec.resourceGroup", description="Resource group."
        ),
        PrinterColumn(name="Location", type="string", json_path=".status.location", description="Azure region."),
        reason_column(),
        age_column(),
    )

    kind: Literal["Workspace"] = Field("Workspace", description="Workspace.")
    spec: WorkspaceSpec = Field(description="Where the workspace is and how to reach it.")
    status: WorkspaceStatus = Field(
        default_factory=WorkspaceStatus, description="Observed state, written by the operator."
    )
