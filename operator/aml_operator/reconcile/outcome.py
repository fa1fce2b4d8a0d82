"""What one reconcile pass decided: the status to write, events to post, and when to come back.

The core never writes to Kubernetes itself; the handler applies an ``Outcome`` (and writes nothing
when the status did not change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from aml_operator.api.conditions import READY, RECONCILING, STALLED, Condition, ConditionStatus, set_condition

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Outcome:
    status: JsonDict
    """The whole status, camelCase, as it should be stored."""
    requeue_after: float | None = None
    """Come back after this many seconds (an operation in flight, a retry); None: nothing pending."""
    events: list[Event] = field(default_factory=list)
    finished: bool = False
    """Deletion only: Azure is done with the object, the finalizer may go."""
    message: str = ""
    """What the pass found or did, for the operator's own log."""
    state: str = ""
    """The ``State`` the conditions were set to, or "held" when a failed step waits for its retry time."""
    reason: str = ""


State = Literal["ready", "progressing", "stalled", "waiting", "unknown"]


def conditions_for(conditions: list[Condition], state: State, reason: str, message: str, *,
                   generation: int, now: datetime) -> list[Condition]:
    """The three kstatus conditions for one of four situations.

    ready       Ready=True,  Reconciling=False, Stalled=False
    progressing Ready=False, Reconciling=True,  Stalled=False  (work in flight, or a retry pending)
    waiting     like progressing; the object waits for something outside Azure (its Workspace)
    stalled     Ready=False, Reconciling=False, Stalled=True   (a person must act)
    unknown     Ready=Unknown, Reconciling=True, Stalled=False (Azure could not be read: the last facts may be stale)
    """
    ready: ConditionStatus = "True" if state == "ready" else "Unknown" if state == "unknown" else "False"
    reconciling: ConditionStatus = "True" if state in ("progressing", "waiting", "unknown") else "False"
    stalled: ConditionStatus = "True" if state == "stalled" else "False"
    quiet = "" if state == "ready" else message
    result = set_condition(conditions, READY, ready, reason, message, observed_generation=generation, now=now)
    result = set_condition(result, RECONCILING, reconciling, reason if reconciling == "True" else "Idle",
                           quiet if reconciling == "True" else "", observed_generation=generation, now=now)
    return set_condition(result, STALLED, stalled, reason if stalled == "True" else "NotStalled",
                         quiet if stalled == "True" else "", observed_generation=generation, now=now)
