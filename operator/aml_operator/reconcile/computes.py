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
from aml_operator.reconcile.ownership import Owner, with_owner_tags, writes_paused
from aml_operator.reconcile.planner import (
    TRANSITIONAL_STATES,
    Act,
    AzureView,
    Create,
    Facts,
    Finish,
    ObservationFailed,
    PatchScale,
    Power,
    Report,
    Update,
    Write,
    is_write,
    plan,
    plan_delete,
)
from aml_operator.reconcile.prechecks import Refusal
from aml_operator.reconcile.retry import BACKOFF_BASE, due, retry_class, schedule
from aml_operator.reconcile.secret_refs import SecretNeed, applied_versions

PENDING = "Pending"
IN_PROGRESS = "InProgress"
FIRST_POLL = 1.0
"""Seconds before work in flight is first looked at again when Azure gives no Retry-After: a one-node
create can be done in a second, and each later look waits as long as the operation has run (doubling)."""


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

    def action_needed(self, obj: ComputeResource, observed: Observation) -> Act | None:
        """A setting that differs from Azure and changes through the compute's own action."""

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

    def action_needed(self, obj: ComputeResource, observed: Observation) -> Act | None:
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
    observed: AzureView = None
    """What the workspace-wide list showed (resync pass); a fresh GET precedes any write anyway."""
    observed_given: bool = False
    looked: Observation | None = None
    """What this pass's own GET found, when the compute exists: fresher than the list's view of it."""
    listed_absent: bool = False
    """The workspace-wide list (at most a drift interval old) has no compute of this name."""
    changed: bool = True
    """The object changed or the operator restarted: a failed step runs again at once, whatever the backoff."""
    inputs: str = ""
    """Versions of the Workspace and Secrets this pass uses: a change retries a failed step at once."""
    jitter: float = 0.5
    """In [0, 1): spreads the backoff of objects that failed together."""
    backoff_base: float = BACKOFF_BASE
    """Seconds before the first retry of a failure that needs a person."""


class _Pass:
    """The state of one reconcile pass over one object."""

    def __init__(self, obj: ComputeResource, driver: ComputeDriver, ctx: ComputeContext) -> None:
        self.obj, self.driver, self.ctx = obj, driver, ctx
        self.status: ComputeStatusBase = obj.status.model_copy(deep=True)
        self.events: list[Event] = []
        self.name = obj.azure_name
        self.presumed_absent = False
        """This pass decided without a GET (a new object): the compute is taken not to exist."""

    # -- results

    def outcome(self, state: State, reason: str, message: str, *, requeue: float | None = None,
                finished: bool = False) -> Outcome:
        generation = self.obj.metadata.generation
        self.status.conditions = conditions_for(self.status.conditions, state, reason, message,
                                                generation=generation, now=self.ctx.now)
        # kstatus: the conditions were computed from this generation, whatever they say.
        self.status.observed_generation = generation
        if "deletion_policy" in type(self.status).model_fields:
            self.status.deletion_policy = deletion_policy_of(self.obj)  # type: ignore[attr-defined]
        return Outcome(status=self.status.to_json(), requeue_after=requeue, events=self.events,
                       finished=finished, message=message, state=state, reason=reason)

    def failed(self, reason: str, message: str, *, retryable: bool, retry_after: float | None = None,
               unknown: bool = False) -> Outcome:
        """The one error boundary of a pass: classify, schedule the retry, report once per reason.

        ``unknown``: Azure could not even be read, so whether the compute is Ready is not known."""
        klass = retry_class(reason, retryable)
        ctx = self.ctx
        self.status.retry = schedule(self.status.retry, klass, reason, ctx.now, ctx.inputs,
                                     poll_interval=ctx.poll_interval, retry_after=retry_after, jitter=ctx.jitter,
                                     backoff_base=ctx.backoff_base)
        if klass == "soon":
            return self.outcome("unknown" if unknown else "progressing", reason, message)
        self.warn_once(reason, message)
        return self.outcome("stalled", reason, message)

    def error(self, exc: AzureError, doing: str) -> Outcome:
        message = f"{doing}: {exc.message}" if exc.message else doing
        return self.failed(exc.reason, message, retryable=exc.retryable, retry_after=exc.retry_after)

    def warn_once(self, reason: str, message: str) -> None:
        """A Warning when the object becomes Stalled for this reason, not again on every later pass."""
        stalled = find_condition(self.obj.status.conditions, STALLED)
        if stalled is None or stalled.status != "True" or stalled.reason != reason:
            self.events.append(Event("Warning", reason, message))

    def report(self, decision: Report) -> Outcome:
        if decision.state == "stalled":
            self.warn_once(decision.reason, decision.message)
        if decision.state != "unknown":
            self.status.retry = None  # Azure was read and nothing is to be written: no failed step is pending
        return self.outcome(decision.state, decision.reason, decision.message,
                            requeue=self.next_poll() if decision.poll else None)

    def next_poll(self, retry_after: float | None = None) -> float:
        """When to look at work in flight again: Azure's Retry-After, else as long as our operation has run
        (at least ``FIRST_POLL``, so 1, 2, 4 … seconds), at most the poll interval."""
        if retry_after:
            return retry_after
        op = self.status.last_operation
        age = (self.ctx.now - op.operation_time).total_seconds() if op and op.operation_time else float("inf")
        return min(self.ctx.poll_interval, max(FIRST_POLL, age))

    def hold(self) -> Outcome:
        """A failed step waits for its retry time: the status stays as the failure left it."""
        return Outcome(status=self.status.to_json(), message="waiting to retry",
                       state="held", reason=self.status.retry.reason if self.status.retry else "")

    def taken_by_another(self, operation: Operation) -> Outcome | None:
        """Azure's answer to our PUT names another owner: someone else's write won the race for the name.

        The compute is theirs: nothing more is written to it and a deletion leaves it (every later pass
        reads its owner tags before acting), and the object says whose it is."""
        tags = operation.tags
        if tags is None or self.ctx.owner.owns(tags):
            return None
        self.status.last_operation = None  # no write of ours is in flight on a compute that is not ours
        self.status.azure_resource_id = self.ctx.target.compute_id(self.name)  # seen: later passes look first
        self.status.retry = None
        return self.report(Report("stalled", "AlreadyExists",
                                  f"compute {self.name} belongs to another owner after the write: "
                                  f"{self.ctx.owner.describe_foreign(tags)}; the operator leaves it alone"))

    def started(self, operation: Operation, what: str) -> Outcome:
        self.status.last_operation = LastOperation(
            operation_name=operation.name, operation_status=IN_PROGRESS if operation.status_url else "Succeeded",
            operation_time=self.ctx.now, async_operation_url=operation.status_url,
        )
        self.status.retry = None
        self.events.append(Event("Normal", f"{operation.name}Started", what))
        return self.outcome("progressing", _progress_reason(operation.name), what,
                            requeue=self.next_poll(operation.retry_after))

    # -- observation

    async def look(self) -> AzureView:
        try:
            found = await self.ctx.client.get(self.ctx.target, self.name)
        except AzureError as exc:
            return ObservationFailed(exc)
        self.ctx.looked = found
        return found

    def observe_into_status(self, azure: AzureView) -> None:
        if isinstance(azure, ObservationFailed):
            return  # keep the last facts; the conditions say they may be stale
        if azure is None:
            self.status.provisioning_state = None
            return
        op = self.status.last_operation
        if op is not None and op.operation_status in (PENDING, IN_PROGRESS) and self.ctx.owner.owns(azure.tags) \
                and (not op.async_operation_url or _create_in_flight(op)):
            # Our write reached Azure (a crash lost its answer, it finished at once, or it is a create, whose
            # compute tells as much as the operation): Azure's state is the truth.
            state = azure.provisioning_state.lower()
            if state in TRANSITIONAL_STATES:
                op.operation_status = IN_PROGRESS
            else:
                if op.operation_status == IN_PROGRESS and op.async_operation_url and state == "succeeded":
                    self.events.append(Event("Normal", "CreateSucceeded", "Azure finished the Create operation"))
                op.operation_status = "CreateFailed" if state == "failed" and _create_in_flight(op) else "Succeeded"
                op.async_operation_url = None
        self.status.azure_resource_id = azure.arm_id or self.ctx.target.compute_id(self.name)
        self.status.provisioning_state = azure.provisioning_state or None
        self.status.provisioning_errors = [StatusError(code=e.code, message=e.message)
                                           for e in azure.provisioning_errors]
        self.driver.fill_status(self.status, azure)

    def facts(self, azure: AzureView) -> Facts:
        op = self.status.last_operation
        failed = op.operation_status if op is not None and op.operation_status.endswith("Failed") else None
        errors = "; ".join(f"{e.code}: {e.message}" for e in self.status.provisioning_errors)
        return Facts(self.obj, self.driver, self.ctx.owner, azure, secrets_rotated=self.secrets_rotated(),
                     last_operation_failed=failed, last_operation_errors=errors)

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


def _create_in_flight(op: LastOperation | None) -> bool:
    """Our create runs in Azure: the compute's own GET answers whether it is done (one read, which also
    refreshes the status), so its operation status is read only when the compute cannot be seen."""
    return op is not None and op.operation_name == "Create" and op.operation_status == IN_PROGRESS


def _never_written(status: ComputeStatusBase) -> bool:
    """No pass has recorded a write or seen the compute in Azure: a new object."""
    return status.last_operation is None and status.azure_resource_id is None and status.provisioning_state is None


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
        return run.outcome("progressing", _progress_reason(op.operation_name),
                           f"Azure is working on the {op.operation_name} operation",
                           requeue=run.next_poll(result.retry_after))
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
    """One pass: every decision is the planner's; this function only reads Azure and carries it out."""
    run = _Pass(obj, driver, ctx)
    paused = writes_paused(obj.metadata.annotations)
    if not paused and not _create_in_flight(run.status.last_operation):
        polled = await _poll_operation(run)
        if polled is not None:
            return polled

    if ctx.observed_given:
        # The workspace-wide list decides when nothing is to be written; a write looks again first.
        decision = plan(run.facts(ctx.observed))
        run.observe_into_status(ctx.observed)
        if not is_write(decision):
            assert isinstance(decision, Report)
            return run.report(decision)
    if not ctx.changed and not due(run.status.retry, ctx.now, ctx.inputs):
        return run.hold()

    if ctx.listed_absent and _never_written(run.status) and not ctx.observed_given and not paused:
        # A new object whose name the workspace list lacks only records its intent to create on this pass,
        # and the pass that PUTs looks first: a GET here would be a second read of the same compute.
        run.presumed_absent = True
        return await _decide(run, None)
    azure = await run.look()
    if azure is None and _create_in_flight(run.status.last_operation):
        # Azure accepted our create yet shows no compute: its operation says whether it is still coming.
        polled = await _poll_operation(run)
        if polled is not None:
            return polled
    return await _decide(run, azure)


async def _decide(run: _Pass, azure: AzureView) -> Outcome:
    run.observe_into_status(azure)
    decision = plan(run.facts(azure))
    if isinstance(decision, Report):
        if isinstance(azure, ObservationFailed):
            return run.failed(decision.reason, decision.message, retryable=azure.error.retryable,
                              retry_after=azure.error.retry_after, unknown=True)
        return run.report(decision)
    try:
        return await _act(run, decision)
    except AzureError as exc:
        return run.error(exc, f"{_doing(decision)} compute {run.name}")


def _doing(decision: Write) -> str:
    if isinstance(decision, Create):
        return "creating"
    if isinstance(decision, Power):
        return "starting" if decision.action == "Start" else "stopping"
    return "updating"


async def _act(run: _Pass, decision: Write) -> Outcome:
    ctx = run.ctx
    if isinstance(decision, Create):
        return await _create(run)
    if isinstance(decision, PatchScale):
        operation = await ctx.client.patch_scale(ctx.target, run.name, decision.scale)
        return run.started(operation, f"updating the scale settings of compute {run.name}")
    if isinstance(decision, Update):
        operation = await run.put("Update")
        foreign = run.taken_by_another(operation)
        if foreign is not None:
            return foreign
        if decision.adopting:
            run.events.append(Event("Normal", "Adopted", f"took over existing compute {run.name}"))
        why = f" ({decision.why})" if decision.why else ""
        return run.started(operation, f"updating compute {run.name}{why}")
    if isinstance(decision, Act):
        operation = await ctx.client.act(ctx.target, run.name, decision.action, decision.body)
        return run.started(operation, f"updating {decision.field} of compute {run.name}")
    operation = await ctx.client.power(ctx.target, run.name, decision.action)
    return run.started(operation, f"{_doing(decision)} compute {run.name}")


async def _create(run: _Pass) -> Outcome:
    ctx, status = run.ctx, run.status
    op = status.last_operation
    pending = op is not None and op.operation_name == "Create" and op.operation_status == PENDING
    if not pending:
        # Azure's catalogue first: a refusal here costs no write. Once the intent is recorded, Azure's own
        # answer to the PUT decides (the catalogue lists may be cached and older than the refusal).
        refusal = await run.driver.prechecks(run.obj, ctx.client, ctx.target, ctx.location)
        if refusal is not None and refusal.blocking:
            if run.presumed_absent:  # a refusal must be about a compute that does not exist: look first
                run.presumed_absent = False
                azure = await run.look()
                if azure is not None:
                    return await _decide(run, azure)
            return run.failed(refusal.reason, refusal.message, retryable=False)
        note = ""
        if refusal is not None:
            run.events.append(Event("Warning", refusal.reason, refusal.message))
            note = f" (note: {refusal.message})"
        existed_before = status.azure_resource_id is not None and (op is None or op.operation_name != "Create"
                                                                    or op.operation_status == "Succeeded")
        if existed_before:
            run.events.append(Event("Warning", "DeletedInAzure",
                                    f"compute {run.name} was deleted in Azure behind the operator's back; "
                                    "recreating it"))
        # Record the intent first; the PUT happens on the next pass, after this status is stored.
        status.last_operation = LastOperation(operation_name="Create", operation_status=PENDING,
                                              operation_time=ctx.now)
        return run.outcome("progressing", "Creating", f"creating compute {run.name} in Azure{note}", requeue=0.0)
    # The GET of this very pass found nothing: the PUT follows the look immediately. A refused PUT keeps
    # the intent, so the retry neither flaps through Creating nor forgets it may have created something.
    operation = await run.put("Create")
    foreign = run.taken_by_another(operation)
    if foreign is not None:
        return foreign
    status.azure_resource_id = ctx.target.compute_id(run.name)
    return run.started(operation, f"creating compute {run.name} in Azure")


async def delete_compute(obj: ComputeResource, driver: ComputeDriver, ctx: ComputeContext) -> Outcome:
    """Honour ``spec.deletionPolicy``; ``finished`` only once Azure confirms the compute is gone."""
    run = _Pass(obj, driver, ctx)
    policy = deletion_policy_of(obj)
    paused = writes_paused(obj.metadata.annotations)
    if policy == "Orphan" or paused:
        why = "deletionPolicy is Orphan" if policy == "Orphan" else "azureml.dev/reconcile is skip"
        run.events.append(Event("Normal", "Orphaned", f"left compute {run.name} in Azure: {why}"))
        return run.outcome("progressing", "Deleting", why, finished=True)

    polled = await _poll_operation(run)
    if polled is not None:
        return polled
    azure = await run.look()
    decision = plan_delete(azure, ctx.owner, run.name)
    if isinstance(decision, Report):
        if isinstance(azure, ObservationFailed):
            return run.error(azure.error, f"reading compute {run.name} before deleting it")
        return run.outcome(decision.state, decision.reason, decision.message,
                           requeue=ctx.poll_interval if decision.poll else None)
    if isinstance(decision, Finish):
        run.events.append(Event(decision.event_type, decision.reason, decision.message))
        return run.outcome("progressing", "Deleted" if decision.reason == "Deleted" else "Deleting",
                           decision.message, finished=True)
    action: Literal["Delete", "Detach"] = "Detach" if policy == "Detach" else "Delete"
    try:
        operation = await ctx.client.delete(ctx.target, run.name, action)
    except AzureError as exc:
        return run.error(exc, f"deleting compute {run.name}")
    return run.started(operation, f"{'detaching' if action == 'Detach' else 'deleting'} compute {run.name}")
