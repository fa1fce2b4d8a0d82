"""The planner's decision table: every (spec, what Azure shows, last status) pair, one reason per row.

The same function decides for a GET pass and for a pass that read the workspace-wide list, so these
rows hold for every entry point.
"""

from __future__ import annotations

from typing import Any

import pytest

from aml_operator.api.attached_compute import AttachedCompute
from aml_operator.api.compute_cluster import ComputeCluster
from aml_operator.api.compute_instance import ComputeInstance
from aml_operator.reconcile import attached_compute
from aml_operator.reconcile.compute_cluster import ComputeClusterDriver
from aml_operator.reconcile.compute_instance import ComputeInstanceDriver
from aml_operator.reconcile.external import AzureError, JsonDict, Observation
from aml_operator.reconcile.ownership import Owner
from aml_operator.reconcile.planner import (
    Act,
    Create,
    Decision,
    Delete,
    Facts,
    Finish,
    ObservationFailed,
    PatchScale,
    Power,
    Report,
    Update,
    plan,
    plan_delete,
)

OWNER = Owner("cluster-1", "team-a", "ComputeCluster", "cpu")
OURS = OWNER.tags()
THEIRS = {"azureml.dev-owner": "team-b/ComputeCluster/cpu", "azureml.dev-cluster": "cluster-1"}
ADOPT = {"azureml.dev/adopt": "true"}
SKIP = {"azureml.dev/reconcile": "skip"}


def cluster(annotations: dict[str, str] | None = None, **spec: Any) -> ComputeCluster:
    return ComputeCluster.model_validate({
        "apiVersion": "azureml.dev/v1alpha1", "kind": "ComputeCluster",
        "metadata": {"name": "cpu", "namespace": "team-a", "generation": 1, "annotations": annotations or {}},
        "spec": {"workspaceRef": {"name": "ws-ml"}, "vmSize": "Standard_DS3_v2",
                 "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4}, **spec},
    })


def azure(tags: dict[str, str] = OURS, state: str = "Succeeded", compute_type: str = "AmlCompute",
          **props: Any) -> Observation:
    return Observation("cpu", {
        "id": "/subscriptions/s/computes/cpu", "tags": tags,
        "properties": {
            "computeType": compute_type, "provisioningState": state,
            "provisioningErrors": [{"error": {"code": "QuotaExceeded", "message": "no cores"}}] if state == "Failed"
            else [],
            "properties": {"vmSize": "STANDARD_DS3_V2", "vmPriority": "Dedicated",
                           "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4}, **props},
        },
    })


THROTTLED = AzureError("TooManyRequests", 429, "Throttled", True, "slow down", retry_after=20)
FORBIDDEN = AzureError("AuthorizationFailed", 403, "AuthorizationFailed", False, "no role")


def expect(decision: Decision) -> str:
    """One word per decision: the action, or the condition state and reason when nothing is written."""
    if isinstance(decision, Report):
        return f"{decision.state}/{decision.reason}"
    return type(decision).__name__


CLUSTER_ROWS: list[tuple[str, ComputeCluster, Any, dict[str, Any], str]] = [
    ("deleted in Azure (or never created)", cluster(), None, {}, "Create"),
    ("observation failed, transient", cluster(), ObservationFailed(THROTTLED), {}, "unknown/Throttled"),
    ("observation failed, needs a person", cluster(), ObservationFailed(FORBIDDEN), {},
     "stalled/AuthorizationFailed"),
    ("ours, at rest, as the spec", cluster(), azure(), {}, "ready/Succeeded"),
    ("Failed in Azure", cluster(), azure(state="Failed"), {}, "stalled/ProvisioningFailed"),
    ("Failed in Azure while the scale differs", cluster(scaleSettings={"minNodeCount": 0, "maxNodeCount": 9}),
     azure(state="Failed"), {}, "stalled/ProvisioningFailed"),
    ("foreign computeType", cluster(), azure(compute_type="ComputeInstance"), {}, "stalled/AlreadyExists"),
    ("foreign computeType even when asked to adopt", cluster(ADOPT), azure(compute_type="Kubernetes"), {},
     "stalled/AlreadyExists"),
    ("someone else's", cluster(), azure(THEIRS), {}, "stalled/AlreadyExists"),
    ("untagged, adoption asked", cluster(ADOPT), azure({}), {}, "Update"),
    ("immutable difference", cluster(vmSize="Standard_DS4_v2"), azure(), {}, "stalled/ImmutableFieldChanged"),
    ("immutable difference with a scale change", cluster(vmSize="Standard_DS4_v2",
                                                          scaleSettings={"minNodeCount": 1, "maxNodeCount": 4}),
     azure(), {}, "stalled/ImmutableFieldChanged"),
    ("busy: Creating", cluster(), azure(state="Creating"), {}, "progressing/Creating"),
    ("busy: Updating while the scale differs", cluster(scaleSettings={"minNodeCount": 0, "maxNodeCount": 9}),
     azure(state="Updating"), {}, "progressing/Updating"),
    ("busy: Deleting", cluster(), azure(state="Deleting"), {}, "progressing/Deleting"),
    ("scale differs", cluster(scaleSettings={"minNodeCount": 0, "maxNodeCount": 9}), azure(), {}, "PatchScale"),
    ("adopting with another scale: PUT of the whole body, not a PATCH",
     cluster(ADOPT, scaleSettings={"minNodeCount": 0, "maxNodeCount": 9}), azure({}), {}, "Update"),
    ("tags differ", cluster(tags={"team": "a"}), azure(), {}, "Update"),
    ("description differs", cluster(description="training"), azure(), {}, "Update"),
    ("a referenced Secret rotated", cluster(), azure(), {"secrets_rotated": True}, "Update"),
    ("our last operation failed, Azure at rest", cluster(), azure(),
     {"last_operation_failed": "UpdateFailed", "last_operation_errors": "QuotaExceeded: no cores"},
     "stalled/UpdateFailed"),
    ("writes paused, scale differs", cluster(SKIP, scaleSettings={"minNodeCount": 0, "maxNodeCount": 9}),
     azure(), {}, "ready/ReconcileSkipped"),
    ("writes paused, absent", cluster(SKIP), None, {}, "progressing/ReconcileSkipped"),
    ("writes paused, Failed", cluster(SKIP), azure(state="Failed"), {}, "stalled/ProvisioningFailed"),
]


@pytest.mark.parametrize(("obj", "seen", "extra", "expected"), [row[1:] for row in CLUSTER_ROWS],
                         ids=[row[0] for row in CLUSTER_ROWS])
def test_cluster_decisions(obj: ComputeCluster, seen: Any, extra: dict[str, Any], expected: str) -> None:
    assert expect(plan(Facts(obj, ComputeClusterDriver(), OWNER, seen, **extra))) == expected


def test_the_decisions_carry_what_to_write_and_why() -> None:
    scale = plan(Facts(cluster(scaleSettings={"minNodeCount": 1, "maxNodeCount": 6}), ComputeClusterDriver(),
                       OWNER, azure()))
    assert scale == PatchScale({"maxNodeCount": 6, "minNodeCount": 1})
    assert plan(Facts(cluster(ADOPT), ComputeClusterDriver(), OWNER, azure({}))) == Update("", adopting=True)
    rotated = plan(Facts(cluster(), ComputeClusterDriver(), OWNER, azure(), secrets_rotated=True))
    assert rotated == Update("a referenced Secret changed", adopting=False)
    foreign = plan(Facts(cluster(), ComputeClusterDriver(), OWNER, azure(THEIRS)))
    assert isinstance(foreign, Report) and "team-b/ComputeCluster/cpu" in foreign.message
    immutable = plan(Facts(cluster(vmSize="Standard_DS4_v2"), ComputeClusterDriver(), OWNER, azure()))
    assert isinstance(immutable, Report) and "spec.vmSize (Standard_DS4_v2; Azure has STANDARD_DS3_V2)" in \
        immutable.message
    assert plan(Facts(cluster(), ComputeClusterDriver(), OWNER, None)) == Create()


def instance(state: str) -> ComputeInstance:
    return ComputeInstance.model_validate({
        "apiVersion": "azureml.dev/v1alpha1", "kind": "ComputeInstance",
        "metadata": {"name": "cpu", "namespace": "team-a", "generation": 1},
        "spec": {"workspaceRef": {"name": "ws-ml"}, "vmSize": "Standard_DS3_v2", "state": state},
    })


def instance_in_azure(state: str) -> Observation:
    return Observation("cpu", {"tags": OURS, "properties": {
        "computeType": "ComputeInstance", "provisioningState": "Succeeded",
        "properties": {"vmSize": "Standard_DS3_v2", "state": state}}})


@pytest.mark.parametrize(
    ("wanted", "azure_state", "expected"),
    [("Stopped", "Running", Power("Stop")), ("Running", "Stopped", Power("Start")),
     ("Running", "Starting", Report("progressing", "Starting", "Azure reports the compute as Starting", poll=True)),
     ("Running", "Running", Report("ready", "Succeeded", "compute cpu is provisioned and matches the spec"))],
)
def test_instance_power_state(wanted: str, azure_state: str, expected: Decision) -> None:
    decision = plan(Facts(instance(wanted), ComputeInstanceDriver(), OWNER, instance_in_azure(azure_state)))
    assert decision == expected


def test_instance_idle_time_changes_through_its_action_and_unset_leaves_azure_alone() -> None:
    seen = Observation("cpu", {"tags": OURS, "properties": {
        "computeType": "ComputeInstance", "provisioningState": "Succeeded",
        "properties": {"vmSize": "Standard_DS3_v2", "state": "Running", "idleTimeBeforeShutdown": "PT30M"}}})
    wanted = instance("Running")
    decision = plan(Facts(wanted.model_copy(update={"spec": wanted.spec.model_copy(
        update={"idle_time_before_shutdown": "PT1H"})}), ComputeInstanceDriver(), OWNER, seen))
    assert decision == Act("updateIdleShutdownSetting", {"idleTimeBeforeShutdown": "PT1H"},
                           "spec.idleTimeBeforeShutdown")
    assert plan(Facts(wanted, ComputeInstanceDriver(), OWNER, seen)) == Report(
        "ready", "Succeeded", "compute cpu is provisioned and matches the spec")


def attached(type_: str) -> AttachedCompute:
    body: JsonDict = {
        "apiVersion": "azureml.dev/v1alpha1", "kind": "AttachedCompute",
        "metadata": {"name": "cpu", "namespace": "team-a", "generation": 2},
        "spec": {"workspaceRef": {"name": "ws-ml"}, "type": type_,
                 "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/dbw"},
    }
    if type_ == "Databricks":
        body["spec"]["databricksAccessTokenSecretRef"] = {"name": "dbw-token"}
    return AttachedCompute.model_validate(body)


def test_attached_compute_of_another_type_stays_refused() -> None:
    obj = attached("Databricks")
    seen = Observation("cpu", {"tags": OURS, "properties": {"computeType": "DataFactory",
                                                             "provisioningState": "Succeeded"}})
    assert expect(plan(Facts(obj, attached_compute.driver_for(obj), OWNER, seen))) == "stalled/AlreadyExists"


@pytest.mark.parametrize(
    ("seen", "expected"),
    [(None, Finish("Normal", "Deleted", "compute cpu is gone from Azure")),
     (azure(THEIRS), Finish("Warning", "NotOwned",
                            "left compute cpu in Azure: it belongs to team-b/ComputeCluster/cpu")),
     (azure(state="Updating"), Report("progressing", "Deleting",
                                      "waiting for Azure to finish Updating before deleting", poll=True)),
     (azure(), Delete()),
     (ObservationFailed(THROTTLED), Report("unknown", "Throttled",
                                           "could not read compute cpu from Azure: slow down"))],
)
def test_delete_decisions(seen: Any, expected: Decision | Finish | Delete) -> None:
    assert plan_delete(seen, OWNER, "cpu") == expected
