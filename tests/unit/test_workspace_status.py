"""What a Workspace's status says when its deletion waits, and when the operator looks at it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aml_operator.api.workspace import Workspace
from aml_operator.reconcile.outcome import Outcome
from aml_operator.reconcile.retry import next_check
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


@pytest.mark.parametrize(
    ("state", "reason", "retry_after", "seconds"),
    [
        ("ready", "Succeeded", None, 300),  # reached: once per drift interval
        ("unknown", "AzureUnreachable", None, 2),  # transient: at the poll interval
        ("unknown", "Throttled", 20.0, 20),  # Azure's Retry-After wins
        ("stalled", "CredentialsInvalid", None, 30),  # needs a person: backoff from 30 s
        ("stalled", "InvalidSpec", None, None),  # only an edit helps
    ],
)
def test_the_next_look_at_a_workspace(state: str, reason: str, retry_after: float | None,
                                      seconds: int | None) -> None:
    result = Outcome(status={}, state=state, reason=reason, requeue_after=retry_after)
    check = next_check(None, result, NOW, recheck=300, poll_interval=2, jitter=0.5)
    expected = None if seconds is None else NOW + timedelta(seconds=seconds)
    assert check.next_attempt_time == expected


def test_a_workspace_in_trouble_is_looked_at_less_and_less_often() -> None:
    refused = Outcome(status={}, state="stalled", reason="CredentialsInvalid")
    first = next_check(None, refused, NOW, recheck=300, poll_interval=2, jitter=0.5)
    second = next_check(first, refused, NOW, recheck=300, poll_interval=2, jitter=0.5)
    capped = first
    for _ in range(10):
        capped = next_check(capped, refused, NOW, recheck=300, poll_interval=2, jitter=0.5)
    assert [c.next_attempt_time - NOW for c in (first, second, capped)] == [
        timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=600)]
