"""The chart's RBAC is sufficient and least privilege, proven on the real API server.

The operator runs as a subprocess (as tests/e2e does) with the env and args of the chart's
Deployment and a kubeconfig holding only a TokenRequest token of the chart's ServiceAccount, and
drives a Workspace, a ComputeCluster and a ComputeInstance to Ready and deletes them (finalizers
released) against the emulator, in each RBAC shape the chart renders.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chart_operator import ChartOperator, sa_kubeconfig
from deliverykit import CHART, Helm, helm_offline, values_file, yaml_docs

from controlplane import ControlPlane
from harness import (
    DRIFT_INTERVAL,
    POLL_INTERVAL,
    Emulator,
    Kube,
    compute_cluster,
    compute_instance,
    credentials_secret,
    eventually,
    unique,
    workspace,
)

pytestmark = pytest.mark.timeout(900)

READY_TIMEOUT = 240  # two cores shared by several test sessions
MODES = {
    # Roles in the watched namespace; cluster scope only for kopf's read-only observation.
    "namespaced": {"watch": {"namespaces": ["{ns}"]}},
    # One ClusterRole.
    "clusterwide": {},
    # Two replicas: kopf peering through a KopfPeering the chart creates in the watched namespace.
    "peering": {"watch": {"namespaces": ["{ns}"]}, "replicas": 2},
}


def chart_values(mode: str, namespace: str, emulator: Emulator) -> dict[str, Any]:
    values = json.loads(json.dumps(MODES[mode]).replace("{ns}", namespace))
    values.update({
        "azure": {"armEndpoint": emulator.url, "authorityHost": emulator.url,
                  "caBundle": {"configMap": "azure-ca", "key": "ca.pem"}},
        "pollInterval": POLL_INTERVAL, "driftInterval": DRIFT_INTERVAL, "verbose": True,
    })
    return values


@pytest.fixture
def installed(request: pytest.FixtureRequest, helm: Helm, crds_chart: str, control_plane: ControlPlane,
              emulator: Emulator, namespace: str, release_namespace: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The operator chart installed for the mode; yields its Deployment as the API server holds it."""
    mode: str = request.param
    release = f"aml-{mode[:4]}-{uuid.uuid4().hex[:5]}"
    control_plane.kubectl("create", "configmap", "azure-ca", "-n", release_namespace,
                          f"--from-file=ca.pem={emulator.ca_file}")
    values = values_file(tmp_path, chart_values(mode, namespace, emulator))
    helm("install", release, str(CHART), "-n", release_namespace, "-f", values, "--timeout", "120s")
    deployments = json.loads(control_plane.kubectl(
        "get", "deployment", "-n", release_namespace, "-l", f"app.kubernetes.io/instance={release}",
        "-o", "json").stdout)["items"]
    assert len(deployments) == 1
    yield {"mode": mode, "release": release, "namespace": release_namespace, "deployment": deployments[0]}
    helm("uninstall", release, "-n", release_namespace, "--wait", "--timeout", "120s", check=False)


@pytest.mark.parametrize("installed", list(MODES), indirect=True)
def test_operator_under_the_charts_service_account_reaches_ready_and_deletes(
        installed: dict[str, Any], control_plane: ControlPlane, emulator: Emulator, namespace: str,
        tmp_path: Path) -> None:
    deployment = installed["deployment"]
    sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = sa_kubeconfig(control_plane, sa, installed["namespace"], tmp_path / "sa-kubeconfig")
    operator = ChartOperator(deployment, kubeconfig, emulator, tmp_path / "operator.log")
    kube = Kube(control_plane, namespace)
    operator.start()
    try:
        kube.apply(credentials_secret(), workspace())
        kube.wait_condition("workspace", "ws-ml", timeout=READY_TIMEOUT)
        cluster, instance = unique(namespace, "rbac-cc"), unique(namespace, "rbac-ci")
        kube.apply(compute_cluster(cluster), compute_instance(instance))
        kube.wait_condition("computecluster", cluster, timeout=READY_TIMEOUT)
        kube.wait_condition("computeinstance", instance, timeout=READY_TIMEOUT)
        assert emulator.compute(cluster) is not None and emulator.compute(instance) is not None
        if installed["mode"] == "peering":
            # The operator announced itself in the chart's KopfPeering (patching its status).
            peering = json.loads(control_plane.kubectl(
                "get", "kopfpeering", deployment["metadata"]["name"], "-n", namespace, "-o", "json").stdout)
            assert peering.get("status"), peering
        reasons = {e["reason"] for e in kube.events() if e["involvedObject"]["name"] == cluster}
        assert "CreateSucceeded" in reasons, "events are posted under the chart's RBAC"

        kube.delete("computecluster", cluster)
        kube.delete("computeinstance", instance)
        kube.wait_gone("computecluster", cluster, timeout=READY_TIMEOUT)
        kube.wait_gone("computeinstance", instance, timeout=READY_TIMEOUT)
        kube.delete("workspace", "ws-ml")
        kube.wait_gone("workspace", "ws-ml", timeout=READY_TIMEOUT)
        assert emulator.compute(cluster) is None and emulator.compute(instance) is None
    finally:
        operator.stop()
    assert operator.refusals() == [], "\n".join(operator.refusals()[:20])


def _can(plane: ControlPlane, kubeconfig: Path, *args: str) -> bool:
    return plane.kubectl("auth", "can-i", *args, kubeconfig=kubeconfig, check=False).stdout.strip() == "yes"


@pytest.mark.parametrize("installed", ["namespaced"], indirect=True)
def test_namespaced_install_reaches_nothing_outside_its_namespaces(
        installed: dict[str, Any], control_plane: ControlPlane, namespace: str, tmp_path: Path) -> None:
    sa = installed["deployment"]["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = sa_kubeconfig(control_plane, sa, installed["namespace"], tmp_path / "sa-kubeconfig")
    assert _can(control_plane, kubeconfig, "get", "secrets", "-n", namespace)
    assert _can(control_plane, kubeconfig, "patch", "computeclusters.azureml.dev", "-n", namespace)
    for other in ("default", "kube-system", installed["namespace"]):
        assert not _can(control_plane, kubeconfig, "get", "secrets", "-n", other)
        assert not _can(control_plane, kubeconfig, "list", "computeclusters.azureml.dev", "-n", other)
    assert not _can(control_plane, kubeconfig, "list", "secrets", "-n", namespace), "Secrets are read by name"
    assert not _can(control_plane, kubeconfig, "update", "computeclusters.azureml.dev", "-n", namespace)
    assert not _can(control_plane, kubeconfig, "create", "computeclusters.azureml.dev", "-n", namespace)
    assert not _can(control_plane, kubeconfig, "delete", "computeclusters.azureml.dev", "-n", namespace)
    assert not _can(control_plane, kubeconfig, "get", "namespaces/kube-system"), "the cluster id was looked up"


@pytest.mark.parametrize("values", [
    {}, {"watch": {"namespaces": ["a", "b"]}}, {"replicas": 3}, {"watch": {"namespaces": ["a"]}, "replicas": 2},
    {"rbac": {"frameworkObservation": False, "writeSecrets": False}, "clusterId": "x"},
], ids=["clusterwide", "namespaced", "peering", "namespaced-peering", "narrowest"])
def test_rbac_has_no_wildcards_and_only_known_rules(values: dict[str, Any], tmp_path: Path) -> None:
    rendered = helm_offline("template", "t", str(CHART), "-n", "aml", "-f", values_file(tmp_path, values)).stdout
    roles = [doc for doc in yaml_docs(rendered) if doc["kind"] in ("Role", "ClusterRole")]
    assert roles
    allowed_groups = {"", "azureml.dev", "kopf.dev", "apiextensions.k8s.io"}
    for role in roles:
        for rule in role["rules"]:
            for key in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert not any("*" in item for item in rule.get(key, [])), (role["metadata"]["name"], rule)
            assert set(rule["apiGroups"]) <= allowed_groups, rule
            assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"]), rule


@pytest.mark.parametrize("installed", ["namespaced"], indirect=True)
def test_inference_cluster_kubeconfig_secret_under_the_charts_service_account(
        installed: dict[str, Any], control_plane: ControlPlane, emulator: Emulator, namespace: str,
        tmp_path: Path) -> None:
    """The Secret write verbs: an InferenceCluster creates its kubeconfig Secret and replaces it when stale."""
    deployment = installed["deployment"]
    sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = sa_kubeconfig(control_plane, sa, installed["namespace"], tmp_path / "sa-kubeconfig")
    operator = ChartOperator(deployment, kubeconfig, emulator, tmp_path / "operator.log")
    kube = Kube(control_plane, namespace)
    name = unique(namespace, "rbac-aks")
    secret = f"{name}-kubeconfig"

    def published() -> str:
        found = kube.get("secret", secret) or {}
        return base64.b64decode((found.get("data") or {}).get("kubeconfig", "")).decode()

    operator.start()
    try:
        kube.apply(credentials_secret(), workspace())
        kube.wait_condition("workspace", "ws-ml", timeout=READY_TIMEOUT)
        kube.apply({"apiVersion": "azureml.dev/v1alpha1", "kind": "InferenceCluster", "metadata": {"name": name},
                    "spec": {"workspaceRef": {"name": "ws-ml"}, "kubeconfigSecretRef": {"name": secret},
                             "create": {"location": "northeurope", "agentVmSize": "Standard_D3_v2",
                                        "agentCount": 3, "purpose": "Production"}}})
        kube.wait_condition("inferencecluster", name, timeout=READY_TIMEOUT)
        eventually(lambda: published().startswith("apiVersion: v1"), READY_TIMEOUT, what="kubeconfig created")
        kube.patch("secret", secret, {"stringData": {"kubeconfig": "tampered"}})
        eventually(lambda: published().startswith("apiVersion: v1"), READY_TIMEOUT, what="kubeconfig replaced")
        kube.delete("inferencecluster", name)
        kube.wait_gone("inferencecluster", name, timeout=READY_TIMEOUT)
        kube.delete("workspace", "ws-ml")
        kube.wait_gone("workspace", "ws-ml", timeout=READY_TIMEOUT)
    finally:
        operator.stop()
    assert operator.refusals() == [], "\n".join(operator.refusals()[:20])
