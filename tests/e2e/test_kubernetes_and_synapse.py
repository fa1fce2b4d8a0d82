"""AttachedCompute of type Kubernetes (an Arc-enabled cluster) and SynapseSpark (a Spark pool), end to end:
attached with their properties, an instance type added in place, detached on delete with the cluster kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness import SUBSCRIPTION_ID, Emulator, Kube, Operator, eventually, ready_workspace, unique

pytestmark = pytest.mark.timeout(300)

RG = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-ml/providers"
GPU = {"name": "gpu", "nodeSelector": {"agentpool": "gpu"},
       "resources": {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"nvidia.com/gpu": "1"}}}


def attached(name: str, type_: str, resource_id: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "azureml.dev/v1alpha1", "kind": "AttachedCompute", "metadata": {"name": name},
            "spec": {"workspaceRef": {"name": "ws-ml"}, "type": type_, "resourceId": resource_id, **spec}}


def resource_ids(emulator: Emulator) -> set[str]:
    return {r["id"].lower() for r in emulator.control("GET", "resources")["resources"]}


def test_kubernetes_attaches_updates_and_detaches_and_a_spark_pool_attaches(
        kube: Kube, emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator_factory(namespace, emulator)
    ready_workspace(kube)
    suffix = unique(namespace, "x")[2:]
    arc = f"{RG}/Microsoft.Kubernetes/connectedClusters/arc-{suffix}"
    pool = f"{RG}/Microsoft.Synapse/workspaces/syn-{suffix}/bigDataPools/pool1"
    for resource_id in (arc, pool):
        emulator.control("POST", "resources", {"id": resource_id, "location": "westeurope", "properties": {}})
    k8s, spark = unique(namespace, "k8s"), unique(namespace, "spark")
    kube.apply(attached(k8s, "Kubernetes", arc, kubernetesNamespace="azureml", defaultInstanceType="gpu",
                        instanceTypes=[GPU]),
               attached(spark, "SynapseSpark", pool))

    status = kube.wait_condition("attachedcompute", k8s)["status"]
    azure = (emulator.compute(k8s) or {})["properties"]
    assert (azure["computeType"], azure["resourceId"].lower()) == ("Kubernetes", arc.lower())
    assert azure["properties"]["namespace"] == "azureml"
    assert azure["properties"]["instanceTypes"]["gpu"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert (status["namespace"], status["defaultInstanceType"], status["instanceTypes"]) == ("azureml", "gpu", ["gpu"])
    spark_status = kube.wait_condition("attachedcompute", spark)["status"]
    assert (emulator.compute(spark) or {})["properties"]["computeType"] == "SynapseSpark"
    assert spark_status["sparkVersion"] and spark_status["nodeCount"]

    kube.patch("attachedcompute", k8s, {"spec": {"instanceTypes": [GPU, {"name": "cpu", "resources": {
        "requests": {"cpu": "1"}}}], "defaultInstanceType": "cpu"}})
    eventually(lambda: sorted(((kube.get("attachedcompute", k8s) or {}).get("status") or {}).get("instanceTypes", []))
               == ["cpu", "gpu"], 90, what="status lists the new instance type")
    assert (emulator.compute(k8s) or {})["properties"]["properties"]["defaultInstanceType"] == "cpu"
    assert emulator.creates_of(k8s) == 1

    kube.delete("attachedcompute", k8s)
    kube.wait_gone("attachedcompute", k8s)
    assert emulator.compute(k8s) is None
    assert arc.lower() in resource_ids(emulator), "detaching leaves the cluster itself alone"
