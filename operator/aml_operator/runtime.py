"""Wiring: the long-lived pieces one operator process shares, and how a pass gets its context.

Handlers call into here; here the settings, the Azure client cache, the Secret reader and the
workspace snapshots meet the reconcile core. No kopf, no business rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aml_operator.api.common import ComputeResource
from aml_operator.api.workspace import Workspace
from aml_operator.azureapi.clients import ClientFactory
from aml_operator.azureapi.computes import SdkComputeClient
from aml_operator.kube.client import SecretsApi
from aml_operator.reconcile.computes import (
    ComputeContext,
    ComputeDriver,
    delete_compute,
    reconcile_compute,
    waiting_for_workspace,
)
from aml_operator.reconcile.drift import WorkspaceSnapshots
from aml_operator.reconcile.external import ComputeClient
from aml_operator.reconcile.outcome import Outcome
from aml_operator.reconcile.ownership import Owner
from aml_operator.reconcile.workspace import (
    CredentialsRefused,
    ResolvedCredentials,
    is_ready,
    reconcile_workspace,
    resolve_credentials,
    target_of,
)
from aml_operator.settings import Settings

PASSWORD_KEY = "password"


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Runtime:
    def __init__(self, settings: Settings, cluster_id: str) -> None:
        self.settings = settings
        self.cluster_id = cluster_id
        self.clients = ClientFactory(settings)
        self.secrets = SecretsApi()
        self.snapshots = WorkspaceSnapshots()

    async def close(self) -> None:
        await self.clients.close()

    async def connect(self, resolved: ResolvedCredentials) -> ComputeClient:
        principal = resolved.principal
        return SdkComputeClient(lambda subscription: self.clients.client(subscription, principal))

    async def reconcile_workspace(self, workspace: Workspace) -> Outcome:
        return await reconcile_workspace(workspace, self.connect, self.secrets.read,
                                         self.settings.may_use_operator_identity, now(),
                                         retry_after=max(self.settings.poll_interval, 30.0))

    async def _context(self, obj: ComputeResource, workspace_body: Mapping[str, Any] | None,
                       ) -> ComputeContext | Outcome:
        ref = obj.spec.workspace_ref.name
        requeue = self.settings.poll_interval
        if workspace_body is None:
            return waiting_for_workspace(obj, "WorkspaceNotFound",
                                         f"Workspace {ref!r} (spec.workspaceRef) does not exist in this namespace",
                                         now(), requeue)
        workspace = Workspace.model_validate(workspace_body)
        if not is_ready(workspace):
            return waiting_for_workspace(obj, "WorkspaceNotReady", f"waiting for Workspace {ref!r} to be Ready",
                                         now(), requeue)
        try:
            resolved = await resolve_credentials(workspace, self.secrets.read,
                                                 self.settings.may_use_operator_identity)
        except CredentialsRefused as exc:
            return waiting_for_workspace(obj, "WorkspaceNotReady", f"Workspace {ref!r}: {exc.message}",
                                         now(), requeue)
        secrets: dict[str, str] = {}
        creds = getattr(obj.spec, "admin_credentials", None)
        if creds is not None and creds.password_secret_ref is not None:
            data = await self.secrets.read(obj.metadata.namespace, creds.password_secret_ref.name)
            if not data or not data.get(PASSWORD_KEY):
                return waiting_for_workspace(
                    obj, "SecretNotFound",
                    f"Secret {creds.password_secret_ref.name!r} (spec.adminCredentials.passwordSecretRef) "
                    f"does not exist or has no key {PASSWORD_KEY!r}", now(), requeue)
            secrets[PASSWORD_KEY] = data[PASSWORD_KEY]
        owner = Owner(self.cluster_id, obj.metadata.namespace, obj.KIND, obj.metadata.name)
        return ComputeContext(
            client=await self.connect(resolved), target=target_of(workspace),
            location=str(workspace.status.location), owner=owner, now=now(),
            poll_interval=self.settings.poll_interval, secrets=secrets,
        )

    async def reconcile_compute(self, obj: ComputeResource, driver: ComputeDriver,
                                workspace_body: Mapping[str, Any] | None, drift: bool = False) -> Outcome:
        ctx = await self._context(obj, workspace_body)
        if isinstance(ctx, Outcome):
            return ctx
        if drift:
            ctx.observed = await self.snapshots.observe(ctx.client, ctx.target, obj.azure_name,
                                                        self.settings.drift_interval)
            ctx.observed_given = True
        return await reconcile_compute(obj, driver, ctx)

    async def delete_compute(self, obj: ComputeResource, driver: ComputeDriver,
                             workspace_body: Mapping[str, Any] | None) -> Outcome:
        ctx = await self._context(obj, workspace_body)
        if isinstance(ctx, Outcome):
            policy = getattr(obj.spec, "deletion_policy", "Delete")
            if workspace_body is None or policy == "Orphan":
                # Without a Workspace there is no way to reach Azure; never block deletion forever.
                ctx.finished = True
            return ctx
        return await delete_compute(obj, driver, ctx)
