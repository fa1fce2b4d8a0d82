"""Workspace handlers: check the credentials and the Azure ML workspace; hold deletion while computes use it."""

from __future__ import annotations

from typing import Any

import kopf

from aml_operator.api.base import GROUP, VERSION
from aml_operator.api.workspace import Workspace
from aml_operator.handlers import compute_looks, outcome
from aml_operator.reconcile.workspace import deletion_blocked
from aml_operator.runtime import Runtime, now
from aml_operator.settings import Settings

PLURAL = "workspaces"
POLL = Settings.from_env().poll_interval


@kopf.index(GROUP, VERSION, PLURAL)
def workspaces_by_name(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str, str], Any]:
    """Computes read their Workspace from memory instead of the API server."""
    return {(namespace, name): dict(body)}


@kopf.on.create(GROUP, VERSION, PLURAL, id="workspace_reconcile")
@kopf.on.update(GROUP, VERSION, PLURAL, id="workspace_reconcile")
@kopf.on.resume(GROUP, VERSION, PLURAL, id="workspace_reconcile")
async def workspace_reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                              **_: Any) -> None:
    """A change or a restart: look at once. Retries are the recheck timer's."""
    runtime: Runtime = memo.runtime
    result = await runtime.reconcile_workspace(Workspace.model_validate(body))
    outcome.apply(result, body, patch, logger)


@kopf.timer(GROUP, VERSION, PLURAL, id="workspace_recheck", interval=POLL, idle=POLL)
async def workspace_recheck(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger,
                            **_: Any) -> None:
    """Credentials expire and roles change: a Ready Workspace is checked once per drift interval, one in
    trouble on the retry schedule, so computes waiting for it go on soon after Azure or the Secret is fixed."""
    if body.metadata.get("deletionTimestamp"):
        return
    runtime: Runtime = memo.runtime
    result = await runtime.recheck_workspace(Workspace.model_validate(body))
    if result is not None:
        outcome.apply(result, body, patch, logger)


@kopf.on.delete(GROUP, VERSION, PLURAL, id="workspace_delete")
async def workspace_delete(namespace: str, name: str, body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo,
                           logger: kopf.Logger, workspaces_by_name: kopf.Index[Any, Any], **kwargs: Any) -> None:
    """Computes need their Workspace to clean up in Azure, so it goes last (as in a namespace deletion)."""
    await compute_looks.look_at_due_now((namespace, name), memo, workspaces_by_name, kwargs)
    indexes = [index for key, index in kwargs.items() if key.endswith("_by_workspace")]
    users = sorted(user for index in indexes for user in index.get((namespace, name), []))
    if users:
        result = deletion_blocked(Workspace.model_validate(body), users, now())
        outcome.apply(result, body, patch, logger)
        raise kopf.TemporaryError(result.message, delay=5)
