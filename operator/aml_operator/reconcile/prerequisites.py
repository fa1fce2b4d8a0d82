"""What a compute pass needs before it may talk to Azure: a Ready Workspace, its credentials, the Secrets.

When something is missing the pass waits with a condition that names it, and nothing is sent to Azure.
A deletion is more lenient, because deleting a namespace removes Secrets and Workspaces at once
while computes still have to clean up in Azure:

* it falls back on the last credentials that worked for the Workspace;
* it finishes at once when the Workspace is gone (nothing can reach Azure; the finalizer must not
  block forever) or when the policy is Orphan.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from aml_operator.api.common import ComputeResource
from aml_operator.api.workspace import Workspace
from aml_operator.reconcile.outcome import Event, Outcome, conditions_for
from aml_operator.reconcile.secret_refs import SecretNeed
from aml_operator.reconcile.workspace import CredentialsRefused, ResolvedCredentials, SecretUnreadable, is_ready


class StoredSecretView(Protocol):
    @property
    def data(self) -> Mapping[str, str]: ...

    @property
    def type(self) -> str: ...

    @property
    def resource_version(self) -> str: ...


SecretLookup = Callable[[str, str], Awaitable[StoredSecretView | None]]
"""(namespace, name) → the Secret, or None when it does not exist."""
ResolveCredentials = Callable[[Workspace], Awaitable[ResolvedCredentials]]


@dataclass(frozen=True)
class Prerequisites:
    workspace: Workspace
    credentials: ResolvedCredentials
    secrets: Mapping[str, str] = field(default_factory=dict)
    """Values the PUT body needs; never copied into status, events or logs."""
    secret_versions: Mapping[str, str] = field(default_factory=dict)


@dataclass
class LastGoodCredentials:
    """The credentials that last worked per (namespace, Workspace): what a deletion falls back on."""

    by_workspace: dict[tuple[str, str], ResolvedCredentials] = field(default_factory=dict)


def waiting(obj: ComputeResource, reason: str, message: str, now: datetime, requeue: float,
            finished: bool = False) -> Outcome:
    """The compute cannot proceed until something outside Azure is there; nothing is sent to Azure."""
    status = obj.status.model_copy(deep=True)
    status.conditions = conditions_for(status.conditions, "waiting", reason, message,
                                       generation=obj.metadata.generation, now=now)
    status.observed_generation = obj.metadata.generation
    return Outcome(status=status.to_json(), requeue_after=requeue, message=message, state="waiting", reason=reason,
                   finished=finished)


async def gather(obj: ComputeResource, needs: tuple[SecretNeed, ...], workspace: Workspace | None,
                 *, deleting: bool, orphan: bool, resolve: ResolveCredentials, read_secret: SecretLookup,
                 remembered: LastGoodCredentials, now: datetime, requeue: float) -> Prerequisites | Outcome:
    ref = obj.spec.workspace_ref.name
    if workspace is None:
        gone = waiting(obj, "WorkspaceNotFound",
                       f"Workspace {ref!r} (spec.workspaceRef) does not exist in this namespace", now, requeue,
                       finished=deleting)
        if deleting:
            gone.events.append(Event("Warning", "LeftInAzure",
                                     f"compute {obj.azure_name} is left in Azure: without Workspace {ref!r} "
                                     "the operator cannot reach it"))
        return gone
    key = (obj.metadata.namespace, ref)
    fallback = remembered.by_workspace.get(key) if deleting and workspace.status.location else None
    if workspace.metadata.deletion_timestamp is not None and not deleting:
        # The Workspace holds its own deletion until its computes are gone: waiting for it to be Ready
        # would wait for ever, and would not tell the person deleting it what this compute has to do.
        return waiting(obj, "WorkspaceDeleting",
                       f"Workspace {ref!r} is being deleted and waits for this object to go: delete it "
                       "(with spec.deletionPolicy: Orphan the compute stays in Azure)", now, requeue)
    if not is_ready(workspace) and fallback is None:
        return waiting(obj, "WorkspaceNotReady", f"waiting for Workspace {ref!r} to be Ready", now, requeue,
                       finished=deleting and orphan)
    try:
        credentials = await resolve(workspace)
        remembered.by_workspace[key] = credentials
    except CredentialsRefused as exc:
        if fallback is None:
            return waiting(obj, "WorkspaceNotReady", f"Workspace {ref!r}: {exc.message}", now, requeue,
                           finished=deleting and orphan)
        credentials = fallback
    # Read on every pass: a new resourceVersion is how a rotated credential reaches Azure without a restart.
    secrets: dict[str, str] = {}
    versions: dict[str, str] = {}
    for need in () if deleting else needs:
        try:
            stored = await read_secret(obj.metadata.namespace, need.name)
        except SecretUnreadable as exc:
            return waiting(obj, "SecretUnreadable", exc.message, now, requeue)
        missing = need.missing(stored.data, stored.type) if stored is not None else need.missing(None)
        if missing is not None or stored is None:
            return waiting(obj, "SecretNotFound", str(missing), now, requeue)
        secrets.update(need.values(stored.data))
        versions[need.name] = stored.resource_version
    return Prerequisites(workspace, credentials, secrets, versions)
