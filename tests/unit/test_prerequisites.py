"""What a compute pass needs before it talks to Azure, and how a deletion gets by without it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from aml_operator.api.compute_cluster import ComputeCluster
from aml_operator.api.workspace import Workspace
from aml_operator.reconcile.credentials import ServicePrincipal
from aml_operator.reconcile.outcome import Outcome
from aml_operator.reconcile.prerequisites import LastGoodCredentials, Prerequisites, gather
from aml_operator.reconcile.secret_refs import SecretNeed
from aml_operator.reconcile.workspace import CredentialsRefused, ResolvedCredentials, SecretUnreadable

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NEED = SecretNeed("admin", "spec.adminCredentials.passwordSecretRef", ("password",))
GOOD = ResolvedCredentials(None)


@dataclass(frozen=True)
class Stored:
    data: Mapping[str, str]
    type: str = "Opaque"
    resource_version: str = "7"


def cluster() -> ComputeCluster:
    return ComputeCluster.model_validate({
        "apiVersion": "azureml.dev/v1alpha1", "kind": "ComputeCluster",
        "metadata": {"name": "cpu", "namespace": "team-a", "generation": 1},
        "spec": {"workspaceRef": {"name": "ws-ml"}, "vmSize": "Standard_DS3_v2",
                 "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 2}},
    })


def workspace(ready: bool) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False", "reason": "Succeeded" if ready else "X",
                   "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    return {"apiVersion": "azureml.dev/v1alpha1", "kind": "Workspace",
            "metadata": {"name": "ws-ml", "namespace": "team-a", "generation": 1},
            "spec": {"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "rg-ml",
                     "workspaceName": "ws-ml", "credentials": {"secretRef": {"name": "aml-sp"}}},
            "status": {"conditions": conditions, "observedGeneration": 1, "location": "westeurope"}}


async def run(body: dict[str, Any] | None, *, deleting: bool = False, orphan: bool = False,
              refuse: bool = False, secrets: dict[str, Stored] | None = None,
              remembered: LastGoodCredentials | None = None) -> Prerequisites | Outcome:
    async def resolve(_workspace: Workspace) -> ResolvedCredentials:
        if refuse:
            raise CredentialsRefused("SecretNotFound", "Secret 'aml-sp' does not exist")
        return GOOD

    async def read(_namespace: str, name: str) -> Stored | None:
        return (secrets or {}).get(name)

    parsed = Workspace.model_validate(body) if body is not None else None
    return await gather(cluster(), (NEED,), parsed, deleting=deleting, orphan=orphan, resolve=resolve,
                        read_secret=read, remembered=remembered or LastGoodCredentials(), now=NOW, requeue=5)


def reason(found: Prerequisites | Outcome) -> tuple[str, bool]:
    assert isinstance(found, Outcome)
    return found.reason, found.finished


async def test_everything_there_gives_credentials_and_secret_values_with_their_versions() -> None:
    found = await run(workspace(True), secrets={"admin": Stored({"password": "p", "other": "x"})})
    assert isinstance(found, Prerequisites)
    assert (found.credentials, dict(found.secrets), dict(found.secret_versions)) == (GOOD, {"password": "p"},
                                                                                     {"admin": "7"})


@pytest.mark.parametrize(
    ("body", "kwargs", "expected"),
    [
        (None, {}, ("WorkspaceNotFound", False)),
        (None, {"deleting": True}, ("WorkspaceNotFound", True)),  # nothing can reach Azure: let go
        (workspace(False), {}, ("WorkspaceNotReady", False)),
        (workspace(False), {"deleting": True}, ("WorkspaceNotReady", False)),
        (workspace(False), {"deleting": True, "orphan": True}, ("WorkspaceNotReady", True)),
        (workspace(True), {"refuse": True}, ("WorkspaceNotReady", False)),
        (workspace(True), {}, ("SecretNotFound", False)),
        (workspace(True), {"secrets": {"admin": Stored({"user": "u"})}}, ("SecretNotFound", False)),
    ],
)
async def test_what_is_missing_is_named(body: dict[str, Any] | None, kwargs: dict[str, Any],
                                        expected: tuple[str, bool]) -> None:
    assert reason(await run(body, **kwargs)) == expected


async def test_a_deletion_without_its_workspace_lets_go_and_says_what_it_left() -> None:
    found = await run(None, deleting=True)
    assert isinstance(found, Outcome) and found.finished
    assert [(e.type, e.reason) for e in found.events] == [("Warning", "LeftInAzure")]


async def test_a_deletion_falls_back_on_the_last_credentials_that_worked() -> None:
    remembered = LastGoodCredentials()
    principal = ResolvedCredentials(ServicePrincipal("t", "c", "s"))
    remembered.by_workspace[("team-a", "ws-ml")] = principal
    found = await run(workspace(False), deleting=True, refuse=True, remembered=remembered)
    assert isinstance(found, Prerequisites) and found.credentials is principal
    assert found.secrets == {}  # a deletion sends no body: a Secret already gone cannot block it


async def test_a_secret_the_api_server_will_not_give_is_a_condition_not_a_crash() -> None:
    async def resolve(_workspace: Workspace) -> ResolvedCredentials:
        return GOOD

    async def forbidden(_namespace: str, name: str) -> Stored | None:
        raise SecretUnreadable(name, "the API server answered 403 Forbidden")

    found = await gather(cluster(), (NEED,), Workspace.model_validate(workspace(True)), deleting=False,
                         orphan=False, resolve=resolve, read_secret=forbidden,
                         remembered=LastGoodCredentials(), now=NOW, requeue=5)
    assert isinstance(found, Outcome) and found.reason == "SecretUnreadable"
    assert "'admin' could not be read: the API server answered 403 Forbidden" in found.message


async def test_a_workspace_being_deleted_is_named_as_such_not_as_not_ready() -> None:
    body = workspace(False)
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    found = await run(body, secrets={"admin": Stored({"password": "p"})})
    assert reason(found) == ("WorkspaceDeleting", False)
    assert isinstance(found, Outcome) and "being deleted" in found.message and "Orphan" in found.message
    # The compute's own deletion still goes ahead on the credentials that last worked.
    remembered = LastGoodCredentials({("team-a", "ws-ml"): GOOD})
    assert isinstance(await run(body, deleting=True, remembered=remembered), Prerequisites)
