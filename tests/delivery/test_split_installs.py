"""Splitting the load the Kubernetes way: two installs of the operator chart, each watching its own
namespaces, sharing the one CRDs chart, run side by side without touching each other's objects.

Each install runs as its Deployment would (tests/delivery/chart_operator.py: the chart's env and args,
a TokenRequest token of the install's own ServiceAccount), with two replicas so that each has its own
KopfPeering. Both drive their own Workspace and ComputeCluster to Ready and delete them; neither
operator's log names the other's namespace or objects, neither was refused anything, and each
install's ServiceAccount cannot reach the other's namespace at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chart_operator import ChartOperator, sa_kubeconfig
from deliverykit import CHART, Helm, values_file

from controlplane import ControlPlane
from harness import (
    DRIFT_INTERVAL,
    POLL_INTERVAL,
    Emulator,
    Kube,
    compute_cluster,
    credentials_secret,
    unique,
    workspace,
)

pytestmark = pytest.mark.timeout(600)

READY_TIMEOUT = 240  # two cores shared by several test sessions


def _namespace(plane: ControlPlane, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    plane.kubectl("create", "namespace", name)
    return name


@pytest.fixture
def installs(helm: Helm, crds_chart: str, control_plane: ControlPlane, emulator: Emulator,
             tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """Two releases of the chart, each in a release namespace of its own, each watching one team's namespace."""
    made: list[dict[str, Any]] = []
    namespaces: list[str] = []
    try:
        for team in ("team-a", "team-b"):
            watched, home = _namespace(control_plane, team), _namespace(control_plane, f"aml-{team}")
            namespaces += [watched, home]
            release = f"aml-{team}-{uuid.uuid4().hex[:4]}"
            control_plane.kubectl("create", "configmap", "azure-ca", "-n", home,
                                  f"--from-file=ca.pem={emulator.ca_file}")
            values = {"watch": {"namespaces": [watched]}, "replicas": 2,
                      "azure": {"armEndpoint": emulator.url, "authorityHost": emulator.url,
                                "caBundle": {"configMap": "azure-ca", "key": "ca.pem"}},
                      "pollInterval": POLL_INTERVAL, "driftInterval": DRIFT_INTERVAL}
            helm("install", release, str(CHART), "-n", home, "-f", values_file(tmp_path, values), "--timeout", "120s")
            deployment = json.loads(control_plane.kubectl(
                "get", "deployment", "-n", home, "-l", f"app.kubernetes.io/instance={release}", "-o", "json",
            ).stdout)["items"][0]
            made.append({"release": release, "home": home, "watched": watched, "deployment": deployment})
        yield made
    finally:
        for install in made:
            helm("uninstall", install["release"], "-n", install["home"], "--wait", "--timeout", "120s", check=False)
        for name in namespaces:
            control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _can(plane: ControlPlane, kubeconfig: Path, *args: str) -> bool:
    return plane.kubectl("auth", "can-i", *args, kubeconfig=kubeconfig, check=False).stdout.strip() == "yes"


def test_two_installs_each_watching_its_namespaces_leave_each_other_alone(
        installs: list[dict[str, Any]], control_plane: ControlPlane, emulator: Emulator, tmp_path: Path) -> None:
    operators: list[ChartOperator] = []
    for index, install in enumerate(installs):
        deployment = install["deployment"]
        sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        kubeconfig = sa_kubeconfig(control_plane, sa, install["home"], tmp_path / f"sa-kubeconfig-{index}")
        install["kubeconfig"] = kubeconfig
        operators.append(ChartOperator(deployment, kubeconfig, emulator, tmp_path / f"operator-{index}.log"))
    # Each install's peering object is its own (the release's name), in its own watched namespace.
    peerings = {(install["watched"], install["deployment"]["metadata"]["name"]) for install in installs}
    for namespace, name in peerings:
        control_plane.kubectl("get", "kopfpeering", name, "-n", namespace)
    for install, other in zip(installs, installs[::-1], strict=True):
        assert not _can(control_plane, install["kubeconfig"], "get", "secrets", "-n", other["watched"])
        assert not _can(control_plane, install["kubeconfig"], "list", "computeclusters.azureml.dev",
                        "-n", other["watched"])
        assert not _can(control_plane, install["kubeconfig"], "patch", "kopfpeerings.kopf.dev",
                        "-n", other["watched"], other["deployment"]["metadata"]["name"])

    kubes = [Kube(control_plane, install["watched"]) for install in installs]
    names = [unique(install["watched"], "split") for install in installs]
    for operator in operators:
        operator.start()
    try:
        for kube, name in zip(kubes, names, strict=True):
            kube.apply(credentials_secret(), workspace(), compute_cluster(name))
        for kube, name in zip(kubes, names, strict=True):
            kube.wait_condition("workspace", "ws-ml", timeout=READY_TIMEOUT)
            kube.wait_condition("computecluster", name, timeout=READY_TIMEOUT)
        for kube, name in zip(kubes, names, strict=True):
            kube.delete("computecluster", name)
        for kube, name in zip(kubes, names, strict=True):
            kube.wait_gone("computecluster", name, timeout=READY_TIMEOUT)
            assert emulator.compute(name) is None
    finally:
        for operator in operators:
            operator.stop()

    for operator, install, other, other_name in zip(operators, installs, installs[::-1], names[::-1], strict=True):
        log = operator.output()
        assert install["watched"] in log, "the operator logged its own objects"
        assert other["watched"] not in log and other_name not in log, "an install saw the other's objects"
        assert operator.refusals() == [], "\n".join(operator.refusals()[:20])
    assert all(emulator.creates_of(name) == 1 for name in names)
