"""What a Workspace's status says when its deletion waits, and when its trouble changes."""

from __future__ import annotations

from datetime import UTC, datetime

from aml_operator.api.workspace import Workspace
from aml_operator.reconcile.workspace import deletion_blocked

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def workspace(status: dict[str, object] | None = None) -> Workspace:
    return Workspace.model_validate({
        "apiVersion": "azureml.dev/v1alpha1", "kind": "Workspace",
        "metadata": {"name": "ws-ml", "namespace": "team-a", "generation": 1},
        "spec": {"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "rg-ml",
                 "workspaceName": "ws-ml", "credentials": {"secretRef": {"name": "aml-sp"}}},
        "status": status or {},
    })


def test_a_blocked_deletion_names_who_holds_it_and_says_so_once() -> None:
    users = ["ComputeCluster/cpu", "ComputeInstance/dev"]
    first = deletion_blocked(workspace(), users, NOW)
    ready = next(c for c in first.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InUse")
    assert "ComputeCluster/cpu, ComputeInstance/dev" in ready["message"] and "Orphan" in ready["message"]
    assert [e.reason for e in first.events] == ["InUse"]
    again = deletion_blocked(workspace(first.status), users, NOW)
    assert again.events == []
    fewer = deletion_blocked(workspace(again.status), users[1:], NOW)
    assert [e.reason for e in fewer.events] == ["InUse"]
