"""Azure ML compute name rules, as the studio enforces them, in Python and in CEL.

The studio's rules: letters, digits and ``-``; starts with a letter; every ``-`` is followed later
in the name by at least one letter; 3-24 characters (2-16 for inference clusters). The regular
expression below is RE2 (no look-ahead), so the API server and Python share it: either the name
has no ``-`` at all, or the part after its last ``-`` holds a letter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .schema import JsonDict, rule

NAME_PATTERN = r"^[a-zA-Z]([a-zA-Z0-9]*|[a-zA-Z0-9-]*-[a-zA-Z0-9]*[a-zA-Z][a-zA-Z0-9]*)$"
_NAME_RE = re.compile(NAME_PATTERN)

CHARACTER_RULES = "letters, digits and '-', start with a letter, and have a letter somewhere after every '-'"


@dataclass(frozen=True)
class NameLength:
    minimum: int
    maximum: int

    def describe(self) -> str:
        return f"{self.minimum}-{self.maximum} characters of {CHARACTER_RULES}"


COMPUTE_NAME = NameLength(3, 24)  # compute instances, compute clusters, attached computes
INFERENCE_CLUSTER_NAME = NameLength(2, 16)


def name_problem(name: str, length: NameLength) -> str | None:
    """Why ``name`` is not a valid Azure compute name, or None when it is."""
    if not length.minimum <= len(name) <= length.maximum:
        return f"{name!r} has {len(name)} characters; it must have {length.describe()}"
    if not _NAME_RE.match(name):
        return f"{name!r} must be {length.describe()}"
    return None


def is_valid_name(name: str, length: NameLength) -> bool:
    return name_problem(name, length) is None


def _cel_check(expr: str, length: NameLength) -> str:
    return f"size({expr}) >= {length.minimum} && size({expr}) <= {length.maximum} && {expr}.matches('{NAME_PATTERN}')"


def compute_name_rule(length: NameLength) -> JsonDict:
    """Rule on ``spec.computeName`` itself."""
    return rule(
        _cel_check("self", length),
        f"spec.computeName must be {length.describe()}",
        reason="FieldValueInvalid",
    )


def metadata_name_rule(length: NameLength) -> JsonDict:
    """Root rule: without ``spec.computeName`` the object's own name becomes the Azure name."""
    return rule(
        "has(self.spec.computeName) || (" + _cel_check("self.metadata.name", length) + ")",
        "metadata.name is the Azure compute name when spec.computeName is absent, so it must be "
        f"{length.describe()}; set spec.computeName to use another Azure name",
        reason="FieldValueInvalid",
        field_path=".metadata.name",
    )


def compute_name_immutable_rule() -> JsonDict:
    """Root transition rule: the effective Azure name (computeName, else metadata.name) never changes.

    Setting ``spec.computeName`` later to the same value as ``metadata.name`` is therefore allowed,
    because the Azure compute stays the same.
    """
    effective = "(has({o}.spec.computeName) ? {o}.spec.computeName : {o}.metadata.name)"
    return rule(
        effective.format(o="self") + " == " + effective.format(o="oldSelf"),
        "spec.computeName is immutable: delete and recreate the resource to change it",
        reason="FieldValueForbidden",
        field_path=".spec.computeName",
    )
