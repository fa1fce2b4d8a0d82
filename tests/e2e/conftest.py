"""End-to-end fixtures: the emulator and the operator as subprocesses, the CRDs in the real API server.

The operator runs exactly as users run it (`aml-operator`), pointed at the emulator through its
settings, with the Helm chart's ServiceAccount and RBAC; each test gets its own namespace and its own
operator watching only that namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane import ControlPlane
from harness import REPO, Emulator, Kube, Operator, SharedOperator, start_emulator


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = start_emulator(tmp_path_factory.mktemp("emulator"), "spec")
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def live_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = start_emulator(tmp_path_factory.mktemp("emulator-live"), "live")
    yield emu
    emu.stop()


CHART = REPO / "deploy" / "helm" / "azureml-compute-operator"


def chart_identity(plane: ControlPlane, namespace: str, workdir: Path,
                   also: tuple[str, ...] = ()) -> tuple[Path, list[dict[str, Any]]]:
    """The chart's ServiceAccount (in ``namespace``) and RBAC for watching ``namespace`` and ``also``, and a
    kubeconfig holding only a TokenRequest token of that ServiceAccount: the operator in these tests has
    exactly the chart's rights."""
    release = f"e2e-{namespace[-6:]}"
    rendered = subprocess.run(
        [str(plane.bin_dir / "helm"), "template", release, str(CHART), "--namespace", namespace,
         "--set", f"watch.namespaces={{{','.join((namespace, *also))}}}",
         "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"],
        capture_output=True, text=True, check=True, env={**os.environ, "KUBECONFIG": os.devnull},
    ).stdout
    objects = [doc for doc in yaml.safe_load_all(rendered) if doc]
    plane.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    account = next(o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount")
    token = plane.kubectl("create", "token", account, "-n", namespace, "--duration=2h").stdout.strip()
    kubeconfig = workdir / f"operator-kubeconfig-{namespace}"  # one per operator: kopf reads it again later
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "local",
                      "cluster": {"server": plane.server, "certificate-authority": str(plane.ca_file)}}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
    }))
    kubeconfig.chmod(0o600)
    return kubeconfig, [o for o in objects if not o["metadata"].get("namespace")]


@pytest.fixture
def operator_factory(control_plane: ControlPlane, crds: list[str], kube_env: dict[str, str],
                     tmp_path: Path) -> Iterator[Callable[..., Operator]]:
    """``aml-operator`` for one namespace, under the chart's ServiceAccount (AML_E2E_AS_ADMIN=1: as admin)."""
    started: list[Operator] = []
    cluster_scoped: list[dict[str, Any]] = []

    def make(namespace: str, emulator: Emulator, as_admin: bool = False, **extra_env: str) -> Operator:
        env = dict(kube_env)
        if not (as_admin or os.environ.get("AML_E2E_AS_ADMIN")):
            kubeconfig, cluster_objects = chart_identity(control_plane, namespace, tmp_path)
            cluster_scoped.extend(cluster_objects)
            env["KUBECONFIG"] = str(kubeconfig)
        op = Operator(namespace, emulator, env, tmp_path / f"operator{len(started) or ''}.log", dict(extra_env))
        op.start()
        started.append(op)
        return op

    yield make
    for op in started:
        op.stop()
    if cluster_scoped:
        control_plane.kubectl("delete", "--ignore-not-found", *(f"{o['kind']}/{o['metadata']['name']}"
                                                                 for o in cluster_scoped), check=False)


@pytest.fixture(scope="module")
def shared_operator(request: pytest.FixtureRequest, control_plane: ControlPlane, crds: list[str],
                    kube_env: dict[str, str], emulator: Emulator,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedOperator]:
    tests = [item.nodeid for item in request.session.items
             if getattr(item, "module", None) is request.module and "shared_operator" in item.fixturenames]
    stem = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")[:30]
    namespaces = {test: f"{stem}-{index}-{uuid.uuid4().hex[:6]}" for index, test in enumerate(tests)}
    names = list(namespaces.values())
    control_plane.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in names]}))
    workdir = tmp_path_factory.mktemp(f"shared-operator-{stem}")
    env = dict(kube_env)
    cluster_scoped: list[dict[str, Any]] = []
    if not os.environ.get("AML_E2E_AS_ADMIN"):
        kubeconfig, cluster_scoped = chart_identity(control_plane, names[0], workdir, tuple(names[1:]))
        env["KUBECONFIG"] = str(kubeconfig)
    operator = Operator(names[0], emulator, env, workdir / "operator.log", more_namespaces=tuple(names[1:]))
    operator.start()
    try:
        yield SharedOperator(operator, namespaces)
    finally:
        operator.stop()
        if cluster_scoped:
            control_plane.kubectl("delete", "--ignore-not-found", *(f"{o['kind']}/{o['metadata']['name']}"
                                                                     for o in cluster_scoped), check=False)
        control_plane.kubectl("delete", "namespace", *names, "--wait=false", check=False)


@pytest.fixture
def kube(control_plane: ControlPlane, namespace: str) -> Kube:
    return Kube(control_plane, namespace)
