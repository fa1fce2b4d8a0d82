"""References: to a Workspace, to Secrets in the same namespace, and to Azure resources by ARM id.

References to Kubernetes objects carry a name only: there is no namespace field to misuse, so a
compute can never borrow another namespace's Workspace or Secret.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from .base import ApiModel
from .schema import MAX_K8S_NAME, JsonDict, rule, validations

DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_SUBDOMAIN_TEXT = "a Kubernetes object name (lower-case letters, digits, '-' and '.', at most 253 characters)"

# RE2 and Python agree on these; no backslashes so they survive CEL string literals unchanged.
GUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
RESOURCE_GROUP_PATTERN = "[-a-zA-Z0-9_.()]{1,90}"
_SEGMENT = "[^/]+"


def arm_id_pattern(namespace: str | None = None, *types: str) -> str:
    """Regular expression for an ARM resource id, optionally of one resource type.

    ``arm_id_pattern("Microsoft.Network", "virtualNetworks", "subnets")`` matches
    ``/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>``.
    ARM compares ids case-insensitively, and so does the pattern.
    """
    prefix = f"(?i)^/subscriptions/{GUID_PATTERN}/resourceGroups/{RESOURCE_GROUP_PATTERN}/providers/"
    if namespace is None:
        return prefix + f"[a-z0-9]+([.][a-z0-9]+)+(/{_SEGMENT}/{_SEGMENT})+$"
    typed = "".join(f"/{type_name}/{_SEGMENT}" for type_name in types)
    return prefix + namespace.replace(".", "[.]") + typed + "$"


def arm_id_example(namespace: str, *types: str) -> str:
    names = "".join(f"/{type_name}/<name>" for type_name in types)
    return f"/subscriptions/<subscription-id>/resourceGroups/<group>/providers/{namespace}{names}"


def arm_id_rule(field_shown_as: str, namespace: str, *types: str) -> JsonDict:
    return rule(
        f"self.matches('{arm_id_pattern(namespace, *types)}')",
        f"{field_shown_as} must be an Azure resource id of the form {arm_id_example(namespace, *types)}",
        reason="FieldValueInvalid",
    )


def matches_arm_id(value: str, namespace: str | None = None, *types: str) -> bool:
    return re.match(arm_id_pattern(namespace, *types), value) is not None


SUBNET_ID = ("Microsoft.Network", "virtualNetworks", "subnets")
USER_ASSIGNED_IDENTITY_ID = ("Microsoft.ManagedIdentity", "userAssignedIdentities")
AKS_ID = ("Microsoft.ContainerService", "managedClusters")


def k8s_name_rule(field_shown_as: str) -> JsonDict:
    return rule(
        f"self.matches('{DNS_SUBDOMAIN_PATTERN}')",
        f"{field_shown_as} must be {DNS_SUBDOMAIN_TEXT}",
        reason="FieldValueInvalid",
    )


def _name_field(shown_as: str, what: str) -> Any:
    return Field(
        min_length=1,
        max_length=MAX_K8S_NAME,
        description=what,
        json_schema_extra=validations(k8s_name_rule(shown_as)),
    )


class WorkspaceRef(ApiModel):
    """The Workspace (same namespace) whose Azure ML workspace holds this compute."""

    name: str = _name_field(
        "spec.workspaceRef.name", "Name of a Workspace object in the same namespace as this object."
    )


class SecretRef(ApiModel):
    """A Secret in the same namespace as the referring object (there is deliberately no namespace field)."""

    name: str = _name_field("the Secret name", "Name of a Secret in the same namespace as this object.")
