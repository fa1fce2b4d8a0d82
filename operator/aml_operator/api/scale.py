"""Autoscale settings of a compute cluster: the only part Azure changes in place."""

from __future__ import annotations

import re

from pydantic import ConfigDict, Field

from .base import ApiModel
from .schema import rule, validations

# ISO-8601 duration (PnYnMnWnDTnHnMnS); "P" alone and a trailing "T" are refused separately because
# RE2 has no look-ahead to say "at least one part".
ISO_DURATION_PATTERN = r"^P([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T([0-9]+H)?([0-9]+M)?([0-9]+([.][0-9]+)?S)?)?$"
_ISO_DURATION_RE = re.compile(ISO_DURATION_PATTERN)


def is_iso_duration(value: str) -> bool:
    return value != "P" and not value.endswith("T") and _ISO_DURATION_RE.match(value) is not None


class ScaleSettings(ApiModel):
    """How many nodes the cluster may have; Azure scales between the two with the job queue."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.minNodeCount <= self.maxNodeCount",
                "spec.scaleSettings.minNodeCount must be less than or equal to spec.scaleSettings.maxNodeCount",
                reason="FieldValueInvalid",
                field_path=".minNodeCount",
            )
        )
    )

    max_node_count: int = Field(
        ge=1, description="Most nodes the cluster scales up to when jobs are queued (at least 1). Can be changed."
    )
    min_node_count: int = Field(
        0,
        ge=0,
        description="Nodes kept even when idle (default 0: pay nothing when the cluster is idle). "
        "At most maxNodeCount. Can be changed.",
    )
    node_idle_time_before_scale_down: str | None = Field(
        None,
        max_length=64,
        description="How long a node stays idle before Azure removes it, as an ISO-8601 duration such "
        "as PT120S or PT5M; Azure's default applies when absent. Can be changed.",
        json_schema_extra=validations(
            rule(
                f"self != 'P' && !self.endsWith('T') && self.matches('{ISO_DURATION_PATTERN}')",
                "spec.scaleSettings.nodeIdleTimeBeforeScaleDown must be an ISO-8601 duration such as PT120S or PT5M",
                reason="FieldValueInvalid",
            )
        ),
    )
