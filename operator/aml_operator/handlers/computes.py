"""Handlers of every compute kind: parse the body, call the reconcile core, apply the outcome."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from aml_operator.api.attached_compute import AttachedCompute
from aml_operator.api.base import GROUP, VERSION
from aml_operator.api.common import UNFINISHED, ComputeResource
from aml_operator.api.compute_cluster import ComputeCluster
from aml_operator.api.compute_instance import ComputeInstance
from aml_operator.api.inference_cluster import InferenceCluster
from aml_operator.handlers import outcome
from aml_operator.look_schedule import Look, WorkspaceKey
from aml_operator.reconcile import attached_compute
from aml_operator.reconcile.compute_cluster import ComputeClusterDriver
from aml_operator.reconcile.compute_instance import ComputeInstanceDriver
from aml_operator.reconcile.computes import ComputeDriver
from aml_operator.reconcile.inference_cluster import InferenceClusterDriver
from aml_operator.reconcile.outcome import Outcome
from aml_operator.reconcile.retry import next_look
from aml_operator.runtime import Runtime, now
from aml_operator.settings import Settings

SETTINGS = Settings.from_env()
POLL = SETTINGS.poll_interval
RESYNC = max(SETTINGS.drift_interval, POLL)
"""Seconds between a resting compute's looks at its workspace's list. The list is renewed once per drift
interval, so looking more often finds nothing new. Work in flight, waiting or failing is looked at sooner
(``next_look``)."""
FOLLOW_BUDGET = 3.0
"""Seconds a change handler call stays with the operation it started (looks at 1 s and 3 s) before kopf
calls it again: a create Azure finishes in a second is Ready a second after its PUT."""
INTENT_GRACE = 60.0
"""Seconds a change handler that asked kopf to call it again (an intent to PUT, an operation to follow) has
to come back before its Workspace's driver may look at the object: kopf first writes the status and its retry
state, which a busy API server can take many seconds to accept (10 s let a look in: 20 second PUTs in 5,000
creates)."""
_CHANGE_HANDLER_HAS: dict[str, float] = {}
"""uid → monotonic deadline: a change handler is running or comes straight back (to PUT the intent it
recorded, to follow its operation); ``look``, which sees only the stored status, keeps away meanwhile.
An intent a look recorded, or one left from before a restart, is the looks'."""
RESOURCES: dict[str, kopf.Resource] = {}
"""plural → the resource as kopf discovered it (its status subresource included): what a look patches."""
DriverFor = Callable[[ComputeResource], ComputeDriver]


def _always(driver: ComputeDriver) -> DriverFor:
    return lambda _obj: driver


# plural → (model, the driver for an object: AttachedCompute picks one by spec.type)
KINDS: dict[str, tuple[type[ComputeResource], DriverFor]] = {
    ComputeCluster.PLURAL: (ComputeCluster, _always(ComputeClusterDriver())),
    ComputeInstance.PLURAL: (ComputeInstance, _always(ComputeInstanceDriver())),
    InferenceCluster.PLURAL: (InferenceCluster, _always(InferenceClusterDriver())),
    AttachedCompute.PLURAL: (AttachedCompute, attached_compute.driver_for),
}


def _parse(body: kopf.Body, resource: kopf.Resource) -> tuple[ComputeResource, ComputeDriver]:
    model, driver_for = KINDS[resource.plural]
    obj = model.model_validate(dict(body))
    return obj, driver_for(obj)


def workspace_key(body: Mapping[str, Any]) -> WorkspaceKey:
    """(namespace, name) of the Workspace the object references (``spec.workspaceRef`` is immutable)."""
    ref = (body.get("spec") or {}).get("workspaceRef", {}).get("name", "")
    return str((body.get("metadata") or {}).get("namespace") or ""), str(ref)


def workspace_of(body: Mapping[str, Any], workspaces_by_name: kopf.Index[Any, Any]) -> Any:
    """The body of the Workspace the object references, None when there is none."""
    found = list(workspaces_by_name.get(workspace_key(body), []))
    return found[0] if found else None


async def compute_reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                            resource: kopf.Resource,
                            workspaces_by_name: kopf.Index[Any, Any], **_: Any) -> None:
    """A change or a restart: one pass at once, then the PUT of a recorded intent and the operation it
    started, until Azure ends it. What waits otherwise (a Workspace, a retry, drift) is for the looks of
    its Workspace's driver: the first comes a poll interval after the last change."""
    runtime: Runtime = memo.runtime
    uid = str(body.metadata.uid)
    RESOURCES.setdefault(resource.plural, resource)
    # However long its turn takes to come (behind thousands of others), a look meanwhile would read and
    # try to write the same compute.
    _CHANGE_HANDLER_HAS[uid] = math.inf
    coming_back_by: float | None = None
    try:
        result = await _pass_and_follow(runtime, body, resource, workspace_of(body, workspaces_by_name),
                                        resync=False, budget=FOLLOW_BUDGET)
        outcome.apply(result, body, patch, logger)
        if result.requeue_after is not None and _in_flight(result):
            # Looks keep away: the operation this handler started is its to follow.
            coming_back_by = time.monotonic() + result.requeue_after + INTENT_GRACE
            outcome.requeue(result)
    finally:
        if coming_back_by is None:
            _CHANGE_HANDLER_HAS.pop(uid, None)
        else:
            _CHANGE_HANDLER_HAS[uid] = coming_back_by
        runtime.looks.look_in(workspace_key(body), Look(uid, resource.plural), POLL)


async def look(body: kopf.Body, resource: kopf.Resource, runtime: Runtime, workspace: Mapping[str, Any] | None,
               settings: kopf.OperatorSettings, logger: kopf.ObjectLogger) -> float | None:
    """Level-triggered pass, run by its Workspace's driver (``compute_looks``): follows up work in flight,
    retries on schedule, notices changes made in Azure. Returns the seconds until the next look; None
    when the object is being deleted (the delete handler has it).

    At rest it comes once per drift interval and costs no Azure call: the drift check reads the
    workspace-wide list, renewed once per drift interval. While something is pending it comes back when
    ``next_look`` says.
    """
    if body.metadata.get("deletionTimestamp"):
        return None
    uid = str(body.metadata.uid)
    if (_CHANGE_HANDLER_HAS.get(uid, 0) > time.monotonic()
            or body.metadata.get("generation") != (body.get("status") or {}).get("observedGeneration")):
        # The change handler has the object (or a spec change it has not taken yet): look again soon, in
        # case it hands over a step that waits.
        return POLL
    if runtime.still_resting(uid, str(body.metadata.get("resourceVersion") or ""), workspace):
        return RESYNC  # most looks at a resting object end here
    result = await _pass_and_follow(runtime, body, resource, workspace, resync=True, budget=POLL)
    patch = kopf.Patch()
    outcome.apply(result, body, patch, logger)
    if not await outcome.write(patch, body, resource, settings, logger):
        return None  # gone meanwhile
    wait = next_look(result, now(), POLL)
    return max(outcome.MIN_REQUEUE, wait) if wait is not None and wait < RESYNC else RESYNC


def _in_flight(result: Outcome) -> bool:
    """An intent to create recorded (its PUT comes next) or an operation Azure is still running."""
    operation = result.status.get("lastOperation") or {}
    return result.requeue_after == 0 or operation.get("operationStatus") in UNFINISHED


async def _pass_and_follow(runtime: Runtime, body: kopf.Body, resource: kopf.Resource,
                           workspace: Mapping[str, Any] | None, *, resync: bool, budget: float) -> Outcome:
    """One pass; while it leaves an operation in flight that asks to be looked at again soon (Azure's
    Retry-After, else 1, 2, 4 … s), wait and look again, up to ``budget`` seconds in all.

    The operation's URL and intent are already stored or recoverable from Azure (a crash here resumes
    from Azure's state), so only the last status is written; the events of every pass are posted."""
    model, driver_for = KINDS[resource.plural]
    async with runtime.admitted(body.get("status")):
        obj = model.model_validate(dict(body))  # kopf's live body resolves every lookup through its views
        driver = driver_for(obj)
        result = await runtime.reconcile_compute(obj, driver, workspace, resync=resync)
    events, waited = list(result.events), 0.0
    while result.requeue_after and waited + result.requeue_after < budget:
        await asyncio.sleep(result.requeue_after)  # between passes the slot is another's
        waited += result.requeue_after
        async with runtime.admitted(result.status):
            obj = model.model_validate({**body, "status": result.status})
            result = await runtime.reconcile_compute(obj, driver, workspace, resync=resync)
        events.extend(result.events)
    result.events = events
    return result


async def compute_delete(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                            resource: kopf.Resource,
                         workspaces_by_name: kopf.Index[Any, Any], **_: Any) -> None:
    runtime: Runtime = memo.runtime
    runtime.looks.forget(str(body.metadata.uid))
    async with runtime.admitted(body.get("status"), deleting=True):
        obj, driver = _parse(body, resource)
        result = await runtime.delete_compute(obj, driver, workspace_of(body, workspaces_by_name))
    outcome.apply(result, body, patch, logger)
    if not result.finished:
        raise kopf.TemporaryError(result.message or "waiting for Azure to delete the compute",
                                  delay=max(outcome.MIN_REQUEUE, result.requeue_after or POLL))


def _by_workspace(name: str, body: kopf.Body, resource: kopf.Resource, **_: Any) -> dict[WorkspaceKey, str]:
    return {workspace_key(body): f"{resource.kind}/{name}"}


def _body_by_uid(uid: str, body: kopf.Body, **_: Any) -> dict[str, kopf.Body]:
    """What a look reads: the object as the last watch event showed it."""
    return {uid: body}


for plural in KINDS:
    kopf.on.create(GROUP, VERSION, plural, id=f"{plural}_reconcile")(compute_reconcile)
    kopf.on.update(GROUP, VERSION, plural, id=f"{plural}_reconcile")(compute_reconcile)
    kopf.on.resume(GROUP, VERSION, plural, id=f"{plural}_reconcile")(compute_reconcile)
    kopf.on.delete(GROUP, VERSION, plural, id=f"{plural}_delete")(compute_delete)
    kopf.index(GROUP, VERSION, plural, id=f"{plural}_by_workspace")(_by_workspace)
    kopf.index(GROUP, VERSION, plural, id=f"{plural}_bodies")(_body_by_uid)
