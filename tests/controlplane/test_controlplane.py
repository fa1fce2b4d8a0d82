"""The local control plane is a real Kubernetes API server: version, validation, RBAC, controllers, kopf."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from controlplane import ControlPlane

HERE = Path(__file__).resolve().parent
TESTDATA = HERE / "testdata"


def pinned_kubernetes_version() -> str:
    for line in (HERE / "versions.env").read_text().splitlines():
        if line.startswith("KUBERNETES_VERSION="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("KUBERNETES_VERSION missing from versions.env")


def eventually(check: Callable[[], bool], timeout: float = 60, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture(scope="module")
def widgets_crd(control_plane: ControlPlane) -> str:
    control_plane.kubectl("apply", "-f", str(TESTDATA / "widgets-crd.yaml"))
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                          "crd/widgets.testing.azureml.dev")
    return "widgets.testing.azureml.dev"


def widget(name: str, namespace: str, size: str = "small", min_count: int = 0, max_count: int = 2) -> str:
    return json.dumps({
        "apiVersion": "testing.azureml.dev/v1", "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"size": size, "minCount": min_count, "maxCount": max_count},
    })


def test_version_is_the_pinned_release(control_plane: ControlPlane) -> None:
    version = json.loads(control_plane.kubectl("get", "--raw", "/version").stdout)
    assert version["gitVersion"] == pinned_kubernetes_version()
    client = json.loads(control_plane.kubectl("version", "--client", "-o", "json").stdout)
    assert client["clientVersion"]["gitVersion"] == pinned_kubernetes_version()


def test_crd_openapi_and_cel_rules_are_enforced(control_plane: ControlPlane, widgets_crd: str,
                                                 namespace: str) -> None:
    kubectl = control_plane.kubectl
    kubectl("apply", "-f", "-", input=widget("good", namespace))

    bad_cel = kubectl("apply", "-f", "-", input=widget("bad-counts", namespace, min_count=3, max_count=1),
                      check=False)
    assert bad_cel.returncode != 0
    assert "spec.minCount must be less than or equal to spec.maxCount" in bad_cel.stderr

    bad_pattern = kubectl("apply", "-f", "-", input=widget("bad-size", namespace, size="9-Large"), check=False)
    assert bad_pattern.returncode != 0
    assert "spec.size" in bad_pattern.stderr and "should match" in bad_pattern.stderr

    names = kubectl("get", "widgets", "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert names == ["good"]


def test_rbac_refuses_the_unprivileged_user_until_a_role_grants_it(control_plane: ControlPlane,
                                                                   namespace: str) -> None:
    kubectl = control_plane.kubectl
    as_user = {"kubeconfig": control_plane.user_kubeconfig}
    kubectl("create", "configmap", "settings", "-n", namespace, "--from-literal=colour=blue")

    refused = kubectl("get", "configmap", "settings", "-n", namespace, check=False, **as_user)
    assert refused.returncode != 0
    assert "Forbidden" in refused.stderr and 'User "tester" cannot get resource "configmaps"' in refused.stderr

    kubectl("create", "role", "read-configmaps", "-n", namespace, "--verb=get,list", "--resource=configmaps")
    kubectl("create", "rolebinding", "tester-reads", "-n", namespace, "--role=read-configmaps", "--user=tester")

    def allowed() -> bool:
        return kubectl("get", "configmap", "settings", "-n", namespace, check=False, **as_user).returncode == 0

    eventually(allowed, timeout=30)
    still_refused = kubectl("delete", "configmap", "settings", "-n", namespace, check=False, **as_user)
    assert still_refused.returncode != 0 and "Forbidden" in still_refused.stderr


def test_deleting_a_namespace_with_objects_completes(control_plane: ControlPlane, widgets_crd: str) -> None:
    kubectl = control_plane.kubectl
    name = "doomed-namespace"
    kubectl("create", "namespace", name)
    kubectl("create", "configmap", "data", "-n", name, "--from-literal=a=b")
    kubectl("apply", "-f", "-", input=widget("w1", name))
    kubectl("delete", "namespace", name, "--wait=false")

    def gone() -> bool:
        return kubectl("get", "namespace", name, check=False).returncode != 0

    eventually(gone, timeout=90)


def test_kopf_operator_as_subprocess_sees_an_object_and_patches_its_status(
        control_plane: ControlPlane, widgets_crd: str, namespace: str, kube_env: dict[str, str]) -> None:
    kubectl = control_plane.kubectl
    log = control_plane.workdir / f"kopf-{namespace}.log"
    with log.open("w") as out:
        operator = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", namespace,
             str(TESTDATA / "widget_operator.py")],
            env=kube_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        kubectl("apply", "-f", "-", input=widget("watched", namespace, min_count=1, max_count=4))

        def patched() -> bool:
            status = kubectl("get", "widget", "watched", "-n", namespace, "-o", "jsonpath={.status}").stdout
            return bool(status) and json.loads(status).get("seen") is True

        try:
            eventually(patched, timeout=60)
        except AssertionError:
            raise AssertionError(f"kopf did not patch the status; its log:\n{log.read_text()}") from None
        status = json.loads(kubectl("get", "widget", "watched", "-n", namespace, "-o", "jsonpath={.status}").stdout)
        assert status["capacity"] == 3
    finally:
        os.killpg(operator.pid, signal.SIGTERM)
        operator.wait(timeout=30)
