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
interval, so looking more often finds nothing new and costs a kopf handler call per object. Work in flight,
waiting or failing is looked at sooner (``next_look``)."""
FOLLOW_BUDGET = 3.0
"""Seconds a change handler call stays with the operation it started (looks at 1 s and 3 s) before kopf
calls it again: a create Azure finishes in a second is Ready a second after its PUT."""
INTENT_GRACE = 60.0
"""Seconds a change handler that asked kopf to call it again (an intent to PUT, an operation to follow) has
to come back before the timer may take the object: kopf first writes the status and its retry state, which
a busy API server can take many seconds to accept (10 s let the timer in: 20 second PUTs in 5,000 creates)."""
_CHANGE_HANDLER_HAS: dict[str, float] = {}
"""uid → monotonic deadline: a change handler is running or comes straight back (to PUT the intent it
recorded, to follow its operation); the timer, which sees only the stored status, keeps away meanwhile.
An intent the timer recorded, or one left from before a restart, is the timer's."""
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


def _workspace(body: kopf.Body, workspaces_by_name: kopf.Index[Any, Any]) -> Any:
    ref = (body.get("spec") or {}).get("workspaceRef", {}).get("name", "")
    found = list(workspaces_by_name.get((body.metadata.namespace, ref), []))
    return found[0] if found else None


async def compute_reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                            resource: kopf.Resource,
                            workspaces_by_name: kopf.Index[Any, Any], **_: Any) -> None:
    """A change or a restart: one pass at once, then the PUT of a recorded intent and the operation it
    started, until Azure ends it. What waits otherwise (a Workspace, a retry, drift) is the resync timer's."""
    runtime: Runtime = memo.runtime
    uid = str(body.metadata.uid)
    # However long its turn takes to come (behind thousands of others), a timer pass meanwhile would read
    # and try to write the same compute.
    _CHANGE_HANDLER_HAS[uid] = math.inf
    coming_back_by: float | None = None
    try:
        result = await _pass_and_follow(runtime, body, resource, _workspace(body, workspaces_by_name),
                                        resync=False, budget=FOLLOW_BUDGET)
        outcome.apply(result, body, patch, logger)
        if result.requeue_after is not None and _in_flight(result):
            # The timer rests for a drift interval: the operation this handler started is its to follow.
            coming_back_by = time.monotonic() + result.requeue_after + INTENT_GRACE
            outcome.requeue(result)
    finally:
        if coming_back_by is None:
            _CHANGE_HANDLER_HAS.pop(uid, None)
        else:
            _CHANGE_HANDLER_HAS[uid] = coming_back_by


async def compute_resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                            resource: kopf.Resource,
                         workspaces_by_name: kopf.Index[Any, Any], **_: Any) -> None:
    """Level-triggered pass: follows up work in flight, retries on schedule, notices changes made in Azure.

    At rest it ticks once per drift interval and costs no Azure call: the drift check reads the
    workspace-wide list, renewed once per drift interval. While something is pending it comes back when
    ``next_look`` says (kopf keeps the delay in memory: no write).
    """
    if body.metadata.get("deletionTimestamp"):
        return  # the delete handler has the object
    uid = str(body.metadata.uid)
    if (_CHANGE_HANDLER_HAS.get(uid, 0) > time.monotonic()
            or body.metadata.get("generation") != (body.get("status") or {}).get("observedGeneration")):
        # The change handler has the object (or a spec change it has not taken yet): look again soon, in
        # case it hands over a step that waits.
        raise kopf.TemporaryError("the change handler has the object", delay=POLL)
    runtime: Runtime = memo.runtime
    workspace = _workspace(body, workspaces_by_name)
    if runtime.still_resting(uid, str(body.metadata.get("resourceVersion") or ""), workspace):
        return  # most ticks of a resting object end here
    result = await _pass_and_follow(runtime, body, resource, workspace, resync=True, budget=POLL)
    outcome.apply(result, body, patch, logger)
    wait = next_look(result, now(), POLL)
    if wait is not None and wait < RESYNC:
        raise kopf.TemporaryError(result.message or "waiting", delay=max(outcome.MIN_REQUEUE, wait))


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
    async with runtime.admitted(body.get("status"), deleting=True):
        obj, driver = _parse(body, resource)
        result = await runtime.delete_compute(obj, driver, _workspace(body, workspaces_by_name))
    outcome.apply(result, body, patch, logger)
    if not result.finished:
        raise kopf.TemporaryError(result.message or "waiting for Azure to delete the compute",
                                  delay=max(outcome.MIN_REQUEUE, result.requeue_after or POLL))


def _by_workspace(namespace: str, name: str, spec: kopf.Spec, resource: kopf.Resource,
                  **_: Any) -> dict[tuple[str, str], str]:
    return {(namespace, spec.get("workspaceRef", {}).get("name", "")): f"{resource.kind}/{name}"}


for plural in KINDS:
    kopf.on.create(GROUP, VERSION, plural, id=f"{plural}_reconcile")(compute_reconcile)
    kopf.on.update(GROUP, VERSION, plural, id=f"{plural}_reconcile")(compute_reconcile)
    kopf.on.resume(GROUP, VERSION, plural, id=f"{plural}_reconcile")(compute_reconcile)
    kopf.timer(GROUP, VERSION, plural, id=f"{plural}_resync", interval=RESYNC, idle=POLL)(compute_resync)
    kopf.on.delete(GROUP, VERSION, plural, id=f"{plural}_delete")(compute_delete)
    kopf.index(GROUP, VERSION, plural, id=f"{plural}_by_workspace")(_by_workspace)
