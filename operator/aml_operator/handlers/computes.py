"""Handlers of every compute kind: parse the body, call the reconcile core, apply the outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import kopf

from aml_operator.api.attached_compute import AttachedCompute
from aml_operator.api.base import GROUP, VERSION
from aml_operator.api.common import ComputeResource
from aml_operator.api.compute_cluster import ComputeCluster
from aml_operator.api.compute_instance import ComputeInstance
from aml_operator.api.inference_cluster import InferenceCluster
from aml_operator.handlers import outcome
from aml_operator.reconcile import attached_compute
from aml_operator.reconcile.compute_cluster import ComputeClusterDriver
from aml_operator.reconcile.compute_instance import ComputeInstanceDriver
from aml_operator.reconcile.computes import ComputeDriver
from aml_operator.reconcile.inference_cluster import InferenceClusterDriver
from aml_operator.runtime import Runtime
from aml_operator.settings import Settings

SETTINGS = Settings.from_env()
POLL = SETTINGS.poll_interval
INTENT_GRACE = 5.0
"""Seconds the change handler that recorded an intent to create has to send its PUT (it needs ~0.5 s)."""
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
    obj = model.model_validate(body)
    return obj, driver_for(obj)


def _workspace(body: kopf.Body, workspaces_by_name: kopf.Index[Any, Any]) -> Any:
    ref = (body.get("spec") or {}).get("workspaceRef", {}).get("name", "")
    found = list(workspaces_by_name.get((body.metadata.namespace, ref), []))
    return found[0] if found else None


def _put_imminent(body: kopf.Body) -> bool:
    """A change handler recorded the intent to create a moment ago and comes straight back to PUT: its
    turn. An older intent (recorded by the timer, or left by a refused PUT with a retry) is the timer's."""
    status = body.get("status") or {}
    operation = status.get("lastOperation") or {}
    if operation.get("operationName") != "Create" or operation.get("operationStatus") != "Pending" \
            or status.get("retry") or not operation.get("operationTime"):
        return False
    recorded = datetime.fromisoformat(str(operation["operationTime"]).replace("Z", "+00:00"))
    return (datetime.now(UTC) - recorded).total_seconds() < INTENT_GRACE


async def compute_reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                            resource: kopf.Resource,
                            workspaces_by_name: kopf.Index[Any, Any], **_: Any) -> None:
    """A change or a restart: one pass at once. Only the step from a recorded intent to its PUT comes back
    here; everything that waits (operations, retries, drift) is the resync timer's."""
    runtime: Runtime = memo.runtime
    obj, driver = _parse(body, resource)
    result = await runtime.reconcile_compute(obj, driver, _workspace(body, workspaces_by_name))
    outcome.apply(result, body, patch, logger)
    if result.requeue_after == 0:
        outcome.requeue(result)


async def compute_resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                            resource: kopf.Resource,
                         workspaces_by_name: kopf.Index[Any, Any], **_: Any) -> None:
    """Level-triggered pass: follows up work in flight, retries on schedule, notices changes made in Azure.

    Ticks every poll interval but costs no Azure call at rest: the drift check reads the workspace-wide
    snapshot, refreshed once per drift interval.
    """
    if body.metadata.get("deletionTimestamp") or _put_imminent(body):
        return  # the delete handler, or the change handler about to PUT, has the object
    if body.metadata.get("generation") != (body.get("status") or {}).get("observedGeneration"):
        return  # a spec change the change handlers have not taken yet
    runtime: Runtime = memo.runtime
    obj, driver = _parse(body, resource)
    result = await runtime.reconcile_compute(obj, driver, _workspace(body, workspaces_by_name), resync=True)
    outcome.apply(result, body, patch, logger)


async def compute_delete(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                            resource: kopf.Resource,
                         workspaces_by_name: kopf.Index[Any, Any], **_: Any) -> None:
    runtime: Runtime = memo.runtime
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
    kopf.timer(GROUP, VERSION, plural, id=f"{plural}_resync", interval=POLL, idle=POLL)(compute_resync)
    kopf.on.delete(GROUP, VERSION, plural, id=f"{plural}_delete")(compute_delete)
    kopf.index(GROUP, VERSION, plural, id=f"{plural}_by_workspace")(_by_workspace)
