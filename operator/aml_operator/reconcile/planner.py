"""One decision for every pass: from the spec, what Azure shows and the last status, what to do next.

Every entry point (create, update, resume, a look with a workspace-list snapshot, a fresh
GET before a write) asks ``plan``; none has rules of its own. So a pass that read Azure from the
shared list can never call Ready what a pass that read it with a GET would refuse.

``plan`` is pure: no I/O, no clock. The caller acts on the decision (and, before any write, looks
at Azure again and plans once more).

Decision table, first match wins (what Azure shows, the spec, the last status):

==================================  ===========================================  ==========================
Azure shows                         condition                                    action
==================================  ===========================================  ==========================
observation failed, transient       Ready=Unknown, Reconciling (error's reason)  retry soon
observation failed, needs a person  Stalled (error's reason)                     retry with backoff
nothing                             Reconciling/Creating                         Create
another computeType                 Stalled/AlreadyExists                        none
not ours, no adopt annotation       Stalled/AlreadyExists naming the owner       none
Creating/Updating/Deleting          Reconciling/<state>                          poll
Failed                              Stalled/ProvisioningFailed                   none
immutable field differs             Stalled/ImmutableFieldChanged                none
writes paused (reconcile: skip)     Ready or Reconciling / ReconcileSkipped      none
scale differs (ours)                Reconciling/Updating                         PatchScale
adopting, body/tags/Secret differ   Reconciling/Updating                         Update (PUT)
a setting with its own action       Reconciling/Updating                         Act (POST the action)
power state differs                 Reconciling/Starting|Stopping                Power
power state in transition           Reconciling/<state>                          poll
last operation of ours failed       Stalled/<Operation>Failed                    none
else                                Ready/Succeeded                              none
==================================  ===========================================  ==========================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from aml_operator.api.common import ComputeResource
from aml_operator.reconcile.external import AzureError, JsonDict, Observation
from aml_operator.reconcile.outcome import State
from aml_operator.reconcile.ownership import Owner, wants_adoption, with_owner_tags, writes_paused

TRANSITIONAL_STATES = {"creating", "updating", "deleting"}


class PlanningDriver(Protocol):
    """The pure part of a kind's driver the planner reads."""

    compute_type: str

    def immutable_mismatches(self, obj: ComputeResource, observed: Observation) -> list[str]: ...

    def scale_change(self, obj: ComputeResource, observed: Observation) -> JsonDict | None: ...

    def power_action(self, obj: ComputeResource, observed: Observation) -> Literal["Start", "Stop"] | None: ...

    def settled(self, obj: ComputeResource, observed: Observation) -> str | None: ...

    def update_needed(self, obj: ComputeResource, observed: Observation) -> str | None: ...

    def action_needed(self, obj: ComputeResource, observed: Observation) -> Act | None: ...


@dataclass(frozen=True)
class ObservationFailed:
    """Azure could not be read this pass: the status must not keep claiming what it last saw."""

    error: AzureError


AzureView = Observation | ObservationFailed | None
"""What Azure shows: the compute, nothing (it does not exist), or a failed look."""


@dataclass(frozen=True)
class Facts:
    obj: ComputeResource
    driver: PlanningDriver
    owner: Owner
    azure: AzureView
    secrets_rotated: bool = False
    """A Secret the body carries has a new version since the last PUT."""
    last_operation_failed: str | None = None
    """``<Operation>Failed`` when our last operation failed in Azure, else None."""
    last_operation_errors: str = ""


@dataclass(frozen=True)
class Create:
    pass


@dataclass(frozen=True)
class PatchScale:
    scale: JsonDict


@dataclass(frozen=True)
class Update:
    why: str
    """What differs, for the message (empty when only tags or the description do)."""
    adopting: bool


@dataclass(frozen=True)
class Power:
    action: Literal["Start", "Stop"]


@dataclass(frozen=True)
class Act:
    """A setting Azure changes on an existing compute through an action of its own, not a PUT (an instance's
    idle shutdown: a PUT sets it at creation only)."""

    action: str
    body: JsonDict
    field: str
    """The spec field it brings to Azure, for the message."""


Write = Create | PatchScale | Update | Act | Power


@dataclass(frozen=True)
class Report:
    """No write: the conditions to show."""

    state: State
    reason: str
    message: str
    poll: bool = False
    """Azure is busy with the compute: look again after the poll interval."""


Decision = Write | Report


def is_write(decision: Decision) -> bool:
    return not isinstance(decision, Report)


def plan(facts: Facts) -> Decision:
    obj, driver, owner, azure = facts.obj, facts.driver, facts.owner, facts.azure
    name = obj.azure_name
    if isinstance(azure, ObservationFailed):
        return _unobserved(azure.error, name)
    if azure is None:
        if writes_paused(obj.metadata.annotations):
            return Report("progressing", "ReconcileSkipped",
                          f"azureml.dev/reconcile is skip and compute {name} does not exist in Azure")
        return Create()

    if azure.compute_type and azure.compute_type != driver.compute_type:
        return Report("stalled", "AlreadyExists",
                      f"a compute named {name} already exists in the workspace with type {azure.compute_type}, "
                      f"not {driver.compute_type}; the operator leaves it alone")
    adopting = not owner.owns(azure.tags)
    if adopting and not wants_adoption(obj.metadata.annotations):
        return Report("stalled", "AlreadyExists",
                      f"compute {name} already exists in the workspace and {owner.describe_foreign(azure.tags)}; "
                      'the operator leaves it alone. Annotate this object with azureml.dev/adopt: "true" '
                      "to take it over.")

    state = azure.provisioning_state.lower()
    if state in TRANSITIONAL_STATES:
        return Report("progressing", azure.provisioning_state,
                      f"Azure reports the compute as {azure.provisioning_state}", poll=True)
    if state == "failed":
        errors = "; ".join(f"{e.code}: {e.message}" for e in azure.provisioning_errors) or "no details"
        return Report("stalled", "ProvisioningFailed",
                      f"Azure reports compute {name} as Failed ({errors}); delete and recreate the object "
                      "once the cause is fixed")
    mismatches = driver.immutable_mismatches(obj, azure)
    if mismatches:
        fields = ", ".join(mismatches)
        verb = "differs" if len(mismatches) == 1 else "differ"
        return Report("stalled", "ImmutableFieldChanged",
                      f"{fields} {verb} from the compute in Azure and cannot be changed in place: "
                      "delete and recreate the resource to change it")

    if writes_paused(obj.metadata.annotations):
        ready: State = "ready" if state == "succeeded" else "progressing"
        return Report(ready, "ReconcileSkipped",
                      "azureml.dev/reconcile is skip: the operator only observes this compute")

    scale = driver.scale_change(obj, azure)
    if scale is not None and not adopting:
        return PatchScale(scale)
    changed = driver.update_needed(obj, azure)
    if adopting or changed or facts.secrets_rotated or _tags_or_description_differ(obj, owner, azure):
        why = (f"{changed} changed" if changed
               else "a referenced Secret changed" if facts.secrets_rotated and not adopting else "")
        return Update(why, adopting)
    act = driver.action_needed(obj, azure)
    if act is not None:
        return act
    action = driver.power_action(obj, azure)
    if action is not None:
        return Power(action)
    waiting = driver.settled(obj, azure)
    if waiting is not None:
        return Report("progressing", waiting, f"Azure reports the compute as {waiting}", poll=True)
    if facts.last_operation_failed:
        return Report("stalled", facts.last_operation_failed,
                      facts.last_operation_errors or f"the last operation on compute {name} failed")
    return Report("ready", "Succeeded", f"compute {name} is provisioned and matches the spec")


@dataclass(frozen=True)
class Delete:
    pass


@dataclass(frozen=True)
class Finish:
    """The finalizer may go: nothing of ours is left in Azure to delete."""

    event_type: Literal["Normal", "Warning"]
    reason: str
    message: str


def plan_delete(azure: AzureView, owner: Owner, name: str) -> Delete | Finish | Report:
    """A deletion under ``deletionPolicy`` Delete or Detach (Orphan never asks): someone else's compute stays."""
    if isinstance(azure, ObservationFailed):
        return _unobserved(azure.error, name)
    if azure is None:
        return Finish("Normal", "Deleted", f"compute {name} is gone from Azure")
    if not owner.owns(azure.tags):
        return Finish("Warning", "NotOwned", f"left compute {name} in Azure: {owner.describe_foreign(azure.tags)}")
    if azure.provisioning_state.lower() in TRANSITIONAL_STATES:
        return Report("progressing", "Deleting",
                      f"waiting for Azure to finish {azure.provisioning_state} before deleting", poll=True)
    return Delete()


def _unobserved(error: AzureError, name: str) -> Report:
    message = f"could not read compute {name} from Azure: {error.message or error.code}"
    if error.retryable:
        return Report("unknown", error.reason, message)
    return Report("stalled", error.reason, message)


def _tags_or_description_differ(obj: ComputeResource, owner: Owner, observed: Observation) -> bool:
    spec = obj.spec
    if dict(observed.tags) != with_owner_tags(spec.tags, owner):
        return True
    return spec.description is not None and spec.description != (observed.description or "")

