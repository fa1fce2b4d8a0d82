"""The reconcile loop every compute kind shares: observe → plan → act → status.

Per-kind knowledge (the request body, what may change in place, what the status shows) lives in a
``ComputeDriver``; this module owns the order of things and the safety rules:

* observe with a GET before any write (Azure's PUT overwrites an existing compute);
* record the intent to create in status, and only on the next pass send the PUT, so a crash between
  the two can neither lose the compute nor create it twice;
* never wait for Azure: a write returns an operation URL that is persisted and polled on later passes;
* never touch a compute that is not ours unless the object asks to adopt it; never delete one;
* refuse a change Azure cannot make in place (Stalled/ImmutableFieldChanged), never recreate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol

from aml_operator.api.common import AppliedSecretsStatus, ComputeResource, ComputeStatusBase, LastOperation
from aml_operator.api.common import AzureError as StatusError
from aml_operator.api.conditions import STALLED, find_condition
from aml_operator.reconcile.external import (
    AzureError,
    ComputeClient,
    JsonDict,
    Observation,
    Operation,
    OperationName,
    WorkspaceTarget,
)
from aml_operator.reconcile.outcome import Event, Outcome, State, conditions_for
from aml_operator.reconcile.ownership import Owner, wants_adoption, with_owner_tags, writes_paused
from aml_operator.reconcile.prechecks import Refusal
from aml_operator.reconcile.secret_refs import SecretNeed, applied_versions

TRANSITIONAL_STATES = {"creating", "updating", "deleting"}
PENDING = "Pending"
IN_PROGRESS = "InProgress"
POWER_ACTIONS = ("Start", "Stop", "Restart")


class ComputeDriver(Protocol):
    compute_type: str

    def desired_properties(self, obj: ComputeResource, secrets: Mapping[str, str]) -> JsonDict:
        """``properties.properties`` of the PUT body."""

    def identity(self, obj: ComputeResource) -> JsonDict | None:
        """The managed identity block of the PUT body, if any."""

    def immutable_mismatches(self, obj: ComputeResource, observed: Observation) -> list[str]:
        """Spec fields whose value differs from Azure's and cannot change in place."""

    def scale_change(self, obj: ComputeResource, observed: Observation) -> JsonDict | None:
        """Scale settings to PATCH when they differ from Azure's."""

    def power_action(self, obj: ComputeResource, observed: Observation) -> Literal["Start", "Stop"] | None:
        """Start or stop to bring Azure to the spec's state."""

    def settled(self, obj: ComputeResource, observed: Observation) -> str | None:
        """None when Azure is at rest in the spec's state; else why we wait (e.g. "Starting")."""

    def fill_status(self, status: ComputeStatusBase, observed: Observation) -> None:
        """Copy the kind's Azure facts into status."""

    async def prechecks(self, obj: ComputeResource, client: ComputeClient, target: WorkspaceTarget,
                        location: str) -> Refusal | None:
        """Checks against Azure's catalogue before the first write."""

    def location(self, obj: ComputeResource, workspace_location: str) -> str:
        """The Azure region of the PUT body."""

    def resource_id(self, obj: ComputeResource) -> str | None:
        """``properties.resourceId``: the existing resource an attach points at."""

    def secret_needs(self, obj: ComputeResource) -> Sequence[SecretNeed]:
        """The Secrets whose values the PUT body needs."""

    def update_needed(self, obj: ComputeResource, observed: Observation) -> str | None:
        """Spec fields that differ from Azure and change with a PUT of the whole body (None: none)."""

    def put_events(self, obj: ComputeResource, secrets: Mapping[str, str]) -> Sequence[Event]:
        """Advice to post whenever the body is sent (e.g. a password where a key is better)."""


class DriverDefaults:
    """What a kind without attachments, rotating Secrets or in-place PUT updates answers."""

    def location(self, obj: ComputeResource, workspace_location: str) -> str:
        return workspace_location

    def resource_id(self, obj: ComputeResource) -> str | None:
        return None

    def secret_needs(self, obj: ComputeResource) -> Sequence[SecretNeed]:
        return ()

    def update_needed(self, obj: ComputeResource, observed: Observation) -> str | None:
        return None

    def put_events(self, obj: ComputeResource, secrets: Mapping[str, str]) -> Sequence[Event]:
        return ()


def deletion_policy_of(obj: ComputeResource) -> str:
    """The policy in force: the spec's, else the kind's default (InferenceCluster: by create or attach)."""
    effective = getattr(obj.spec, "effective_deletion_policy", None)
    return str(effective or getattr(obj.spec, "deletion_policy", None) or "Delete")


@dataclass
class ComputeContext:
    client: ComputeClient
    target: WorkspaceTarget
    location: str
    owner: Owner
    now: datetime
    poll_interval: float = 10.0
    secrets: Mapping[str, str] = field(default_factory=dict)
    """Secret values the PUT body needs (passwords, keys); never copied into status or events."""
    secret_versions: Mapping[str, str] = field(default_factory=dict)
    """resourceVersion of each Secret ``secrets`` came from, by Secret name: rotation shows as a new version."""
    observed: Observation | None = None
    """An observation from the workspace-wide list (drift pass); a fresh GET precedes any write anyway."""
    observed_given: bool = False


class _Pass:
    """The state of one reconcile pass over one object."""

    def __init__(self, obj: ComputeResource, driver: ComputeDriver, ctx: ComputeContext) -> None:
        self.obj, self.driver, self.ctx = obj, driver, ctx
        self.status: ComputeStatusBase = obj.status.model_copy(deep=True)
        self.events: list[Event] = []
        self.name = obj.azure_name

    # -- results

    def outcome(self, state: State, reason: str, message: str, *, requeue: float | None = None,
                finished: bool = False, applied: bool = True) -> Outcome:
        generation = self.obj.metadata.generation
        self.status.conditions = conditions_for(self.status.conditions, state, reason, message,
                                                generation=generation, now=self.ctx.now)
        if applied:
            self.status.observed_generation = generation
        if "deletion_policy" in type(self.status).model_fields:
            self.status.deletion_policy = deletion_policy_of(self.obj)  # type: ignore[attr-defined]
        return Outcome(status=self.status.to_json(), requeue_after=requeue, events=self.events,
                       finished=finished, message=message)

    def error(self, exc: AzureError, doing: str) -> Outcome:
        message = f"{doing}: {exc.message}" if exc.message else doing
        if exc.retryable:
            delay = max(exc.retry_after or 0.0, self.ctx.poll_interval)
            return self.outcome("progressing", exc.reason, message, requeue=delay, applied=False)
        self.warn_once(exc.reason, message)
        return self.outcome("stalled", exc.reason, message, applied=False)

    def refuse(self, refusal: Refusal) -> Outcome:
        self.warn_once(refusal.reason, refusal.message)
        return self.outcome("stalled", refusal.reason, refusal.message)

    def warn_once(self, reason: str, message: str) -> None:
        """A Warning when the object becomes Stalled for this reason, not again on every later pass."""
        stalled = find_condition(self.obj.status.conditions, STALLED)
        if stalled is None or stalled.status != "True" or stalled.reason != reason:
            self.events.append(Event("Warning", reason, message))

    def started(self, operation: Operation, what: str) -> Outcome:
        self.status.last_operation = LastOperation(
            operation_name=operation.name, operation_status=IN_PROGRESS if operation.status_url else "Succeeded",
            operation_time=self.ctx.now, async_operation_url=operation.status_url,
        )
        self.events.append(Event("Normal", f"{operation.name}Started", what))
        delay = max(operation.retry_after or 0.0, self.ctx.poll_interval)
        return self.outcome("progressing", _progress_reason(operation.name), what, requeue=delay)

    # -- observation

    def observe_into_status(self, observed: Observation | None) -> None:
        if observed is None:
            self.status.provisioning_state = None
            return
        self.status.azure_resource_id = observed.arm_id or self.ctx.target.compute_id(self.name)
        self.status.provisioning_state = observed.provisioning_state or None
        self.status.provisioning_errors = [StatusError(code=e.code, message=e.message)
                                           for e in observed.provisioning_errors]
        self.driver.fill_status(self.status, observed)

    def desired_body(self) -> JsonDict:
        spec = self.obj.spec
        body: JsonDict = {
            "location": self.driver.location(self.obj, self.ctx.location),
            "tags": with_owner_tags(spec.tags, self.ctx.owner),
            "properties": {
                "computeType": self.driver.compute_type,
                "properties": self.driver.desired_properties(self.obj, self.ctx.secrets),
            },
        }
        if spec.description is not None:
            body["properties"]["description"] = spec.description
        resource_id = self.driver.resource_id(self.obj)
        if resource_id is not None:
            body["properties"]["resourceId"] = resource_id
        identity = self.driver.identity(self.obj)
        if identity is not None:
            body["identity"] = identity
        return body

    async def put(self, name: OperationName) -> Operation:
        """PUT the whole body; remember which Secret versions it carried."""
        operation = replace(await self.ctx.client.put(self.ctx.target, self.name, self.desired_body()), name=name)
        if isinstance(self.status, AppliedSecretsStatus):
            self.status.applied_reference_versions = applied_versions(self.ctx.secret_versions)
        self.events.extend(self.driver.put_events(self.obj, self.ctx.secrets))
        return operation

    def secrets_rotated(self) -> bool:
        """A Secret the body carries has a new version since the last PUT (needs no Azure call to know)."""
        if not isinstance(self.status, AppliedSecretsStatus):
            return False
        return self.status.applied_reference_versions != applied_versions(self.ctx.secret_versions)


def _progress_reason(operation: str) -> str:
    return {"Create": "Creating", "Update": "Updating", "Delete": "Deleting", "Detach": "Detaching",
            "Start": "Starting", "Stop": "Stopping", "Restart": "Restarting"}.get(operation, "Reconciling")


async def _poll_operation(run: _Pass) -> Outcome | None:
    """If an operation is in flight, poll it once: an Outcome to return while it runs, None once done."""
    op = run.status.last_operation
    if op is None or op.operation_status != IN_PROGRESS or not op.async_operation_url:
        return None
    ctx = run.ctx
    try:
        result = await ctx.client.operation_status(ctx.target, op.async_operation_url)
    except AzureError as exc:
        return run.error(exc, f"checking the {op.operation_name} operation")
    if not result.finished:
        delay = max(result.retry_after or 0.0, ctx.poll_interval)
        return run.outcome("progressing", _progress_reason(op.operation_name),
                           f"Azure is working on the {op.operation_name} operation", requeue=delay)
    op.async_operation_url = None
    if result.status == "Succeeded":
        op.operation_status = "Succeeded"
        run.events.append(Event("Normal", f"{op.operation_name}Succeeded",
                                f"Azure finished the {op.operation_name} operation"))
        return None
    op.operation_status = f"{op.operation_name}Failed"
    error = result.error
    message = f"Azure's {op.operation_name} operation failed: " + (
        f"{error.code}: {error.message}" if error else result.status)
    run.events.append(Event("Warning", f"{op.operation_name}Failed", message))
    run.status.provisioning_errors = [StatusError(code=error.code, message=error.message)] if error else []
    return None


async def reconcile_compute(obj: ComputeResource, driver: ComputeDriver, ctx: ComputeContext) -> Outcome:
    run = _Pass(obj, driver, ctx)
    paused = writes_paused(obj.metadata.annotations)

    if not paused:
        polled = await _poll_operation(run)
        if polled is not None:
            return polled

    # Observe. A drift pass hands us the workspace-wide list's view; any write below re-observes first.
    if ctx.observed_given and not paused:
        observed = ctx.observed
        if observed is not None and not _differs(run, observed):
            run.observe_into_status(observed)
            return _at_rest(run, observed)
    try:
        observed = await ctx.client.get(ctx.target, run.name)
    except AzureError as exc:
        return run.error(exc, f"reading compute {run.name}")
    run.observe_into_status(observed)

    if paused:
        message = "azureml.dev/reconcile is skip: the operator only observes this compute"
        return run.outcome("ready" if observed is not None and observed.provisioning_state == "Succeeded"
                           else "progressing", "ReconcileSkipped", message,
                           requeue=None, applied=False)

    if observed is None:
        return await _create(run)
    return await _converge(run, observed)


def _differs(run: _Pass, observed: Observation) -> bool:
    """Whether a drift observation shows anything to act on (then a fresh GET decides)."""
    driver, obj = run.driver, run.obj
    return bool(
        not run.ctx.owner.owns(observed.tags)
        or observed.provisioning_state.lower() in TRANSITIONAL_STATES
        or driver.scale_change(obj, observed)
        or driver.power_action(obj, observed)
        or driver.settled(obj, observed)
        or _tags_or_description_differ(run, observed)
        or driver.update_needed(obj, observed)
        or run.secrets_rotated()
    )


async def _create(run: _Pass) -> Outcome:
    ctx, status = run.ctx, run.status
    op = status.last_operation
    existed_before = status.azure_resource_id is not None and (op is None or op.operation_name != "Create"
                                                                or op.operation_status == "Succeeded")
    if op is None or op.operation_name != "Create" or op.operation_status != PENDING:
        refusal = await run.driver.prechecks(run.obj, ctx.client, ctx.target, ctx.location)
        if refusal is not None:
            return run.refuse(refusal)
        if existed_before:
            run.events.append(Event("Warning", "DeletedInAzure",
                                    f"compute {run.name} was deleted in Azure behind the operator's back; "
                                    "recreating it"))
        # Record the intent first; the PUT happens on the next pass, after this status is stored.
        status.last_operation = LastOperation(operation_name="Create", operation_status=PENDING,
                                              operation_time=ctx.now)
        return run.outcome("progressing", "Creating", f"creating compute {run.name} in Azure", requeue=0.0)
    try:
        operation = await run.put("Create")
    except AzureError as exc:
        status.last_operation = None
        return run.error(exc, f"creating compute {run.name}")
    status.azure_resource_id = ctx.target.compute_id(run.name)
    return run.started(operation, f"creating compute {run.name} in Azure")


def _tags_or_description_differ(run: _Pass, observed: Observation) -> bool:
    spec = run.obj.spec
    wanted_tags = with_owner_tags(spec.tags, run.ctx.owner)
    if dict(observed.tags) != wanted_tags:
        return True
    return spec.description is not None and spec.description != (observed.description or "")


async def _converge(run: _Pass, observed: Observation) -> Outcome:
    ctx, obj, driver = run.ctx, run.obj, run.driver
    if observed.compute_type and observed.compute_type != driver.compute_type:
        return run.refuse(Refusal("AlreadyExists", f"a compute named {run.name} already exists in the workspace "
                                  f"with type {observed.compute_type}, not {driver.compute_type}"))
    adopting = False
    if not ctx.owner.owns(observed.tags):
        if not wants_adoption(obj.metadata.annotations):
            why = ctx.owner.describe_foreign(observed.tags)
            return run.refuse(Refusal(
                "AlreadyExists",
                f"compute {run.name} already exists in the workspace and {why}; the operator leaves it alone. "
                'Annotate this object with azureml.dev/adopt: "true" to take it over.'))
        adopting = True

    state = observed.provisioning_state.lower()
    if state in TRANSITIONAL_STATES:
        return run.outcome("progressing", observed.provisioning_state,
                           f"Azure reports the compute as {observed.provisioning_state}",
                           requeue=ctx.poll_interval)
    if state == "failed":
        errors = "; ".join(f"{e.code}: {e.message}" for e in observed.provisioning_errors) or "no details"
        return run.refuse(Refusal("ProvisioningFailed",
                                  f"Azure reports the compute as Failed ({errors}); delete and recreate "
                                  "the object once the cause is fixed"))

    mismatches = driver.immutable_mismatches(obj, observed)
    if mismatches:
        fields = ", ".join(mismatches)
        return run.refuse(Refusal(
            "ImmutableFieldChanged",
            f"{fields} differ{'s' if len(mismatches) == 1 else ''} from the compute in Azure and cannot be changed "
            "in place: delete and recreate the resource to change it"))

    try:
        scale = driver.scale_change(obj, observed)
        if scale is not None and not adopting:
            operation = await ctx.client.patch_scale(ctx.target, run.name, scale)
            return run.started(operation, f"updating the scale settings of compute {run.name}")
        changed = driver.update_needed(obj, observed)
        rotated = run.secrets_rotated()
        if adopting or changed or rotated or _tags_or_description_differ(run, observed):
            operation = await run.put("Update")
            if adopting:
                run.events.append(Event("Normal", "Adopted", f"took over existing compute {run.name}"))
            why = (f" ({changed} changed)" if changed
                   else " (a referenced Secret changed)" if rotated and not adopting else "")
            return run.started(operation, f"updating compute {run.name}{why}")
        action = driver.power_action(obj, observed)
        if action is not None:
            operation = await ctx.client.power(ctx.target, run.name, action)
            return run.started(operation, f"{action.lower()}ping compute {run.name}".replace("startping",
                                                                                             "starting"))
    except AzureError as exc:
        return run.error(exc, f"updating compute {run.name}")
    return _at_rest(run, observed)


def _at_rest(run: _Pass, observed: Observation) -> Outcome:
    waiting = run.driver.settled(run.obj, observed)
    if waiting is not None:
        return run.outcome("progressing", waiting, f"Azure reports the compute as {waiting}",
                           requeue=run.ctx.poll_interval)
    op = run.status.last_operation
    if op is not None and op.operation_status.endswith("Failed"):
        return run.outcome("stalled", op.operation_status,
                           "; ".join(f"{e.code}: {e.message}" for e in run.status.provisioning_errors)
                           or f"the {op.operation_name} operation failed")
    return run.outcome("ready", "Succeeded", f"compute {run.name} is provisioned and matches the spec")


async def delete_compute(obj: ComputeResource, driver: ComputeDriver, ctx: ComputeContext) -> Outcome:
    """Honour ``spec.deletionPolicy``; ``finished`` only once Azure confirms the compute is gone."""
    run = _Pass(obj, driver, ctx)
    policy = deletion_policy_of(obj)
    if policy == "Orphan" or writes_paused(obj.metadata.annotations):
        why = "deletionPolicy is Orphan" if policy == "Orphan" else "azureml.dev/reconcile is skip"
        run.events.append(Event("Normal", "Orphaned", f"left compute {run.name} in Azure: {why}"))
        return run.outcome("progressing", "Deleting", why, finished=True, applied=False)

    polled = await _poll_operation(run)
    if polled is not None:
        return polled
    try:
        observed = await ctx.client.get(ctx.target, run.name)
    except AzureError as exc:
        return run.error(exc, f"reading compute {run.name} before deleting it")
    if observed is None:
        run.events.append(Event("Normal", "Deleted", f"compute {run.name} is gone from Azure"))
        return run.outcome("progressing", "Deleted", "deleted in Azure", finished=True, applied=False)
    if not ctx.owner.owns(observed.tags):
        run.events.append(Event("Warning", "NotOwned", f"left compute {run.name} in Azure: "
                                f"{ctx.owner.describe_foreign(observed.tags)}"))
        return run.outcome("progressing", "Deleting", "not ours: left in Azure", finished=True, applied=False)
    if observed.provisioning_state.lower() in TRANSITIONAL_STATES:
        return run.outcome("progressing", "Deleting",
                           f"waiting for Azure to finish {observed.provisioning_state} before deleting",
                           requeue=ctx.poll_interval, applied=False)
    action: Literal["Delete", "Detach"] = "Detach" if policy == "Detach" else "Delete"
    try:
        operation = await ctx.client.delete(ctx.target, run.name, action)
    except AzureError as exc:
        return run.error(exc, f"deleting compute {run.name}")
    return run.started(operation, f"{'detaching' if action == 'Detach' else 'deleting'} compute {run.name}")


def waiting_for_workspace(obj: ComputeResource, reason: str, message: str, now: datetime,
                          requeue: float) -> Outcome:
    """The compute cannot proceed until its Workspace is Ready; nothing is sent to Azure."""
    status = obj.status.model_copy(deep=True)
    status.conditions = conditions_for(status.conditions, "waiting", reason, message,
                                       generation=obj.metadata.generation, now=now)
    return Outcome(status=status.to_json(), requeue_after=requeue, message=message)
