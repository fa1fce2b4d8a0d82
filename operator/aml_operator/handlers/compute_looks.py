"""One driver per Workspace looks at its computes when their looks are due (``look_schedule``).

kopf would keep a timer per compute: a task, its stopper, handles and the object's body for as long as
the object exists, thousands of them at rest. Here each Workspace has one daemon; a compute's change
handler plans its first look, and each look plans the next (at rest once per drift interval). The
bodies come from an index the watch keeps current. kopf stops the daemons while the operator is
paused (peering) and starts them again: the schedule is kept in the runtime, so nothing planned is lost.
kopf also stops a daemon when its Workspace is being deleted; the Workspace's delete handler, which comes
back every few seconds while computes still use it, takes the looks due instead (``look_at_due_now``), so
the computes say their Workspace is going. A compute whose Workspace does not exist yet waits until it does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from aml_operator.api.base import GROUP, VERSION
from aml_operator.handlers.computes import POLL, RESOURCES, look, workspace_of
from aml_operator.look_schedule import Look, WorkspaceKey
from aml_operator.runtime import Runtime

AWAKE_AT_LEAST_EVERY = 60.0
"""Seconds a driver sleeps at most with nothing due (a plan made meanwhile wakes it, and so does kopf
asking it to stop)."""
AFTER_A_FAULT = 60.0
"""Seconds before a look that failed on our side is tried again (kopf's own backoff for a failed timer)."""


@kopf.daemon(GROUP, VERSION, "workspaces", id="compute_looks")
async def drive_compute_looks(stopped: kopf.DaemonStopped, namespace: str, name: str, memo: kopf.Memo,
                              workspaces_by_name: kopf.Index[Any, Any], **indexes: Any) -> None:
    runtime: Runtime = memo.runtime
    key = (namespace, name)
    looking: set[asyncio.Task[None]] = set()
    stopping = asyncio.ensure_future(stopped.wait())
    try:
        while not stopped:
            for due in runtime.looks.due(key):
                task = asyncio.create_task(_look_at(due, key, runtime, memo.kopf_settings, workspaces_by_name,
                                                    indexes))
                looking.add(task)
                task.add_done_callback(looking.discard)
            sleeping = asyncio.ensure_future(runtime.looks.wait(key, at_most=AWAKE_AT_LEAST_EVERY))
            await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
            sleeping.cancel()
    finally:
        stopping.cancel()
        for task in looking:
            task.cancel()
        await asyncio.gather(*looking, return_exceptions=True)


async def look_at_due_now(key: WorkspaceKey, memo: kopf.Memo, workspaces_by_name: kopf.Index[Any, Any],
                          indexes: dict[str, Any]) -> None:
    """The looks due under ``key``, taken here and now, for when its driver is not running."""
    runtime: Runtime = memo.runtime
    await asyncio.gather(*(_look_at(due, key, runtime, memo.kopf_settings, workspaces_by_name, indexes)
                           for due in runtime.looks.due(key)))


async def _look_at(due: Look, key: WorkspaceKey, runtime: Runtime, settings: kopf.OperatorSettings,
                   workspaces_by_name: kopf.Index[Any, Any], indexes: dict[str, Any]) -> None:
    kept = indexes[f"{due.kind}_bodies"].get(due.uid)
    body = next(iter(kept), None) if kept is not None else None
    if body is None:
        return  # deleted: nothing more to plan
    logger = kopf.ObjectLogger(body=body, settings=settings)
    try:
        after = await look(body, RESOURCES[due.kind], runtime, workspace_of(body, workspaces_by_name), settings,
                           logger)
    except asyncio.CancelledError:
        runtime.looks.look_in(key, due, POLL)  # the driver stopped: its next run looks again
        raise
    except Exception:
        logger.exception("the look at this object failed; trying again in %gs", AFTER_A_FAULT)
        after = AFTER_A_FAULT
    if after is not None:
        runtime.looks.look_in(key, due, after)
