"""Wiring: the long-lived pieces one operator process shares, and how a pass gets its context.

Handlers call into here; here the settings, the Azure client cache, the Secret reader and the
workspace snapshots meet the reconcile core. No kopf, no business rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from aml_operator.admission import Admission, turn_of
from aml_operator.api.base import GROUP, VERSION
from aml_operator.api.common import UNFINISHED, ComputeResource, RetryStatus
from aml_operator.api.conditions import READY
from aml_operator.api.inference_cluster import InferenceCluster
from aml_operator.api.workspace import Workspace
from aml_operator.azureapi.clients import ClientFactory
from aml_operator.azureapi.computes import SdkComputeClient
from aml_operator.azureapi.ratelimit import CURRENT_PRIORITY, Priority
from aml_operator.kube.secrets import OwnerRef, SecretStore, SecretWriteFailed, StoredSecret
from aml_operator.look_schedule import LookSchedule
from aml_operator.reconcile.computes import (
    ComputeContext,
    ComputeDriver,
    delete_compute,
    deletion_policy_of,
    reconcile_compute,
)
from aml_operator.reconcile.drift import WorkspaceSnapshots
from aml_operator.reconcile.external import KeysClient, Observation, WorkspaceTarget
from aml_operator.reconcile.kubeconfig import SecretView, record_publication, sync_kubeconfig
from aml_operator.reconcile.outcome import Event, Outcome
from aml_operator.reconcile.ownership import Owner
from aml_operator.reconcile.prerequisites import LastGoodCredentials, gather
from aml_operator.reconcile.retry import due, next_check
from aml_operator.reconcile.workspace import (
    ResolvedCredentials,
    SecretUnreadable,
    reconcile_workspace,
    resolve_credentials,
    target_of,
)
from aml_operator.settings import Settings

WORKSPACE_MODELS_KEPT = 1024
"""Parsed Workspaces remembered at most (one per Workspace in use is what is needed)."""


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class _Resting:
    """What a resync pass that found a Ready compute with nothing to do was given: the object's and its
    Workspace's versions and the workspace list's entry. Given the same again, a pass would decide the same."""

    version: str
    workspace_version: str
    target: WorkspaceTarget
    name: str
    observed: Observation


class Runtime:
    def __init__(self, settings: Settings, cluster_id: str) -> None:
        self.settings = settings
        self.cluster_id = cluster_id
        self.clients = ClientFactory(settings)
        self.secret_store = SecretStore(settings.secret_refresh_interval)
        self.snapshots = WorkspaceSnapshots()
        self.admission = Admission(settings.concurrent_passes)
        self.looks = LookSchedule()
        self._credentials = LastGoodCredentials()
        self._workspace_checks: dict[tuple[str, str], RetryStatus] = {}
        """When each Workspace is looked at next (in memory: a restart looks at every one at once)."""
        self._workspace_secrets: dict[tuple[str, str], str | None] = {}
        """The credentials Secret each Workspace was last looked at with."""
        self._workspace_models: dict[str, tuple[str, Workspace]] = {}
        """uid → (resourceVersion, the Workspace parsed): every compute's pass reads its Workspace, and
        thousands of computes share a few Workspaces."""
        self._resting: dict[str, _Resting] = {}
        """uid → the inputs of its last quiet resync pass: at rest the next one costs a few comparisons."""
        self.secret_store.on_change(self._secret_changed)

    def _secret_changed(self, namespace: str, name: str) -> None:
        """A referenced Secret has a new version: whatever failed for want of it is tried again at once.

        Workspaces using it as credentials are looked at on their next tick instead of their retry time;
        computes need nothing here: the Secret's version is part of each pass's inputs (``_inputs``), and a
        failed step whose inputs changed runs on the next look whatever its backoff."""
        for key, secret in self._workspace_secrets.items():
            if key[0] == namespace and secret == name:
                self._workspace_checks.pop(key, None)
        self._resting.clear()  # which computes use which Secret is not kept here; rotations are rare

    async def close(self) -> None:
        await self.secret_store.close()
        await self.clients.close()

    async def connect(self, resolved: ResolvedCredentials, cloud: str = "AzurePublicCloud") -> SdkComputeClient:
        principal = resolved.principal
        return SdkComputeClient(lambda subscription: self.clients.client(subscription, principal, cloud))

    async def _read_stored(self, namespace: str, name: str) -> StoredSecret | None:
        """A Secret through the shared store; the Kubernetes client's errors become the core's."""
        try:
            return await self.secret_store.read(namespace, name)
        except ApiException as exc:
            raise SecretUnreadable(name, f"the API server answered {exc.status} {exc.reason}") from exc

    async def _read_data(self, namespace: str, name: str) -> Mapping[str, str] | None:
        stored = await self._read_stored(namespace, name)
        return stored.data if stored is not None else None

    def admitted(self, status: Mapping[str, Any] | None, *,
                 deleting: bool = False) -> AbstractAsyncContextManager[None]:
        """Wait for a compute pass's turn (given the object's stored status), before anything of it is built."""
        return self.admission.slot(turn_of(status, deleting=deleting))

    async def reconcile_workspace(self, workspace: Workspace) -> Outcome:
        async def connect(resolved: ResolvedCredentials) -> SdkComputeClient:
            return await self.connect(resolved, workspace.spec.cloud)

        key = (workspace.metadata.namespace, workspace.metadata.name)
        result = await reconcile_workspace(workspace, connect, self._read_data,
                                           self.settings.may_use_operator_identity, now())
        self._workspace_checks[key] = next_check(self._workspace_checks.get(key), result, now(),
                                                 self.settings.drift_interval, self.settings.poll_interval,
                                                 _jitter(workspace.metadata.uid or workspace.metadata.name),
                                                 self.settings.retry_backoff)
        self._workspace_secrets[key] = _credentials_secret(workspace)
        return result

    async def recheck_workspace(self, workspace: Workspace) -> Outcome | None:
        """The timer's pass: None when the Workspace is not due."""
        check = self._workspace_checks.get((workspace.metadata.namespace, workspace.metadata.name))
        if check is not None and not due(check, now(), ""):
            return None
        return await self.reconcile_workspace(workspace)

    def _workspace_model(self, body: Mapping[str, Any] | None) -> Workspace | None:
        if body is None:
            return None
        metadata = body.get("metadata") or {}
        uid, version = str(metadata.get("uid") or ""), str(metadata.get("resourceVersion") or "")
        known = self._workspace_models.get(uid)
        if uid and version and known is not None and known[0] == version:
            return known[1]
        workspace = Workspace.model_validate(body)
        if uid and version:
            if known is None and len(self._workspace_models) >= WORKSPACE_MODELS_KEPT:
                self._workspace_models.clear()  # Workspaces deleted over a long life: start afresh
            self._workspace_models[uid] = (version, workspace)
        return workspace

    async def _context(self, obj: ComputeResource, driver: ComputeDriver, workspace_body: Mapping[str, Any] | None,
                       *, deleting: bool = False) -> ComputeContext | Outcome:
        async def resolve(workspace: Workspace) -> ResolvedCredentials:
            return await resolve_credentials(workspace, self._read_data, self.settings.may_use_operator_identity)

        found = await gather(obj, tuple(driver.secret_needs(obj)), self._workspace_model(workspace_body),
                             deleting=deleting,
                             orphan=deletion_policy_of(obj) == "Orphan", resolve=resolve,
                             read_secret=self._read_stored, remembered=self._credentials, now=now(),
                             requeue=self.settings.poll_interval)
        if isinstance(found, Outcome):
            return found
        workspace = found.workspace
        owner = Owner(self.cluster_id, obj.metadata.namespace, obj.KIND, obj.metadata.name)
        versions = dict(found.secret_versions)
        credentials = _credentials_secret(workspace)
        if credentials is not None and not deleting:  # the store holds it since the credentials were resolved
            stored = await self._read_stored(obj.metadata.namespace, credentials)
            versions[f"credentials:{credentials}"] = stored.resource_version if stored is not None else ""
        return ComputeContext(
            client=await self.connect(found.credentials, workspace.spec.cloud), target=target_of(workspace),
            location=str(workspace.status.location), owner=owner, now=now(),
            poll_interval=self.settings.poll_interval, secrets=found.secrets, secret_versions=found.secret_versions,
            backoff_base=self.settings.retry_backoff, inputs=_inputs(workspace_body, versions),
        )

    async def reconcile_compute(self, obj: ComputeResource, driver: ComputeDriver,
                                workspace_body: Mapping[str, Any] | None, *, resync: bool = False) -> Outcome:
        """``resync``: a look's pass (reads the workspace list, obeys the retry schedule); otherwise the
        object changed or the operator restarted, and a failed step runs again at once."""
        self._resting.pop(obj.metadata.uid, None)
        ctx = await self._context(obj, driver, workspace_body)
        if isinstance(ctx, Outcome):
            return ctx
        ctx.changed = not resync
        ctx.jitter = _jitter(obj.metadata.uid or obj.metadata.name)
        if resync and not _work_in_flight(obj):
            ctx.observed = await self.snapshots.observe(ctx.client, ctx.target, obj.azure_name,
                                                        self.settings.drift_interval,
                                                        retry_after_failure=self.settings.poll_interval)
            ctx.observed_given = True
        elif not resync and obj.status.last_operation is None and obj.status.azure_resource_id is None:
            # A new object: the workspace list all new objects share (one per drift interval) says whether
            # the name is taken, so the pass that records the intent to create reads no compute itself.
            listed = await self.snapshots.observe(ctx.client, ctx.target, obj.azure_name,
                                                  self.settings.drift_interval,
                                                  retry_after_failure=self.settings.poll_interval)
            ctx.listed_absent = listed is None
        # Finishing what Azure is already doing goes before new work in the ARM rate limiter's queues.
        token = CURRENT_PRIORITY.set(Priority.IN_FLIGHT if _work_in_flight(obj) else Priority.OBJECT)
        try:
            result = await reconcile_compute(obj, driver, ctx)
        finally:
            CURRENT_PRIORITY.reset(token)
        if ctx.looked is not None:  # fresher than the list: the next drift look reads it instead of a GET
            self.snapshots.refresh(ctx.target, ctx.looked)
        elif (resync and isinstance(ctx.observed, Observation) and result.state == "ready" and not result.events
              and result.requeue_after is None and not isinstance(obj, InferenceCluster)
              and result.status == obj.status.to_json()):
            # InferenceClusters republish their kubeconfig on a schedule: every pass of theirs counts.
            self._resting[obj.metadata.uid] = _Resting(obj.metadata.resource_version, _version_of(workspace_body),
                                                       ctx.target, obj.azure_name, ctx.observed)
        # connect() always gives the SDK client; the isinstance tells the type checker it also lists keys.
        if isinstance(obj, InferenceCluster) and _ready(result) and isinstance(ctx.client, SdkComputeClient):
            ref = obj.spec.kubeconfig_secret_ref
            if ref is not None:
                events = await self._sync_kubeconfig(obj, ctx.client, ctx)
                result.status, events = record_publication(result.status, events, ref.name,
                                                           obj.metadata.generation, ctx.now)
                result.events.extend(events)
        return result

    async def _sync_kubeconfig(self, obj: InferenceCluster, keys: KeysClient, ctx: ComputeContext) -> list[Event]:
        ref = obj.spec.kubeconfig_secret_ref
        if ref is None:
            return []
        namespace = obj.metadata.namespace
        owner = OwnerRef(f"{GROUP}/{VERSION}", obj.KIND, obj.metadata.name, obj.metadata.uid)

        async def read() -> SecretView | None:
            return await self.secret_store.read(namespace, ref.name)

        async def write(data: Mapping[str, str], annotations: Mapping[str, str], existing: SecretView | None,
                        ) -> None:
            assert existing is None or isinstance(existing, StoredSecret)
            await self.secret_store.write(namespace, ref.name, data, annotations, owner, existing)

        try:
            return await sync_kubeconfig(obj, keys, ctx.target, read, write, now(),
                                         timedelta(seconds=self.settings.drift_interval))
        except SecretWriteFailed as exc:  # the next pass tries again
            return [Event("Warning", "KubeconfigWriteFailed", f"could not write Secret {ref.name!r}: {exc}")]

    async def delete_compute(self, obj: ComputeResource, driver: ComputeDriver,
                             workspace_body: Mapping[str, Any] | None) -> Outcome:
        self._resting.pop(obj.metadata.uid, None)
        # Deleting sends no body: a credentials Secret already gone (a namespace being deleted) must not block it.
        ctx = await self._context(obj, driver, workspace_body, deleting=True)
        if isinstance(ctx, Outcome):
            return ctx
        token = CURRENT_PRIORITY.set(Priority.IN_FLIGHT)  # a deletion goes before new work
        try:
            return await delete_compute(obj, driver, ctx)
        finally:
            CURRENT_PRIORITY.reset(token)

    def still_resting(self, uid: str, version: str, workspace_body: Mapping[str, Any] | None) -> bool:
        """Whether a resync pass would find what the last one found, Ready with nothing to do: the object
        (``version``, its resourceVersion), its Workspace, the Secrets and the compute as the workspace list
        shows it are all as they were then (a Secret's change forgets every quiet pass). Costs no parse."""
        resting = self._resting.get(uid)
        return (resting is not None and resting.version == version != ""
                and resting.workspace_version == _version_of(workspace_body)
                and self.snapshots.still(resting.target, resting.name, resting.observed,
                                         self.settings.drift_interval))


def _work_in_flight(obj: ComputeResource) -> bool:
    op = obj.status.last_operation
    return op is not None and op.operation_status in UNFINISHED


def _credentials_secret(workspace: Workspace) -> str | None:
    ref = workspace.spec.credentials.secret_ref
    return ref.name if ref is not None else None


def _version_of(body: Mapping[str, Any] | None) -> str:
    return str(((body or {}).get("metadata") or {}).get("resourceVersion") or "")


def _inputs(workspace_body: Mapping[str, Any] | None, secret_versions: Mapping[str, str]) -> str:
    """What a failed attempt depended on besides the object: a change here is worth an immediate retry."""
    return ",".join([f"workspace@{_version_of(workspace_body)}",
                     *(f"{k}@{v}" for k, v in sorted(secret_versions.items()))])


def _jitter(key: str) -> float:
    """A stable number in [0, 1) per object, so objects that failed together spread their retries."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0x1_0000_0000


def _ready(result: Outcome) -> bool:
    return any(c.get("type") == READY and c.get("status") == "True" for c in result.status.get("conditions", []))
