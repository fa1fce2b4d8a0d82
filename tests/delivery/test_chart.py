"""The Helm charts: lint, schema, server-side dry run, install / upgrade / uninstall on the real API server."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from deliverykit import CHART, CRDS_CHART, Helm, helm_offline, values_file, yaml_docs

from controlplane import ControlPlane

pytestmark = pytest.mark.timeout(600)

# Values that exercise every optional template (ServiceMonitor aside: its CRD is not installed here).
FULL: dict[str, Any] = yaml.safe_load("""
replicas: 2
watch: {namespaces: [team-a, team-b]}
operatorIdentityNamespaces: [team-a]
azure:
  armEndpoint: https://management.usgovcloudapi.net
  armAudience: https://management.core.usgovcloudapi.net
  authorityHost: https://login.microsoftonline.us
  apiVersion: "2024-04-01"
  caBundle: {configMap: proxy-ca, key: ca.crt}
clusterId: prod-westeurope-1
workloadIdentity: {enabled: true, clientId: 33333333-3333-3333-3333-333333333333}
image: {digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: ops, effect: NoSchedule}]
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector: {matchLabels: {app.kubernetes.io/name: azureml-compute-operator}}
networkPolicy:
  metricsFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
extraEnv: [{name: AML_EXTRA, value: "1"}]
podLabels: {team: ml}
""")


@pytest.mark.parametrize("chart", [CHART, CRDS_CHART], ids=["operator", "crds"])
def test_helm_lint_is_clean(chart: Path, tmp_path: Path) -> None:
    result = helm_offline("lint", "--strict", str(chart))
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout
    if chart == CHART:
        helm_offline("lint", "--strict", str(chart), "-f", values_file(tmp_path, FULL))


@pytest.mark.parametrize("values, error", [
    ({"replicas": "two"}, "/replicas"),
    ({"replicas": -1}, "/replicas"),
    ({"watch": {"namespaces": ["Not_A_Namespace"]}}, "/watch/namespaces/0"),
    ({"watch": {"namespace": ["typo"]}}, "namespace"),
    ({"pollInterval": 0}, "/pollInterval"),
    ({"azure": {"armEndpoint": "management.azure.com"}}, "/azure/armEndpoint"),
    ({"azure": {"apiVersion": "latest"}}, "/azure/apiVersion"),
    ({"securityContext": {"readOnlyRootFilesystem": False}}, "/securityContext"),
    ({"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}}, "/securityContext/capabilities/drop"),
    ({"podSecurityContext": {"runAsNonRoot": False}}, "/podSecurityContext/runAsNonRoot"),
    ({"workloadIdentity": {"enabled": True}}, "/workloadIdentity"),
    ({"metrics": {"port": 70000}}, "/metrics/port"),
    ({"image": {"digest": "latest"}}, "/image/digest"),
    ({"operatorIdentityNamespaces": ["team-*"]}, "/operatorIdentityNamespaces/0"),
])
def test_values_that_violate_the_schema_are_refused(values: dict[str, Any], error: str, tmp_path: Path) -> None:
    result = helm_offline("template", "t", str(CHART), "-f", values_file(tmp_path, values), check=False)
    assert result.returncode != 0
    assert error in result.stderr, result.stderr


def test_crds_chart_values_are_constrained(tmp_path: Path) -> None:
    result = helm_offline("template", "t", str(CRDS_CHART), "-f", values_file(tmp_path, {"keeep": True}), check=False)
    assert result.returncode != 0 and "keeep" in result.stderr


def test_rendered_pod_is_hardened() -> None:
    docs = yaml_docs(helm_offline("template", "t", str(CHART), "-n", "aml").stdout)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"]["drop"] == ["ALL"] and security["runAsNonRoot"]
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["args"] == ["--liveness", "http://0.0.0.0:8080/healthz"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AML_METRICS_PORT"] == "8081" and env["AML_OPERATOR_NAMESPACES"] == ""
    assert "AML_CLUSTER_ID" not in env, "rendered offline: the operator reads kube-system itself"
    pod_id = next(e for e in container["env"] if e["name"] == "POD_ID")
    assert pod_id["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, "kopf's identity: the pod's name"
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Service",
                            "Deployment", "PodDisruptionBudget", "NetworkPolicy", "NetworkPolicy", "Pod"])
    services = {d["metadata"]["name"]: d["spec"]["ports"] for d in docs if d["kind"] == "Service"}
    assert services == {
        "t-azureml-compute-operator-metrics": [{"name": "metrics", "port": 8081, "targetPort": "metrics",
                                                "protocol": "TCP"}],
        "t-azureml-compute-operator-health": [{"name": "health", "port": 8080, "targetPort": "health",
                                               "protocol": "TCP"}]}


def test_helm_test_pod_asks_the_liveness_endpoint_through_the_health_service(tmp_path: Path) -> None:
    values = {"health": {"port": 9090}, "image": {"digest": "sha256:" + "c" * 64}}
    docs = yaml_docs(helm_offline("template", "t", str(CHART), "-n", "aml", "-f", values_file(tmp_path, values)).stdout)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    (operator,) = deployment["spec"]["template"]["spec"]["containers"]
    (test_pod,) = [d for d in docs if d["kind"] == "Pod"]
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = test_pod["spec"]["containers"]
    assert container["image"] == operator["image"]
    assert operator["image"] == f"ghcr.io/azureml-compute-operator/azureml-compute-operator@sha256:{'c' * 64}"
    assert container["securityContext"] == operator["securityContext"]
    assert test_pod["spec"]["automountServiceAccountToken"] is False
    labels = test_pod["metadata"]["labels"]
    selectors = [deployment["spec"]["selector"]["matchLabels"]]
    selectors += [d["spec"]["selector"] for d in docs if d["kind"] == "Service"]
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    selectors.append(policies.pop("t-azureml-compute-operator")["podSelector"]["matchLabels"])
    selectors += [d["spec"]["selector"]["matchLabels"] for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert len(selectors) == 5
    for selector in selectors:
        assert not selector.items() <= labels.items(), f"{selector} selects the test pod"
    # Its own policy: no ingress; egress to DNS and to the operator's pods on the health port only.
    (policy,) = policies.values()
    assert policy["podSelector"]["matchLabels"].items() <= labels.items() and "ingress" not in policy
    to_operator = policy["egress"][1]
    assert to_operator["to"] == [{"podSelector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]}}]
    assert to_operator["ports"] == [{"port": 9090, "protocol": "TCP"}]
    script = container["args"][0]
    assert "http://t-azureml-compute-operator-health.aml.svc:9090/healthz" in script
    # The script the pod runs, against a local endpoint that answers as kopf's does, then a wrong path.
    class Healthz(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Healthz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        local = script.replace("t-azureml-compute-operator-health.aml.svc:9090", f"127.0.0.1:{server.server_port}")
        answered = subprocess.run([sys.executable, "-c", local], capture_output=True, text=True, timeout=30)
        assert answered.returncode == 0, answered.stderr
        missing = subprocess.run([sys.executable, "-c", local.replace("/healthz", "/nothing")], capture_output=True,
                                 text=True, timeout=30)
        assert missing.returncode != 0
    finally:
        server.shutdown()
    disabled = yaml_docs(helm_offline("template", "t", str(CHART), "--set", "health.service.enabled=false").stdout)
    assert not [d for d in disabled if d["kind"] == "Pod" or d["metadata"]["name"].endswith(("-health", "-liveness"))]


def test_workload_identity_annotates_the_service_account_and_labels_the_pod(tmp_path: Path) -> None:
    docs = yaml_docs(helm_offline("template", "t", str(CHART), "-f", values_file(tmp_path, FULL)).stdout)
    sa = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"] == FULL["workloadIdentity"]["clientId"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AML_OPERATOR_PEERING"] == "t-azureml-compute-operator"
    assert env["AML_OPERATOR_NAMESPACES"] == "team-a,team-b"
    assert env["AML_CA_BUNDLE"] == "/etc/azureml-compute-operator/ca/ca.crt"
    assert env["AML_CLUSTER_ID"] == "prod-westeurope-1"
    assert env["AML_API_VERSION"] == "2024-04-01"
    peerings = [d for d in docs if d["kind"] == "KopfPeering"]
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["team-a", "team-b"]
    monitor = yaml_docs(helm_offline("template", "t", str(CHART), "--set=metrics.serviceMonitor.enabled=true").stdout)
    assert any(d["kind"] == "ServiceMonitor" for d in monitor)


def test_template_is_accepted_by_the_api_server_dry_run(
        crds_chart: str, control_plane: ControlPlane, tmp_path: Path) -> None:
    for ns in ("team-a", "team-b"):
        control_plane.kubectl("create", "namespace", ns, check=False)
    for values in ({}, FULL):
        path = values_file(tmp_path, values)
        rendered = helm_offline("template", "t", str(CHART), "-n", "default", "-f", path).stdout
        result = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
        assert "(server dry run)" in result.stdout
    crds = helm_offline("template", "t", str(CRDS_CHART)).stdout
    control_plane.kubectl("apply", "--dry-run=server", "--server-side", "--force-conflicts", "-f", "-", input=crds)


def test_install_upgrade_uninstall(helm: Helm, crds_chart: str, control_plane: ControlPlane,
                                   release_namespace: str, tmp_path: Path) -> None:
    release = f"aml-{uuid.uuid4().hex[:6]}"
    helm("install", release, str(CHART), "-n", release_namespace, "--timeout", "120s")
    status = json.loads(helm("status", release, "-n", release_namespace, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    assert "kubectl apply -n <namespace> -f deploy/samples/workspace.yaml" in status["info"]["notes"]

    def env() -> dict[str, str]:
        deployment = json.loads(control_plane.kubectl(
            "get", "deployment", f"{release}-azureml-compute-operator", "-n", release_namespace, "-o", "json").stdout)
        return {e["name"]: e.get("value", "") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}

    uid = control_plane.kubectl("get", "namespace", "kube-system", "-o", "jsonpath={.metadata.uid}").stdout
    assert env()["AML_CLUSTER_ID"] == uid, "helm install looks up the kube-system uid"
    name = f"{release}-azureml-compute-operator"
    assert control_plane.kubectl("get", "clusterrole", name, check=False).returncode == 0

    # A values change: watch one namespace, two replicas with peering. The ClusterRole gives way to Roles.
    values = values_file(tmp_path, {"watch": {"namespaces": [release_namespace]}, "replicas": 2, "driftInterval": 60})
    helm("upgrade", release, str(CHART), "-n", release_namespace, "-f", values, "--timeout", "120s")
    assert json.loads(helm("status", release, "-n", release_namespace, "-o", "json").stdout)["version"] == 2
    after = env()
    assert after["AML_OPERATOR_NAMESPACES"] == release_namespace and after["AML_DRIFT_INTERVAL"] == "60"
    assert after["AML_OPERATOR_PEERING"] == f"{release}-azureml-compute-operator"
    assert control_plane.kubectl("get", "clusterrole", name, check=False).returncode != 0
    control_plane.kubectl("get", "role,rolebinding,kopfpeering", f"{release}-azureml-compute-operator",
                          "-n", release_namespace)

    # Refused values leave the release as it was.
    refused = helm("upgrade", release, str(CHART), "-n", release_namespace, "--set", "replicas=many", check=False)
    assert refused.returncode != 0
    assert json.loads(helm("status", release, "-n", release_namespace, "-o", "json").stdout)["version"] == 2

    helm("uninstall", release, "-n", release_namespace, "--wait", "--timeout", "120s")
    left = control_plane.kubectl("get", "all,role,rolebinding,serviceaccount,kopfpeering", "-n", release_namespace,
                                 "-l", f"app.kubernetes.io/instance={release}", "-o", "name").stdout
    assert left.strip() == ""
    crds = control_plane.kubectl("get", "crd", "workspaces.azureml.dev", "-o", "json")
    assert crds.returncode == 0, "CRDs outlive the operator chart"
