"""Helpers that put Kubernetes OpenAPI extras (CEL rules, defaults, list types) into pydantic models.

The models are the single source of truth for ``crds/``: every rule the API server enforces is
written next to the field it guards, through these helpers, and ``aml_operator.crdgen`` copies
them into the generated YAML unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

JsonDict = dict[str, Any]

# The reasons the API server accepts for a CEL rule; they become the error type shown by kubectl.
Reason = Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"]

VALIDATIONS_KEY = "x-kubernetes-validations"

IMMUTABLE_SUFFIX = "is immutable: delete and recreate the resource to change it"


def rule(cel: str, message: str, *, reason: Reason | None = None, field_path: str | None = None) -> JsonDict:
    """One ``x-kubernetes-validations`` entry. ``message`` must name the field and say what is allowed."""
    entry: JsonDict = {"rule": cel, "message": message}
    if reason is not None:
        entry["reason"] = reason
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: JsonDict, **extras: Any) -> JsonDict:
    """A ``json_schema_extra`` dict holding CEL rules plus any other OpenAPI keys (``default``, ...)."""
    extra: JsonDict = dict(extras)
    if rules:
        extra[VALIDATIONS_KEY] = list(rules)
    return extra


def immutable_message(shown_as: str) -> str:
    return f"{shown_as} {IMMUTABLE_SUFFIX}"


def immutable_value(shown_as: str) -> JsonDict:
    """Field-level transition rule for a field that is always present (required or defaulted).

    The API server evaluates it only on updates where both the old and new value exist, which is
    every update for such a field.
    """
    return rule("self == oldSelf", immutable_message(shown_as), reason="FieldValueForbidden")


def immutable_optional(field: str, shown_as: str) -> JsonDict:
    """Parent-level transition rule for an optional field: adding, removing and changing it are refused.

    A rule on the field itself would not run when the field is added or removed, so the rule sits
    on the parent object (which always exists) and points ``fieldPath`` at the field.
    """
    cel = f"has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})"
    return rule(cel, immutable_message(shown_as), reason="FieldValueForbidden", field_path=f".{field}")


def cel_string_list(values: list[str] | tuple[str, ...]) -> str:
    """Render a Python list of plain strings as a CEL list literal."""
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


# Limits that keep CEL rules cheap enough for the API server's cost budget and match Azure's own limits.
MAX_TAGS = 50  # Azure allows 50 tags per resource.
MAX_TAG_NAME = 512  # Azure: tag names up to 512 characters.
MAX_TAG_VALUE = 256  # Azure: tag values up to 256 characters.
MAX_DESCRIPTION = 1024
MAX_K8S_NAME = 253  # DNS-1123 subdomain, the shape of a Secret or Workspace name.
MAX_ARM_ID = 1024
MAX_VM_SIZE = 64
