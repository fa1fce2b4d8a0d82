"""Each verb the chart grants is needed: without it the operator is refused something.

One run per (rule, verb): install the chart, take that verb out of the live Role or ClusterRole,
run the operator under the ServiceAccount token and drive a Workspace and a ComputeCluster to Ready
and away (for the Secret write verbs, an InferenceCluster publishing its kubeconfig; for ServiceAccount
tokens, a Workspace that reaches Azure as a ServiceAccount of its namespace). The run stops
as soon as the API server refuses the operator something. Not covered here: `get` on the
kube-system namespace, granted only when no cluster id is known (without it the operator stops at
start-up: "cannot tell which cluster this is"); test_kustomize.py shows it used.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chart_operator import ChartOperator, sa_kubeconfig
from deliverykit import CHART, Helm, helm_offline, values_file, yaml_docs

from controlplane import ControlPlane
from harness import (
    DRIFT_INTERVAL,
    POLL_INTERVAL,
    SUBSCRIPTION_ID,
    TENANT_ID,
    Emulator,
    Kube,
    compute_cluster,
    credentials_secret,
    unique,
    workspace,
)

pytestmark = pytest.mark.timeout(600)

FLOW_TIMEOUT = 150
# Verbs only an InferenceCluster uses: its kubeconfig Secret is created, and replaced when stale.
SECRET_WRITES = ("create", "update")


def mode_values(mode: str, namespace: str, emulator: Emulator) -> dict[str, Any]:
    values: dict[str, Any] = {
        "watch": {"namespaces": [namespace]}, "pollInterval": POLL_INTERVAL, "driftInterval": DRIFT_INTERVAL,
        "verbose": True,
        "azure": {"armEndpoint": emulator.url, "authorityHost": emulator.url,
                  "caBundle": {"configMap": "azure-ca", "key": "ca.pem"}},
    }
    if mode == "peering":
        values["replicas"] = 2
    return values


def cases() -> list[tuple[str, str, int, str]]:
    """(mode, role kind, rule index, verb) for every verb of every rule the chart renders."""
    out = []
    for mode, values in (("namespaced", {"watch": {"namespaces": ["ns"]}}),
                         ("peering", {"watch": {"namespaces": ["ns"]}, "replicas": 2})):
        args = ["--set-json", f"watch={json.dumps(values['watch'])}", "--set", f"replicas={values.get('replicas', 1)}"]
        docs = yaml_docs(helm_offline("template", "t", str(CHART), "--set", "clusterId=x", *args).stdout)
        for doc in docs:
            if doc["kind"] not in ("Role", "ClusterRole"):
                continue
            for index, rule in enumerate(doc["rules"]):
                if mode == "peering" and "kopf.dev" not in rule["apiGroups"]:
                    continue  # shown in the namespaced mode
                for verb in rule["verbs"]:
                    out.append((mode, doc["kind"], index, verb))
    return out


def case_id(case: tuple[str, str, int, str]) -> str:
    return "-".join(str(part) for part in case)


@pytest.fixture
def chart(helm: Helm, crds_chart: str, control_plane: ControlPlane, emulator: Emulator, namespace: str,
          release_namespace: str, tmp_path: Path) -> Iterator[Callable[[str], dict[str, Any]]]:
    installed: list[str] = []

    def install(mode: str) -> dict[str, Any]:
        release = f"min-{uuid.uuid4().hex[:6]}"
        control_plane.kubectl("create", "configmap", "azure-ca", "-n", release_namespace,
                              f"--from-file=ca.pem={emulator.ca_file}")
        values = mode_values(mode, namespace, emulator)
        helm("install", release, str(CHART), "-n", release_namespace, "-f", values_file(tmp_path, values),
             "--set", "clusterId=minimality")
        installed.append(release)
        return json.loads(control_plane.kubectl(
            "get", "deployment", "-n", release_namespace, "-l", f"app.kubernetes.io/instance={release}",
            "-o", "json").stdout)["items"][0]

    yield install
    for release in installed:
        helm("uninstall", release, "-n", release_namespace, "--wait", "--timeout", "120s", check=False)


def remove_verb(plane: ControlPlane, kind: str, name: str, namespace: str, index: int, verb: str) -> dict[str, Any]:
    where = ["-n", namespace] if kind == "Role" else []
    role = json.loads(plane.kubectl("get", kind.lower(), name, *where, "-o", "json").stdout)
    rule = role["rules"][index]
    rule["verbs"] = [v for v in rule["verbs"] if v != verb]
    if not rule["verbs"]:
        del role["rules"][index]
    plane.kubectl("replace", "-f", "-", input=json.dumps(role))
    return rule


def drive(kube: Kube, operator: ChartOperator, namespace: str) -> str:
    """Workspace and ComputeCluster to Ready and away; returns what broke first, "" if nothing did."""
    name = unique(namespace, "min")
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("workspace Ready", lambda: ready(kube.get("workspace", "ws-ml"))),
        ("computecluster Ready", lambda: ready(kube.get("computecluster", name))),
        ("computecluster deleted", lambda: kube.get("computecluster", name) is None),
        ("workspace deleted", lambda: kube.get("workspace", "ws-ml") is None),
    ]
    actions = [lambda: kube.apply(credentials_secret(), workspace()), lambda: kube.apply(compute_cluster(name)),
               lambda: kube.delete("computecluster", name), lambda: kube.delete("workspace", "ws-ml")]
    deadline = time.monotonic() + FLOW_TIMEOUT
    for (what, check), act in zip(steps, actions, strict=True):
        act()
        while not check():
            if operator.refusals():
                return f"refused during '{what}': {operator.refusals()[0][:400]}"
            if operator.process is not None and operator.process.poll() is not None:
                return f"operator exited during '{what}'"
            if time.monotonic() > deadline:
                return f"no '{what}' within {FLOW_TIMEOUT}s"
            time.sleep(0.2)
    time.sleep(1)  # a refusal logged right at the end still counts
    return f"refused: {operator.refusals()[0]}" if operator.refusals() else ""


def drive_workload_identity(kube: Kube, operator: ChartOperator, namespace: str) -> str:
    """A Workspace with a workload identity: the operator requests a token of the ServiceAccount it names."""
    kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ml-team"}},
               {"apiVersion": "azureml.dev/v1alpha1", "kind": "Workspace", "metadata": {"name": "ws-wi"},
                "spec": {"subscriptionId": SUBSCRIPTION_ID, "resourceGroup": "rg-ml",
                         "workspaceName": "ws-ml",
                         "credentials": {"workloadIdentity": {"clientId": str(uuid.uuid4()), "tenantId": TENANT_ID,
                                                              "serviceAccountName": "ml-team"}}}})
    deadline = time.monotonic() + FLOW_TIMEOUT
    while time.monotonic() < deadline:
        conditions = ((kube.get("workspace", "ws-wi") or {}).get("status") or {}).get("conditions", [])
        for condition in conditions:
            if "may not request tokens" in condition.get("message", ""):
                return f"refused: {condition['message']}"
        if operator.refusals():
            return f"refused: {operator.refusals()[0][:400]}"
        time.sleep(0.2)
    return ""


def drive_kubeconfig(kube: Kube, operator: ChartOperator, namespace: str) -> str:
    """An InferenceCluster creates its kubeconfig Secret, and replaces it once tampered with."""
    name = unique(namespace, "min-aks")
    secret = f"{name}-kubeconfig"

    def published() -> bool:
        found = kube.get("secret", secret) or {}
        return base64.b64decode((found.get("data") or {}).get("kubeconfig", "")).decode().startswith("apiVersion")

    def refused() -> str:
        for event in kube.events():
            if event["involvedObject"]["name"] == name and event["reason"] == "KubeconfigWriteFailed":
                return f"refused: {event['message']}"
        return operator.refusals()[0][:400] if operator.refusals() else ""

    kube.apply(credentials_secret(), workspace())
    kube.apply({"apiVersion": "azureml.dev/v1alpha1", "kind": "InferenceCluster", "metadata": {"name": name},
                "spec": {"workspaceRef": {"name": "ws-ml"}, "kubeconfigSecretRef": {"name": secret},
                         "create": {"location": "northeurope", "agentVmSize": "Standard_D3_v2", "agentCount": 3,
                                    "purpose": "Production"}}})
    def tamper() -> None:
        kube.patch("secret", secret, {"stringData": {"kubeconfig": "x"}})

    for what, act in (("kubeconfig created", None), ("kubeconfig replaced", tamper)):
        if act is not None:
            act()
        deadline = time.monotonic() + FLOW_TIMEOUT
        while not published():
            if broke := refused():
                return f"during '{what}': {broke}"
            if time.monotonic() > deadline:
                return f"no '{what}' within {FLOW_TIMEOUT}s"
            time.sleep(0.2)
    return refused()


def ready(obj: dict[str, Any] | None) -> bool:
    status = (obj or {}).get("status") or {}
    current = status.get("observedGeneration") == (obj or {}).get("metadata", {}).get("generation")
    return current and any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))


@pytest.mark.parametrize("case", cases(), ids=[case_id(c) for c in cases()])
def test_each_verb_is_needed(case: tuple[str, str, int, str], chart: Callable[[str], dict[str, Any]],
                             control_plane: ControlPlane, emulator: Emulator, namespace: str,
                             release_namespace: str, tmp_path: Path) -> None:
    mode, kind, index, verb = case
    deployment = chart(mode)
    name = deployment["metadata"]["name"] + ("-framework" if kind == "ClusterRole" else "")
    rule = remove_verb(control_plane, kind, name, namespace, index, verb)
    resources = rule["resources"]
    flow = drive
    if resources == ["secrets"] and verb in SECRET_WRITES:
        flow = drive_kubeconfig
    elif resources == ["serviceaccounts/token"]:
        flow = drive_workload_identity

    sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = sa_kubeconfig(control_plane, sa, release_namespace, tmp_path / "sa-kubeconfig")
    operator = ChartOperator(deployment, kubeconfig, emulator, tmp_path / "operator.log")
    operator.start()
    try:
        broke = flow(Kube(control_plane, namespace), operator, namespace)
    finally:
        operator.stop()
    print(f"\n{case_id(case)} {resources}: {broke or 'nothing broke'}")
    assert broke, f"without {verb} on {resources} nothing broke: the verb is not needed"
