"""ComputeCluster and ComputeInstance end to end: operator subprocess, real API server, the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness import (
    Emulator,
    Kube,
    Operator,
    SharedOperator,
    compute_cluster,
    compute_instance,
    credentials_secret,
    eventually,
    ready_workspace,
    unique,
    workspace,
)

pytestmark = pytest.mark.timeout(300)


def test_cluster_is_created_and_reports_its_azure_state(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    ready_workspace(kube)
    ws = kube.get("workspace", "ws-ml")
    assert ws is not None and ws["status"]["location"] == "westeurope"

    name = unique(namespace, "cpu")
    kube.apply(compute_cluster(name, max_nodes=2, min_nodes=1, tags={"team": "e2e"}))
    obj = kube.wait_condition("computecluster", name)
    status = obj["status"]
    assert status["provisioningState"] == "Succeeded"
    assert status["azureResourceId"].endswith(f"/workspaces/ws-ml/computes/{name}")
    assert status["allocationState"] in ("Steady", "Resizing")
    assert "currentNodeCount" in status and "nodeStateCounts" in status
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True", "Reconciling": "False", "Stalled": "False"}

    azure = emulator.compute(name)
    assert azure is not None
    assert azure["tags"]["team"] == "e2e"
    assert azure["tags"]["azureml.dev-owner"] == f"{namespace}/ComputeCluster/{name}"
    assert emulator.creates_of(name) == 1
    reasons = {e["reason"] for e in kube.events() if e["involvedObject"]["name"] == name}
    assert {"CreateStarted", "CreateSucceeded"} <= reasons


def test_scale_change_is_patched_in_place_and_status_follows(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    ready_workspace(kube)
    name = unique(namespace, "scale")
    kube.apply(compute_cluster(name, max_nodes=2))
    kube.wait_condition("computecluster", name)
    before = emulator.writes_of(name)

    kube.patch("computecluster", name, {"spec": {"scaleSettings": {"minNodeCount": 2, "maxNodeCount": 3}}})
    kube.wait_condition("computecluster", name)
    after = emulator.writes_of(name)
    assert after.get("PATCH", 0) == before.get("PATCH", 0) + 1
    assert after.get("PUT", 0) == before.get("PUT", 0)

    def scaled() -> Any:
        obj = kube.get("computecluster", name) or {}
        return (obj.get("status") or {}).get("currentNodeCount") == 2
    eventually(scaled, 60, what="status.currentNodeCount reaches minNodeCount")
    azure = emulator.compute(name) or {}
    assert azure["properties"]["properties"]["scaleSettings"]["maxNodeCount"] == 3


def test_immutable_change_is_refused_by_the_api_server(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    ready_workspace(kube)
    name = unique(namespace, "immut")
    kube.apply(compute_cluster(name))
    kube.wait_condition("computecluster", name)
    refused = kube.plane.kubectl("patch", "computecluster", name, "-n", namespace, "--type=merge",
                                 "-p", '{"spec": {"vmSize": "Standard_NC6"}}', check=False)
    assert refused.returncode != 0
    assert "spec.vmSize is immutable" in refused.stderr
    assert emulator.writes_of(name).get("PUT", 0) == 1


@pytest.mark.parametrize("profile", ["spec", "live"])
def test_instance_stops_and_starts_in_both_profiles(
        kube: Kube, emulator: Emulator, live_emulator: Emulator, operator_factory: Callable[..., Operator],
        namespace: str, profile: str) -> None:
    emu = emulator if profile == "spec" else live_emulator
    operator_factory(namespace, emu)
    ready_workspace(kube)
    name = unique(namespace, "ci")
    kube.apply(compute_instance(name, state="Running"))
    obj = kube.wait_condition("computeinstance", name)
    assert obj["status"]["state"] == "Running"
    assert obj["status"]["applications"], "Jupyter and friends are listed"

    kube.patch("computeinstance", name, {"spec": {"state": "Stopped"}})
    obj = kube.wait_condition("computeinstance", name)
    assert obj["status"]["state"] == "Stopped"
    assert (emu.compute(name) or {})["properties"]["properties"]["state"] == "Stopped"

    kube.patch("computeinstance", name, {"spec": {"state": "Running"}})
    obj = kube.wait_condition("computeinstance", name)
    assert obj["status"]["state"] == "Running", obj
    posts = emu.writes_of(name).get("POST", 0)
    assert posts >= 2, f"a stop and a start reached Azure ({emu.writes_of(name)})"


@pytest.mark.parametrize(("policy", "remains"), [("Delete", False), ("Detach", False), ("Orphan", True)])
def test_delete_honours_the_policy(kube: Kube, emulator: Emulator, shared_operator: SharedOperator,
                                   namespace: str, policy: str, remains: bool) -> None:
    ready_workspace(kube)
    name = unique(namespace, "del")
    kube.apply(compute_cluster(name, deletionPolicy=policy))
    kube.wait_condition("computecluster", name)
    kube.delete("computecluster", name)
    kube.wait_gone("computecluster", name)
    assert (emulator.compute(name) is not None) is remains
    deletes = emulator.writes_of(name).get("DELETE", 0)
    assert deletes == (0 if remains else 1)
    if remains:
        emulator.delete_behind_our_back(name)


def test_adoption_is_refused_without_the_annotation_and_done_with_it(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    ready_workspace(kube)
    name = unique(namespace, "adopt")
    # Someone created this compute in Azure directly: same name, no owner tag.
    kube.apply(compute_cluster(name, deletionPolicy="Orphan"))
    kube.wait_condition("computecluster", name)
    emulator.change_behind_our_back(name, {"tags": None})
    kube.delete("computecluster", name)
    kube.wait_gone("computecluster", name)
    assert emulator.compute(name) is not None

    kube.apply(compute_cluster(name))
    stalled = kube.wait_condition("computecluster", name, "Stalled", reason="AlreadyExists")
    assert "azureml.dev/adopt" in next(c["message"] for c in stalled["status"]["conditions"] if c["type"] == "Ready")
    puts = emulator.writes_of(name).get("PUT", 0)

    kube.patch("computecluster", name, {"metadata": {"annotations": {"azureml.dev/adopt": "true"}}})
    kube.wait_condition("computecluster", name)
    assert emulator.writes_of(name).get("PUT", 0) == puts + 1
    assert (emulator.compute(name) or {})["tags"]["azureml.dev-owner"] == f"{namespace}/ComputeCluster/{name}"


def test_changes_behind_our_back_are_undone(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    ready_workspace(kube)
    name = unique(namespace, "drift")
    kube.apply(compute_cluster(name, max_nodes=2))
    kube.wait_condition("computecluster", name)

    emulator.change_behind_our_back(name, {"properties": {"properties": {"scaleSettings": {"maxNodeCount": 5}}}})
    eventually(lambda: ((emulator.compute(name) or {}).get("properties", {}).get("properties", {})
                        .get("scaleSettings", {}).get("maxNodeCount") == 2), 60, what="scale restored")

    emulator.delete_behind_our_back(name)
    eventually(lambda: emulator.compute(name) is not None, 60, what="compute recreated")
    kube.wait_condition("computecluster", name)
    assert emulator.creates_of(name) == 2
    reasons = {e["reason"] for e in kube.events() if e["involvedObject"]["name"] == name}
    assert "DeletedInAzure" in reasons


def test_bad_credentials_and_missing_workspace_give_clear_conditions(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    kube.apply(credentials_secret("wrong", secret="not-the-secret"), workspace("bad-creds", secret="wrong"))
    kube.apply(credentials_secret(), workspace("no-such", workspace_name="does-not-exist"))
    bad = kube.wait_condition("workspace", "bad-creds", "Ready", "False", reason="CredentialsInvalid")
    missing = kube.wait_condition("workspace", "no-such", "Ready", "False", reason="WorkspaceNotFound")
    assert "does-not-exist" in next(c["message"] for c in missing["status"]["conditions"] if c["type"] == "Ready")
    assert not any("not-the-secret" in c["message"] for c in bad["status"]["conditions"])

    name = unique(namespace, "wait")
    cluster = compute_cluster(name)
    cluster["spec"]["workspaceRef"]["name"] = "bad-creds"
    kube.apply(cluster)
    kube.wait_condition("computecluster", name, "Ready", "False", reason="WorkspaceNotReady")
    assert emulator.compute(name) is None


def test_metrics_endpoint_serves_reconciles_arm_requests_and_objects(
        kube: Kube, emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator = operator_factory(namespace, emulator)
    ready_workspace(kube)
    name = unique(namespace, "metric")
    kube.apply(compute_cluster(name))
    kube.wait_condition("computecluster", name)
    text = operator.metrics()
    assert 'aml_reconciles_total{kind="ComputeCluster",outcome="ready"}' in text
    assert 'aml_arm_requests_total{code="200",method="GET",operation="computes"}' in text
    assert 'aml_objects{kind="ComputeCluster",ready="True",reason="Succeeded"} 1.0' in text
    assert 'aml_operation_duration_seconds_count{kind="ComputeCluster",operation="Create",result="Succeeded"}' in text
    assert "aml_arm_throttled_total" in text and "aml_arm_throttle_wait_seconds_total" in text


def test_deleting_the_namespace_deletes_computes_in_azure_before_their_workspace(
        kube: Kube, emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    # Rights granted inside the namespace (the chart's namespaced mode) vanish with it; a cluster-wide
    # install keeps them, which is what this test plays.
    operator_factory(namespace, emulator, as_admin=True)
    ready_workspace(kube)
    name = unique(namespace, "nsdel")
    kube.apply(compute_cluster(name))
    kube.wait_condition("computecluster", name)
    kube.plane.kubectl("delete", "namespace", namespace, "--wait=false")
    eventually(lambda: kube.plane.kubectl("get", "namespace", namespace, check=False).returncode != 0, 120,
               what="the namespace is gone")
    assert emulator.compute(name) is None
    assert emulator.writes_of(name).get("DELETE") == 1
