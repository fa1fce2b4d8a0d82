"""Workspace: which credentials reach the Azure ML workspace, and does it exist.

Resolving credentials is shared with the compute kinds: a compute uses its Workspace's credentials,
and waits while the Workspace is not Ready.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from aml_operator.api.conditions import READY, find_condition
from aml_operator.api.workspace import Workspace
from aml_operator.reconcile.credentials import CredentialsError, ServicePrincipal, service_principal_from_secret
from aml_operator.reconcile.external import AzureError, ComputeClient, WorkspaceTarget
from aml_operator.reconcile.outcome import Event, Outcome, State, conditions_for
from aml_operator.reconcile.workload_identity import workload_identity_of


class SecretReader(Protocol):
    async def __call__(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """Decoded data of a Secret, or None when it does not exist."""


class SecretUnreadable(Exception):
    """The Kubernetes API would not give a Secret (forbidden, unavailable); a reader raises it, never its
    own client's exception, so a pass reports it as a condition instead of failing."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"Secret {name!r} could not be read: {why}")
        self.message = str(self)


class CredentialsRefused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclass(frozen=True)
class ResolvedCredentials:
    principal: ServicePrincipal | None
    """None: the operator's own identity."""


def target_of(workspace: Workspace) -> WorkspaceTarget:
    spec = workspace.spec
    return WorkspaceTarget(spec.subscription_id, spec.resource_group, spec.workspace_name)


async def resolve_credentials(workspace: Workspace, read_secret: SecretReader,
                              operator_identity_allowed: Callable[[str], bool]) -> ResolvedCredentials:
    namespace = workspace.metadata.namespace
    creds = workspace.spec.credentials
    if creds.secret_ref is not None:
        try:
            data = await read_secret(namespace, creds.secret_ref.name)
        except SecretUnreadable as exc:
            raise CredentialsRefused("SecretUnreadable", exc.message) from exc
        if data is None:
            raise CredentialsRefused("SecretNotFound",
                                     f"Secret {creds.secret_ref.name!r} (spec.credentials.secretRef) does not "
                                     f"exist in namespace {namespace}")
        try:
            return ResolvedCredentials(service_principal_from_secret(creds.secret_ref.name, data))
        except CredentialsError as exc:
            raise CredentialsRefused("CredentialsInvalid", str(exc)) from exc
    workload_identity = workload_identity_of(workspace)
    if workload_identity is not None:
        return ResolvedCredentials(workload_identity)
    if not operator_identity_allowed(namespace):
        raise CredentialsRefused(
            "OperatorIdentityNotAllowed",
            f"spec.credentials.useOperatorIdentity is not allowed in namespace {namespace}: the operator's "
            "settings (AML_OPERATOR_IDENTITY_NAMESPACES) do not list it; use spec.credentials.secretRef")
    return ResolvedCredentials(None)


def is_ready(workspace: Workspace) -> bool:
    ready = find_condition(workspace.status.conditions, READY)
    return (ready is not None and ready.status == "True"
            and workspace.status.observed_generation == workspace.metadata.generation
            and bool(workspace.status.location))


async def reconcile_workspace(workspace: Workspace, connect: Callable[[ResolvedCredentials], Awaitable[ComputeClient]],
                              read_secret: SecretReader, operator_identity_allowed: Callable[[str], bool],
                              now: datetime) -> Outcome:
    """One look at the credentials and the workspace; the caller schedules the next one (``retry``)."""
    status = workspace.status.model_copy(deep=True)
    generation = workspace.metadata.generation
    was_ready = is_ready(workspace)
    events: list[Event] = []

    previous = find_condition(workspace.status.conditions, READY)

    def result(state: State, reason: str, message: str, requeue: float | None = None) -> Outcome:
        status.conditions = conditions_for(status.conditions, state, reason, message,
                                           generation=generation, now=now)
        status.observed_generation = generation
        if state == "ready" and not was_ready:
            events.append(Event("Normal", "Ready", message))
        elif state != "ready" and (previous is None or previous.reason != reason):
            events.append(Event("Warning", reason, message))  # once per change of reason, not per pass
        return Outcome(status=status.to_json(), requeue_after=requeue, events=events, message=message,
                       state=state, reason=reason)

    try:
        resolved = await resolve_credentials(workspace, read_secret, operator_identity_allowed)
    except CredentialsRefused as exc:
        return result("stalled", exc.reason, exc.message)
    target = target_of(workspace)
    try:
        client = await connect(resolved)
        info = await client.workspace(target)
    except AzureError as exc:
        state: State = "unknown" if exc.retryable else "stalled"
        return result(state, exc.reason, exc.message, requeue=exc.retry_after)
    status.location = info.location
    status.azure_resource_id = info.arm_id
    status.provisioning_state = "Succeeded"
    return result("ready", "Succeeded",
                  f"Azure ML workspace {target.workspace_name} in {info.location} is reachable")


def deletion_blocked(workspace: Workspace, users: list[str], now: datetime) -> Outcome:
    """A Workspace outlives the computes that use it (they need it to clean up in Azure): say who holds it."""
    names = ", ".join(users)
    message = (f"deletion waits for {len(users)} object(s) that use this Workspace: {names}. Delete them, or set "
               "their spec.deletionPolicy to Orphan first to leave their computes in Azure")
    status = workspace.status.model_copy(deep=True)
    previous = find_condition(status.conditions, READY)
    status.conditions = conditions_for(status.conditions, "waiting", "InUse", message,
                                       generation=workspace.metadata.generation, now=now)
    events = [] if previous is not None and previous.reason == "InUse" and previous.message == message \
        else [Event("Normal", "InUse", message)]
    return Outcome(status=status.to_json(), events=events, message=message, state="waiting", reason="InUse")
