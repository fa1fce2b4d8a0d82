"""The Argo CD health checks (deploy/argocd) run in Lua (lupa) against real status objects.

The live test drives the operator against the emulator into each state, takes the object as the API
server returns it and asks the Lua script; with AML_CAPTURE_STATUS=1 it also writes the objects to
tests/delivery/status/, which the offline test checks on every run (no API server needed).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lupa
import pytest
import yaml
from deliverykit import REPO

from controlplane import ControlPlane
from harness import (
    SUBSCRIPTION_ID,
    Emulator,
    Kube,
    Operator,
    compute_cluster,
    compute_instance,
    credentials_secret,
    eventually,
    unique,
    workspace,
)

ARGOCD = REPO / "deploy" / "argocd"
STATUS = Path(__file__).parent / "status"
KINDS = ("Workspace", "ComputeCluster", "ComputeInstance", "AttachedCompute", "InferenceCluster")


def health(obj: dict[str, Any], kind: str | None = None) -> tuple[str, str]:
    """What Argo CD would show: the script argocd-cm.yaml holds for the object's kind."""
    scripts = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())["data"]
    script = scripts[f"resource.customizations.health.azureml.dev_{kind or obj['kind']}"]
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = to_lua(lua, obj)
    result = lua.execute(script)
    return str(result["status"]), str(result["message"])


def to_lua(lua: lupa.LuaRuntime, value: Any) -> Any:
    """JSON into Lua tables the way Argo CD does: objects as tables, arrays as 1-based tables."""
    if isinstance(value, dict):
        return lua.table_from({k: to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([to_lua(lua, v) for v in value])
    return value


def test_every_kind_has_the_script() -> None:
    crd_kinds = {yaml.safe_load(p.read_text())["spec"]["names"]["kind"] for p in (REPO / "crds").glob("*.yaml")}
    assert crd_kinds == set(KINDS)
    scripts = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())["data"]
    assert set(scripts) == {f"resource.customizations.health.azureml.dev_{kind}" for kind in KINDS}
    assert all(script == (ARGOCD / "health.lua").read_text() for script in scripts.values())


@pytest.mark.parametrize("kind", KINDS)
def test_missing_status_is_progressing(kind: str) -> None:
    obj = {"apiVersion": "azureml.dev/v1alpha1", "kind": kind, "metadata": {"name": "x", "generation": 1},
           "spec": {}}
    assert health(obj)[0] == "Progressing"
    obj["status"] = {}
    assert health(obj)[0] == "Progressing"
    obj["status"] = {"conditions": []}
    assert health(obj)[0] == "Progressing"


def captured() -> list[Path]:
    return sorted(STATUS.glob("*.json"))


@pytest.mark.parametrize("path", captured(), ids=[p.stem for p in captured()])
def test_health_of_captured_status_objects(path: Path) -> None:
    """<Kind>.<Expected>.<case>.json: an object as the API server returned it in that state."""
    kind, expected, _ = path.name.split(".", 2)
    obj = json.loads(path.read_text())
    assert obj["kind"] == kind
    assert health(obj)[0] == expected, (path.name, health(obj))
    # The other compute kinds share the status shape (ComputeStatusBase): the same verdict.
    if kind == "ComputeCluster":
        for other in ("AttachedCompute", "InferenceCluster"):
            assert health({**obj, "kind": other})[0] == expected


def test_every_kind_and_state_is_captured() -> None:
    have = {tuple(p.name.split(".")[:2]) for p in captured()}
    for kind in KINDS:
        for state in ("Healthy", "Progressing", "Degraded"):
            if (kind, state) == ("AttachedCompute", "Progressing"):
                continue  # an attach completes in one call: shown with the ComputeCluster's captures
            assert (kind, state) in have, (kind, state)


# -- live: the operator against the emulator, each state on the real API server ------------------------------

def save(obj: dict[str, Any], expected: str, case: str) -> dict[str, Any]:
    """Keep what Argo CD reads; drop what changes on every run and what says nothing of health."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    for key in ("managedFields", "uid", "resourceVersion", "creationTimestamp", "namespace"):
        meta.pop(key, None)
    meta.get("annotations", {}).pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if os.environ.get("AML_CAPTURE_STATUS") == "1":
        STATUS.mkdir(exist_ok=True)
        (STATUS / f"{obj['kind']}.{expected}.{case}.json").write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    return obj


@pytest.fixture
def operator(control_plane: ControlPlane, crds_chart: str, emulator: Emulator, kube_env: dict[str, str],
             namespace: str, tmp_path: Path) -> Iterator[Operator]:
    op = Operator(namespace, emulator, kube_env, tmp_path / "operator.log")
    op.start()
    yield op
    op.stop()


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((obj or {}).get("status") or {}).get("conditions", []):
        if c["type"] == type_:
            return c  # type: ignore[no-any-return]
    return {}


def assert_no_drift(plane: ControlPlane, namespace: str, obj: dict[str, Any]) -> None:
    """What Argo CD compares is what users declared: the operator's writes (every field manager but
    kubectl's) touch only status, finalizers and annotations under its own operator.azureml.dev/ prefix."""
    obj = json.loads(plane.kubectl("get", obj["kind"].lower(), obj["metadata"]["name"], "-n", namespace,
                                   "-o", "json", "--show-managed-fields").stdout)
    operator_entries = [e for e in obj["metadata"].get("managedFields", []) if not e["manager"].startswith("kubectl")]
    assert any("f:status" in e.get("fieldsV1", {}) for e in operator_entries), "the operator's writes are seen"
    for entry in operator_entries:
        fields = entry.get("fieldsV1", {})
        assert "f:spec" not in fields, (entry["manager"], obj["kind"])
        meta = fields.get("f:metadata", {})
        assert set(meta) <= {"f:annotations", "f:finalizers"}, (entry["manager"], meta)
        assert "f:labels" not in meta
        for annotation in meta.get("f:annotations", {}):
            assert annotation.startswith("f:operator.azureml.dev/"), (entry["manager"], annotation)


@pytest.mark.timeout(900)
def test_health_of_live_status_objects(operator: Operator, control_plane: ControlPlane, emulator: Emulator,
                                      namespace: str) -> None:
    kube = Kube(control_plane, namespace)

    def verdict(obj: dict[str, Any], expected: str, case: str) -> None:
        if case != "older-generation":
            assert_no_drift(control_plane, namespace, obj)
        obj = save(obj, expected, case)
        status, message = health(obj)
        assert status == expected, (obj["kind"], case, status, message, obj.get("status"))

    # Workspace: Degraded with credentials Azure refuses, Healthy with good ones.
    kube.apply(credentials_secret("wrong", secret="not-the-secret"), workspace("ws-wrong", secret="wrong"))
    wrong = eventually(lambda: (o := kube.get("workspace", "ws-wrong")) and condition(o, "Stalled").get(
        "status") == "True" and o, 120, what="ws-wrong Stalled")
    verdict(wrong, "Degraded", "credentials-refused")
    kube.apply(credentials_secret(), workspace())
    ws = kube.wait_condition("workspace", "ws-ml", timeout=120)
    verdict(ws, "Healthy", "ready")
    stale = copy.deepcopy(ws)
    stale["metadata"]["generation"] += 1  # a spec change the operator has not looked at yet
    verdict(stale, "Progressing", "older-generation")

    for kind, make in (("computecluster", compute_cluster), ("computeinstance", compute_instance)):
        name = unique(namespace, kind[7:11])
        kube.apply(make(name, deletionPolicy="Orphan"))
        creating = eventually(lambda k=kind, n=name: (o := kube.get(k, n)) and condition(o, "Reconciling").get(
            "status") == "True" and o, 120, 0.1, what=f"{kind}/{name} Reconciling")
        verdict(creating, "Progressing", "creating")
        verdict(kube.wait_condition(kind, name, timeout=180), "Healthy", "ready")

        # Azure refuses to provision: provisioningState Failed.
        failing = unique(namespace, kind[7:11] + "f")
        emulator.control("PUT", "faults", [{"route": "computes.createOrUpdate", "compute": failing,
                                            "kind": "fail_operation", "error_code": "InternalServerError"}])
        try:
            kube.apply(make(failing))
            failed = eventually(lambda k=kind, n=failing: (o := kube.get(k, n)) and (o.get("status") or {}).get(
                "provisioningState") == "Failed" and o, 180, 0.2, what=f"{kind}/{failing} provisioningState Failed")
            verdict(failed, "Degraded", "provisioning-failed")
        finally:
            emulator.control("DELETE", "faults")

        # The name is taken in Azure by a compute nobody here owns: Stalled (AlreadyExists).
        kube.delete(kind, failing)
        emulator.change_behind_our_back(name, {"tags": None})
        kube.delete(kind, name)
        kube.wait_gone(kind, name, timeout=180)
        kube.apply(make(name))
        stalled = kube.wait_condition(kind, name, "Stalled", reason="AlreadyExists", timeout=180)
        verdict(stalled, "Degraded", "name-taken")
        kube.delete(kind, name)

    # InferenceCluster: Progressing while the AKS is created, Healthy, Degraded when Production lacks vCPUs.
    aks = unique(namespace, "aks")
    kube.apply(inference_cluster(aks, create={"location": "northeurope", "agentVmSize": "Standard_D3_v2",
                                              "agentCount": 3, "purpose": "Production"}))
    creating = eventually(lambda: (o := kube.get("inferencecluster", aks)) and condition(o, "Reconciling").get(
        "status") == "True" and o, 120, 0.1, what="inferencecluster Reconciling")
    verdict(creating, "Progressing", "creating")
    verdict(kube.wait_condition("inferencecluster", aks, timeout=180), "Healthy", "ready")
    small = unique(namespace, "aks2")
    kube.apply(inference_cluster(small, create={"location": "northeurope", "agentVmSize": "Standard_D3_v2",
                                                "agentCount": 2, "purpose": "Production"}))
    verdict(kube.wait_condition("inferencecluster", small, "Stalled", reason="InsufficientVCpus", timeout=180),
            "Degraded", "insufficient-vcpus")

    # AttachedCompute: a Data Factory attached (Healthy), one that does not exist (Degraded).
    rg = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-ml/providers"
    factory = f"{rg}/Microsoft.DataFactory/factories/adf-{aks[-6:]}"
    emulator.control("POST", "resources", {"id": factory, "location": "westeurope", "properties": {}})
    adf, nowhere = unique(namespace, "adf"), unique(namespace, "adf0")
    kube.apply(attached_compute(adf, "DataFactory", factory),
               attached_compute(nowhere, "DataFactory", factory + "-nowhere"))
    verdict(kube.wait_condition("attachedcompute", adf, timeout=180), "Healthy", "ready")
    verdict(kube.wait_condition("attachedcompute", nowhere, "Stalled", timeout=180), "Degraded", "not-found")
    for kind, name in (("inferencecluster", aks), ("inferencecluster", small), ("attachedcompute", adf),
                       ("attachedcompute", nowhere)):
        kube.delete(kind, name)


def inference_cluster(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "azureml.dev/v1alpha1", "kind": "InferenceCluster", "metadata": {"name": name},
            "spec": {"workspaceRef": {"name": "ws-ml"}, **spec}}


def attached_compute(name: str, type_: str, resource_id: str) -> dict[str, Any]:
    return {"apiVersion": "azureml.dev/v1alpha1", "kind": "AttachedCompute", "metadata": {"name": name},
            "spec": {"workspaceRef": {"name": "ws-ml"}, "type": type_, "resourceId": resource_id}}


def test_failed_provisioning_alone_is_degraded() -> None:
    """Azure's Failed counts even while the operator has not (yet) called it Stalled."""
    for kind in ("ComputeCluster", "ComputeInstance"):
        obj = json.loads((STATUS / f"{kind}.Degraded.provisioning-failed.json").read_text())
        for c in obj["status"]["conditions"]:
            if c["type"] == "Stalled":
                c["status"] = "False"
        assert health(obj)[0] == "Degraded"
        obj["status"]["provisioningState"] = "Creating"
        assert health(obj)[0] == "Progressing"


def test_ready_for_an_older_generation_is_progressing() -> None:
    for kind in ("Workspace", "ComputeCluster", "ComputeInstance"):
        obj = json.loads((STATUS / f"{kind}.Healthy.ready.json").read_text())
        obj["metadata"]["generation"] += 1
        assert health(obj) == ("Progressing", f"Waiting for the operator to observe generation "
                                              f"{obj['metadata']['generation']}")
