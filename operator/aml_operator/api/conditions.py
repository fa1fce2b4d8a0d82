"""kstatus-compatible conditions: Ready, Reconciling and Stalled.

``kubectl wait --for=condition=Ready``, Argo CD and Flux read these. ``lastTransitionTime`` only
moves when a condition's status flips, which ``set_condition`` takes care of.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .base import ApiModel
from .schema import validations

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
CONDITION_TYPES = (READY, RECONCILING, STALLED)

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """One observation of the object's state, in the Kubernetes condition shape."""

    type: str = Field(max_length=64, description="Condition type: Ready, Reconciling or Stalled.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        "",
        max_length=128,
        description="PascalCase machine-readable reason, e.g. Succeeded, Creating, QuotaExceeded, "
        "ImmutableFieldChanged, CredentialsInvalid.",
    )
    message: str = Field("", max_length=32768, description="Human-readable detail; never holds a secret.")
    last_transition_time: datetime = Field(
        description="When the status last changed (not when the condition was last written)."
    )
    observed_generation: int = Field(
        0, ge=0, description="metadata.generation of the spec this condition was computed from."
    )


def condition_list_field() -> Any:
    """The ``conditions`` field: a list keyed by ``type`` so server-side apply merges it per type."""
    return Field(
        default_factory=list,
        max_length=16,
        description="Ready (True when Azure reports Succeeded and the spec is applied), Reconciling "
        "(work in flight) and Stalled (an error that needs a person: quota, immutable change, "
        "bad credentials).",
        json_schema_extra=validations(**{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
    )


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((condition for condition in conditions if condition.type == type_), None)


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    observed_generation: int,
    now: datetime,
) -> list[Condition]:
    """A new list with ``type_`` set; the transition time is kept when the status did not change."""
    previous = find_condition(conditions, type_)
    since = previous.last_transition_time if previous is not None and previous.status == status else now
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=observed_generation,
    )
    others = [condition for condition in conditions if condition.type != type_]
    return sorted([*others, updated], key=lambda c: (_order(c.type), c.type))


def _order(type_: str) -> int:
    return CONDITION_TYPES.index(type_) if type_ in CONDITION_TYPES else len(CONDITION_TYPES)
