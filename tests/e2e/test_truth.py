"""Status that never lies, end to end: the operator as a subprocess, the real API server, the emulator.

Each test reproduces a way the status could disagree with Azure (or hide trouble) and shows that the
conditions, events and logs tell the truth; the seconds each took are printed (``-s`` shows them).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lupa
import pytest

from controlplane import ControlPlane
from harness import (
    DRIFT_INTERVAL,
    Emulator,
    Kube,
    Operator,
    compute_cluster,
    credentials_secret,
    eventually,
    ready_workspace,
    start_emulator,
    unique,
    workspace,
)

pytestmark = pytest.mark.timeout(240)
DRIFT = DRIFT_INTERVAL  # what the harness gives the operator: each window below spans that many drift passes


@pytest.fixture
def own_emulator(tmp_path: Path) -> Iterator[Emulator]:
    """An emulator for one test: its quota and its faults touch no other test."""
    emu = start_emulator(tmp_path / "own-emulator", "spec")
    yield emu
    emu.stop()


def ready(kube: Kube, kind: str, name: str) -> dict[str, Any]:
    return kube.condition(kind, name) or {}


def warnings(kube: Kube, name: str, reason: str) -> int:
    return sum(int(e.get("count") or 1) for e in kube.events()
               if e["involvedObject"]["name"] == name and e["type"] == "Warning" and e["reason"] == reason)


def never_ready_for(kube: Kube, kind: str, name: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        condition = ready(kube, kind, name)
        assert condition.get("status") != "True", f"{kind}/{name} claimed Ready: {condition}"
        time.sleep(0.5)


HEALTH_LUA = Path(__file__).parents[2] / "deploy" / "argocd" / "health.lua"


def argocd_health(obj: dict[str, Any]) -> tuple[str, str]:
    """What Argo CD shows for the object: deploy/argocd/health.lua run as tests/delivery runs it (lupa;
    test_argocd_health checks argocd-cm.yaml carries this very script for every kind)."""
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)

    def to_lua(value: Any) -> Any:  # objects as tables, arrays as 1-based tables, as Argo CD gives them
        if isinstance(value, dict):
            return lua.table_from({k: to_lua(v) for k, v in value.items()})
        if isinstance(value, list):
            return lua.table_from([to_lua(v) for v in value])
        return value

    lua.globals().obj = to_lua(obj)
    result = lua.execute(HEALTH_LUA.read_text())
    return str(result["status"]), str(result["message"])


RECORD = re.compile(r"^\[[^]]+\] \S+\s+\[(\w+)\s*\]")


def assert_clean_log(operator: Operator) -> None:
    """No ERROR record and no traceback above DEBUG: nothing in these tests is a bug of the operator.

    (With ``--verbose`` the Azure SDK logs a traceback at DEBUG when its failsafe deserializer gives up
    on an error body; that is the SDK's own diagnostics, not a failure.)"""
    level = ""
    for line in operator.output().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            level = str(record.get("severity"))
            assert level != "error" and not (record.get("exc_info") and level != "debug"), line
            continue
        header = RECORD.match(line)
        if header:
            level = header.group(1)
            assert level != "ERROR", line
        elif line.startswith("Traceback"):
            assert level == "DEBUG", f"a traceback after a {level} record"


def test_a_change_azure_cannot_make_and_a_failed_compute_never_show_ready(
        kube: Kube, emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator = operator_factory(namespace, emulator)
    ready_workspace(kube)
    name = unique(namespace, "truth")
    kube.apply(compute_cluster(name, max_nodes=2))
    kube.wait_condition("computecluster", name)
    writes = emulator.writes_of(name)

    started = time.monotonic()
    emulator.change_behind_our_back(name, {"properties": {"properties": {"vmSize": "STANDARD_DS4_V2"}}})
    stalled = kube.wait_condition("computecluster", name, "Stalled", reason="ImmutableFieldChanged", timeout=30)
    print(f"immutable difference shown after {time.monotonic() - started:.1f}s")
    message = next(c["message"] for c in stalled["status"]["conditions"] if c["type"] == "Ready")
    assert "spec.vmSize (Standard_DS3_v2; Azure has STANDARD_DS4_V2)" in message
    never_ready_for(kube, "computecluster", name, 3 * DRIFT + 1)

    emulator.change_behind_our_back(name, {"properties": {"provisioningState": "Failed",
                                                          "properties": {"vmSize": "STANDARD_DS3_V2"}}})
    started = time.monotonic()
    failed = kube.wait_condition("computecluster", name, "Stalled", "True", reason="ProvisioningFailed", timeout=30)
    print(f"Failed in Azure shown after {time.monotonic() - started:.1f}s")
    assert ready(kube, "computecluster", name)["status"] == "False"
    verdict = argocd_health(failed)
    assert verdict[0] == "Degraded" and "Failed" in verdict[1], verdict
    never_ready_for(kube, "computecluster", name, 2 * DRIFT)
    assert emulator.writes_of(name) == writes, "nothing is written to a compute the spec cannot fix"
    assert warnings(kube, name, "ImmutableFieldChanged") == 1
    assert warnings(kube, name, "ProvisioningFailed") == 1
    assert_clean_log(operator)


def test_quota_as_azure_checks_it_and_a_refused_cluster_retried_without_a_change(
        kube: Kube, own_emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    # Standard_DS3_v2 has 4 vCPUs; the emulator's standardDSv2Family quota is 24 cores (6 nodes).
    operator = operator_factory(namespace, own_emulator, AML_RETRY_BACKOFF="0.5")  # 0.5 s doubling to 10 s
    ready_workspace(kube)
    big, late = unique(namespace, "big"), unique(namespace, "late")

    kube.apply(compute_cluster(big, min_nodes=5, max_nodes=10))  # 5 nodes fit; 10 only cap scale-up
    kube.wait_condition("computecluster", big)
    assert warnings(kube, big, "MaxNodesBeyondQuota") == 1
    eventually(lambda: (kube.get("computecluster", big) or {}).get("status", {}).get("currentNodeCount") == 5,
               60, what="five nodes allocated")

    kube.apply(compute_cluster(late, min_nodes=2, max_nodes=2))  # 8 cores, 4 free
    refused = kube.wait_condition("computecluster", late, "Stalled", reason="QuotaExceeded", timeout=30)
    assert "8" in next(c["message"] for c in refused["status"]["conditions"] if c["type"] == "Ready")
    assert refused["status"]["retry"]["reason"] == "QuotaExceeded"
    window = 8.0
    deadline = time.monotonic() + window
    while time.monotonic() < deadline:  # retried on the backoff, never flapping through Creating
        assert (ready(kube, "computecluster", late).get("reason"), ready(kube, "computecluster", late)
                .get("status")) == ("QuotaExceeded", "False")
        time.sleep(0.5)
    attempts = (kube.get("computecluster", late) or {})["status"]["retry"]["attempt"]
    print(f"refused create tried {attempts} times in the first {window:.0f}s (backoff 0.5 s doubling)")
    assert 3 <= attempts <= 6 and warnings(kube, late, "QuotaExceeded") == 1
    puts = int(own_emulator.stats()["by_route"].get("PUT computes.createOrUpdate", 0)) - 1  # one was big's
    assert puts == attempts, "each try asks Azure once; nothing else writes"

    started = time.monotonic()
    kube.patch("computecluster", big, {"spec": {"scaleSettings": {"minNodeCount": 0}}})
    recovered = kube.wait_condition("computecluster", late, timeout=90)
    print(f"refused cluster Ready {time.monotonic() - started:.1f}s after the quota was freed, "
          "with no change to it")
    assert recovered["metadata"]["generation"] == 1 and "retry" not in recovered["status"]
    assert own_emulator.creates_of(late) == 1
    assert_clean_log(operator)


def test_an_azure_outage_turns_ready_unknown_and_back(
        kube: Kube, own_emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator = operator_factory(namespace, own_emulator)
    ready_workspace(kube)
    name = unique(namespace, "outage")
    kube.apply(compute_cluster(name, max_nodes=1))
    kube.wait_condition("computecluster", name)

    own_emulator.control("POST", "faults", {"route": "computes.*", "kind": "drop", "when": "before", "rate": 1.0})
    started = time.monotonic()
    unknown = kube.wait_condition("computecluster", name, "Ready", "Unknown", timeout=60)
    print(f"Ready Unknown {time.monotonic() - started:.1f}s into the outage "
          f"(reason {next(c['reason'] for c in unknown['status']['conditions'] if c['type'] == 'Ready')})")

    own_emulator.control("DELETE", "faults")
    started = time.monotonic()
    kube.wait_condition("computecluster", name, timeout=60)
    print(f"Ready True again {time.monotonic() - started:.1f}s after the outage")
    assert_clean_log(operator)


def test_a_blocked_workspace_deletion_names_what_holds_it_and_json_logs_name_every_object(
        kube: Kube, emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator = operator_factory(namespace, emulator, AML_LOG_FORMAT="json")
    ready_workspace(kube)
    name = unique(namespace, "holds")
    kube.apply(compute_cluster(name, max_nodes=1))
    kube.wait_condition("computecluster", name)

    kube.delete("workspace", "ws-ml")
    blocked = kube.wait_condition("workspace", "ws-ml", "Ready", "False", reason="InUse", timeout=30)
    message = next(c["message"] for c in blocked["status"]["conditions"] if c["type"] == "Ready")
    assert f"ComputeCluster/{name}" in message and "deletionPolicy to Orphan" in message
    held = kube.wait_condition("computecluster", name, "Ready", "False", reason="WorkspaceDeleting", timeout=30)
    assert "being deleted" in next(c["message"] for c in held["status"]["conditions"] if c["type"] == "Ready")
    time.sleep(6)  # the deletion handler looks again every 5 s: still one event
    assert sum(int(e.get("count") or 1) for e in kube.events()
               if e["involvedObject"]["kind"] == "Workspace" and e["reason"] == "InUse") == 1

    kube.delete("computecluster", name)
    kube.wait_gone("workspace", "ws-ml", timeout=60)

    raw = [line for line in operator.output().splitlines() if line.strip()]
    lines = [json.loads(line) for line in raw if line.startswith("{")]
    assert len(lines) == len(raw), [line for line in raw if not line.startswith("{")][:5]
    about_objects = [line for line in lines if "object" in line]
    assert about_objects and all({"kind", "namespace", "name"} <= line["object"].keys() for line in about_objects)
    assert any(line["object"]["kind"] == "ComputeCluster" and line["object"]["name"] == name
               for line in about_objects)
    assert_clean_log(operator)


def test_a_second_object_naming_a_compute_of_another_never_writes_nor_deletes_it(
        kube: Kube, emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str,
        control_plane: ControlPlane) -> None:
    other_namespace = f"{namespace[:50]}-b"
    control_plane.kubectl("create", "namespace", other_namespace)
    other = Kube(control_plane, other_namespace)
    try:
        first, second = operator_factory(namespace, emulator), operator_factory(other_namespace, emulator)
        ready_workspace(kube)
        ready_workspace(other)
        name = unique(namespace, "shared")
        kube.apply(compute_cluster(name, max_nodes=1))
        kube.wait_condition("computecluster", name)
        writes = emulator.writes_of(name)

        other.apply(compute_cluster(name, max_nodes=3))  # same name in Azure, another owner
        refused = other.wait_condition("computecluster", name, "Stalled", reason="AlreadyExists", timeout=30)
        assert f"it belongs to {namespace}/ComputeCluster/{name}" in next(
            c["message"] for c in refused["status"]["conditions"] if c["type"] == "Ready")
        never_ready_for(other, "computecluster", name, 2 * DRIFT)
        other.delete("computecluster", name)
        other.wait_gone("computecluster", name, timeout=30)

        azure = emulator.compute(name) or {}
        assert emulator.writes_of(name) == writes, "the second object wrote nothing, deleted nothing"
        assert azure["tags"]["azureml.dev-owner"] == f"{namespace}/ComputeCluster/{name}"
        assert ready(kube, "computecluster", name)["status"] == "True"
        assert_clean_log(first)
        assert_clean_log(second)
    finally:
        control_plane.kubectl("delete", "namespace", other_namespace, "--wait=false", check=False)


def test_credentials_fixed_in_their_secret_recover_without_a_change_or_restart(
        kube: Kube, emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    # A backoff far beyond the test: recovery can only come from noticing the Secret's new version.
    operator = operator_factory(namespace, emulator, AML_RETRY_BACKOFF="300")
    name = unique(namespace, "fixed")
    kube.apply(credentials_secret(secret="not-the-client-secret"), workspace(), compute_cluster(name, max_nodes=1))
    refused = kube.wait_condition("workspace", "ws-ml", "Ready", "False", timeout=30)
    reason = next(c["reason"] for c in refused["status"]["conditions"] if c["type"] == "Ready")
    waiting = kube.wait_condition("computecluster", name, "Ready", "False", timeout=30)
    assert emulator.creates_of(name) == 0
    print(f"wrong secret: Workspace {reason}, compute "
          f"{next(c['reason'] for c in waiting['status']['conditions'] if c['type'] == 'Ready')}")

    kube.apply(credentials_secret())
    started = time.monotonic()
    kube.wait_condition("workspace", "ws-ml", timeout=60)
    recovered = kube.wait_condition("computecluster", name, timeout=60)
    print(f"compute Ready {time.monotonic() - started:.1f}s after the Secret was fixed "
          "(retry backoff 300 s, Secret re-read every 15 s)")
    assert recovered["metadata"]["generation"] == 1
    assert warnings(kube, "ws-ml", reason) == 1
    assert_clean_log(operator)
