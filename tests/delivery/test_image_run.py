"""The built image runs as the chart runs it (image_pod.py): the Deployment the chart installed on the
real API server, its ServiceAccount and RBAC, its env, args and securityContext, a read-only root; a
Workspace and a ComputeCluster reach Ready against the emulator, the probes' endpoints answer, the
chart's `helm test` pod passes against it, and nothing is written outside the /tmp emptyDir."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chart_operator import container_of
from deliverykit import CHART, Helm, values_file, yaml_docs
from image_pod import ImageFilesystem, ImagePod

from controlplane import ControlPlane, free_port
from harness import (
    DRIFT_INTERVAL,
    POLL_INTERVAL,
    Emulator,
    Kube,
    compute_cluster,
    credentials_secret,
    eventually,
    unique,
    workspace,
)

pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

READY_TIMEOUT = 240  # two cores shared by several test sessions


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (a local http URL)
        return response.status, response.read().decode(errors="replace")


def answering(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


@pytest.fixture
def filesystem(operator_image: str) -> Iterator[ImageFilesystem]:
    mounted = ImageFilesystem.mount(operator_image, f"aml-test-{uuid.uuid4().hex[:8]}")
    yield mounted
    mounted.remove()


@pytest.fixture
def deployment(helm: Helm, crds_chart: str, control_plane: ControlPlane, emulator: Emulator, namespace: str,
               release_namespace: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The chart installed watching `namespace` with two replicas (kopf peering), on free ports (this machine
    is shared), the emulator's CA from a ConfigMap."""
    release = f"aml-img-{uuid.uuid4().hex[:5]}"
    control_plane.kubectl("create", "configmap", "azure-ca", "-n", release_namespace,
                          f"--from-file=ca.pem={emulator.ca_file}")
    values = {"watch": {"namespaces": [namespace]}, "replicas": 2,
              "pollInterval": POLL_INTERVAL, "driftInterval": DRIFT_INTERVAL,
              "azure": {"armEndpoint": emulator.url, "authorityHost": emulator.url,
                        "caBundle": {"configMap": "azure-ca", "key": "ca.pem"}},
              "health": {"port": free_port()}, "metrics": {"port": free_port()}}
    helm("install", release, str(CHART), "-n", release_namespace, "-f", values_file(tmp_path, values))
    found = json.loads(control_plane.kubectl("get", "deployment", "-n", release_namespace, "-l",
                                             f"app.kubernetes.io/instance={release}", "-o", "json").stdout)["items"]
    assert len(found) == 1
    yield found[0]
    helm("uninstall", release, "-n", release_namespace, "--wait", "--timeout", "120s", check=False)


def helm_test_pod(helm: Helm, deployment: dict[str, Any], health_port: int) -> dict[str, Any]:
    """The chart's `helm test` pod as the release holds it, asking the operator's port directly: here no
    cluster DNS or Service proxy stands between them, and the pods share the host's network."""
    release = deployment["metadata"]["labels"]["app.kubernetes.io/instance"]
    namespace = deployment["metadata"]["namespace"]
    (pod,) = [doc for doc in yaml_docs(helm("get", "hooks", release, "-n", namespace).stdout) if doc["kind"] == "Pod"]
    (container,) = pod["spec"]["containers"]
    service = f"{deployment['metadata']['name']}-health.{namespace}.svc:{health_port}"
    assert service in container["args"][0], container["args"]
    container["args"] = [container["args"][0].replace(service, f"127.0.0.1:{health_port}")]
    return pod


def test_image_runs_as_the_chart_runs_it(deployment: dict[str, Any], filesystem: ImageFilesystem, helm: Helm,
                                         control_plane: ControlPlane, emulator: Emulator, namespace: str,
                                         tmp_path: Path) -> None:
    container = container_of(deployment)
    probe = container["livenessProbe"]["httpGet"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    liveness = f"http://127.0.0.1:{ports[probe['port']]}{probe['path']}"
    metrics = f"http://127.0.0.1:{ports['metrics']}/metrics"
    assert container["readinessProbe"]["httpGet"] == probe

    pod = ImagePod(deployment, filesystem, control_plane, tmp_path, tmp_path / "operator.log")
    pod.prepare_volumes()
    before = filesystem.snapshot(set(pod.volumes))
    kube = Kube(control_plane, namespace)
    figures: dict[str, float] = {}
    started = time.monotonic()
    pod.start()
    try:
        eventually(lambda: answering(liveness) or pod.process is None or pod.process.poll() is not None,
                   READY_TIMEOUT, what="the liveness endpoint")
        assert pod.process is not None and pod.process.poll() is None, pod.output()[-5000:]
        figures["liveness answers"] = time.monotonic() - started
        kube.apply(credentials_secret(), workspace())
        kube.wait_condition("workspace", "ws-ml", timeout=READY_TIMEOUT)
        figures["Workspace Ready"] = time.monotonic() - started
        cluster = unique(namespace, "img-cc")
        kube.apply(compute_cluster(cluster))
        kube.wait_condition("computecluster", cluster, timeout=READY_TIMEOUT)
        figures["ComputeCluster Ready"] = time.monotonic() - started
        assert emulator.compute(cluster) is not None

        # kopf announces itself in the chart's KopfPeering under POD_ID, the pod's name (downward API).
        peering = json.loads(control_plane.kubectl("get", "kopfpeering", deployment["metadata"]["name"], "-n",
                                                   namespace, "-o", "json").stdout)
        assert pod.name in (peering.get("status") or {}), peering.get("status")
        status, body = get(metrics)
        assert status == 200 and "aml_reconciles_total" in body and "aml_arm_requests_total" in body
        assert get(liveness)[0] == 200
        hook = helm_test_pod(helm, deployment, ports[probe["port"]])
        (tmp_path / "helm-test").mkdir()
        tester = ImagePod(hook, filesystem, control_plane, tmp_path / "helm-test", tmp_path / "helm-test.log",
                          container_name=hook["spec"]["containers"][0]["name"])
        tester.start()
        assert tester.process is not None and tester.process.wait(timeout=120) == 0, tester.output()
        assert " 200 " in tester.output(), tester.output()
        kube.delete("computecluster", cluster)
        kube.wait_gone("computecluster", cluster, timeout=READY_TIMEOUT)
        kube.delete("workspace", "ws-ml")
        kube.wait_gone("workspace", "ws-ml", timeout=READY_TIMEOUT)
        assert emulator.compute(cluster) is None
    finally:
        pod.stop()
    output = pod.output()
    print("\nimage run as the chart runs it, seconds since start:",
          ", ".join(f"{what} {seconds:.1f}" for what, seconds in figures.items()))
    assert pod.refusals() == [], "\n".join(pod.refusals()[:20])
    for failure in ("Traceback", "getpwuid", "Read-only file system", "Permission denied"):
        assert failure not in output, output[-5000:]
    assert pod.written_outside_volumes(before) == []
    written = sorted(str(path.relative_to(pod.volumes["/tmp"])) for path in pod.volumes["/tmp"].rglob("*"))
    print("written to /tmp:", written or "nothing")
