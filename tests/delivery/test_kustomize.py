"""deploy/kustomize installs the same objects as the charts, and the operator runs under its RBAC."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chart_operator import ChartOperator, sa_kubeconfig
from deliverykit import CHART, CRDS_CHART, KUSTOMIZE, REPO, helm_offline, yaml_docs

from controlplane import ControlPlane
from harness import Emulator, Kube, compute_cluster, credentials_secret, unique, workspace

pytestmark = pytest.mark.timeout(900)

NAMESPACE = "azureml-system"
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")


def key(doc: dict[str, Any]) -> tuple[str, str, str]:
    return doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"]


def normalized(doc: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    meta = doc["metadata"]
    for label in HELM_ONLY_LABELS:
        meta.get("labels", {}).pop(label, None)
    return doc


def chart_objects(*charts: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    docs = []
    for chart in charts:
        docs += yaml_docs(helm_offline("template", chart.name, str(chart), "-n", NAMESPACE, "--skip-tests").stdout)
    return {key(doc): normalized(doc) for doc in docs}


def kustomize_objects(plane: ControlPlane, path: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {key(doc): normalized(doc) for doc in yaml_docs(plane.kubectl("kustomize", str(path)).stdout)}


def test_generated_copies_are_in_step_with_crds_and_charts() -> None:
    result = subprocess.run([sys.executable, str(KUSTOMIZE / "generate.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_crds_chart_carries_exactly_the_generated_crds() -> None:
    docs = yaml_docs(helm_offline("template", "x", str(CRDS_CHART), "--set", "kopfPeering=false").stdout)
    import yaml
    generated = {path.name: yaml.safe_load(path.read_text()) for path in (REPO / "crds").glob("*.yaml")}
    assert {f"{doc['metadata']['name']}.yaml" for doc in docs} == set(generated)
    for doc in docs:
        assert doc["spec"] == generated[f"{doc['metadata']['name']}.yaml"]["spec"]


def test_crds_kustomization_renders_the_crds_chart_kept_from_pruning_and_deletion(control_plane: ControlPlane) -> None:
    ours = kustomize_objects(control_plane, KUSTOMIZE / "crds")
    assert ours == chart_objects(CRDS_CHART)
    for doc in ours.values():
        annotations = doc["metadata"]["annotations"]
        assert annotations["helm.sh/resource-policy"] == "keep", key(doc)
        assert annotations["argocd.argoproj.io/sync-options"] == "Prune=false,Delete=false", key(doc)


def test_crds_chart_appends_to_the_users_argocd_sync_options() -> None:
    docs = yaml_docs(helm_offline("template", "x", str(CRDS_CHART), "--set-json",
                                  'annotations={"argocd.argoproj.io/sync-options": "ServerSideApply=true"}').stdout)
    assert {d["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] for d in docs} == {
        "ServerSideApply=true,Prune=false,Delete=false"}


@pytest.mark.parametrize("path", ["base", "overlays/example"])
def test_kustomize_renders_the_same_objects_as_the_charts(control_plane: ControlPlane, path: str) -> None:
    chart = chart_objects(CHART)
    ours = kustomize_objects(control_plane, KUSTOMIZE / path)
    assert set(ours) - set(chart) == {("Namespace", "", NAMESPACE)}
    assert set(chart) - set(ours) == set()
    for k, doc in chart.items():
        if doc["kind"] in ("ClusterRole", "Role"):
            assert ours[k]["rules"] == doc["rules"], k
        if doc["kind"] == "CustomResourceDefinition":
            assert ours[k]["spec"] == doc["spec"], k
        if path == "base":
            assert ours[k] == doc, k


def test_apply_k_installs_the_objects_and_the_operator_runs_under_its_rbac(
        crds_chart: str, control_plane: ControlPlane, emulator: Emulator, namespace: str, tmp_path: Path) -> None:
    overlay = KUSTOMIZE / "overlays" / "example"
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server", "-k",
                          str(KUSTOMIZE / "crds"))
    control_plane.kubectl("apply", "-k", str(overlay))
    deleted = False
    try:
        for kind, ns, name in kustomize_objects(control_plane, overlay):
            args = ["get", f"{kind.lower()}", name] + (["-n", ns] if ns else [])
            control_plane.kubectl(*args)
        deployment = json.loads(control_plane.kubectl(
            "get", "deployment", "azureml-compute-operator", "-n", NAMESPACE, "-o", "json").stdout)
        env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert "AML_CLUSTER_ID" not in env, "kustomize cannot look it up: the operator reads kube-system"

        kubeconfig = sa_kubeconfig(control_plane, "azureml-compute-operator", NAMESPACE, tmp_path / "sa-kubeconfig")
        overrides = {"AML_ARM_ENDPOINT": emulator.url, "AML_AUTHORITY_HOST": emulator.url,
                     "AML_CA_BUNDLE": emulator.ca_file, "AML_POLL_INTERVAL": "1", "AML_DRIFT_INTERVAL": "4"}
        operator = ChartOperator(deployment, kubeconfig, emulator, tmp_path / "operator.log", overrides=overrides)
        kube = Kube(control_plane, namespace)
        operator.start()
        try:
            kube.apply(credentials_secret(), workspace())
            kube.wait_condition("workspace", "ws-ml", timeout=240)
            cluster = unique(namespace, "kust")
            kube.apply(compute_cluster(cluster))
            kube.wait_condition("computecluster", cluster, timeout=240)
            kube.delete("computecluster", cluster)
            kube.wait_gone("computecluster", cluster, timeout=240)
            kube.delete("workspace", "ws-ml")
            kube.wait_gone("workspace", "ws-ml", timeout=240)
        finally:
            operator.stop()
        assert operator.refusals() == [], "\n".join(operator.refusals()[:20])
        uid = control_plane.kubectl("get", "namespace", "kube-system", "-o", "jsonpath={.metadata.uid}").stdout
        assert uid in operator.output(), "the operator read the cluster id itself"

        # Uninstalling the operator leaves the CRDs, and so every object of their kinds, in place.
        kube.apply(credentials_secret(), workspace())
        control_plane.kubectl("delete", "-k", str(overlay), "--wait=false")
        deleted = True
        for kind, _, name in kustomize_objects(control_plane, KUSTOMIZE / "crds"):
            control_plane.kubectl("get", kind.lower(), name)
        assert kube.get("workspace", "ws-ml") is not None
    finally:
        if not deleted:
            control_plane.kubectl("delete", "-k", str(overlay), "--wait=false", check=False)
