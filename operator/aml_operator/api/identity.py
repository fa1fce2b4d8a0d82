"""Managed identity of a compute cluster: how its nodes reach other Azure resources."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from .base import ApiModel
from .references import USER_ASSIGNED_IDENTITY_ID, arm_id_example, arm_id_pattern
from .schema import MAX_ARM_ID, rule, validations

IdentityType = Literal["SystemAssigned", "UserAssigned", "SystemAssigned,UserAssigned"]
MAX_USER_ASSIGNED_IDENTITIES = 10

_HAS_USER = "self.type.contains('UserAssigned')"
_IDS = "has(self.userAssignedIdentities) && size(self.userAssignedIdentities) > 0"


class ManagedIdentity(ApiModel):
    """A system-assigned identity, user-assigned identities, or both."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                f"!{_HAS_USER} || ({_IDS})",
                "spec.identity.userAssignedIdentities is required when spec.identity.type includes UserAssigned",
                reason="FieldValueRequired",
                field_path=".userAssignedIdentities",
            ),
            rule(
                f"{_HAS_USER} || !has(self.userAssignedIdentities)",
                "spec.identity.userAssignedIdentities is only allowed when spec.identity.type includes UserAssigned",
                reason="FieldValueForbidden",
                field_path=".userAssignedIdentities",
            ),
        )
    )

    type: IdentityType = Field(description="SystemAssigned, UserAssigned, or SystemAssigned,UserAssigned.")
    user_assigned_identities: list[Annotated[str, StringConstraints(max_length=MAX_ARM_ID)]] | None = Field(
        None,
        max_length=MAX_USER_ASSIGNED_IDENTITIES,
        description="ARM ids of user-assigned managed identities "
        f"({arm_id_example(*USER_ASSIGNED_IDENTITY_ID)}); required with UserAssigned.",
        json_schema_extra=validations(
            rule(
                f"self.all(x, x.matches('{arm_id_pattern(*USER_ASSIGNED_IDENTITY_ID)}'))",
                "spec.identity.userAssignedIdentities must hold Azure resource ids of the form "
                + arm_id_example(*USER_ASSIGNED_IDENTITY_ID),
                reason="FieldValueInvalid",
            ),
            **{"x-kubernetes-list-type": "set"},
        ),
    )
