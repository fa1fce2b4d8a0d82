"""The operator survives being killed mid-operation, rides out Azure's faults, and never leaks a secret."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import (
    CLIENT_SECRET,
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

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def slow_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Operations take seconds, so the operator can be killed while one runs."""
    emu = start_emulator(tmp_path_factory.mktemp("slow-emulator"), "spec", "--timing-scale", "4")
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def faulty_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = start_emulator(tmp_path_factory.mktemp("faulty-emulator"), "spec", "--seed", "7")
    yield emu
    emu.stop()


def test_killed_during_create_resumes_without_a_second_create(
        kube: Kube, slow_emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator = operator_factory(namespace, slow_emulator)
    ready_workspace(kube)
    name = unique(namespace, "kcreate")
    kube.apply(compute_cluster(name))

    def creating() -> bool:
        compute = slow_emulator.compute(name)
        return compute is not None and compute["properties"]["provisioningState"] == "Creating"
    eventually(creating, 60, interval=0.1, what="the PUT reached Azure")
    operator.stop(kill=True)

    operator.start()
    obj = kube.wait_condition("computecluster", name, timeout=120)
    assert obj["status"]["provisioningState"] == "Succeeded"
    assert slow_emulator.creates_of(name) == 1
    assert slow_emulator.writes_of(name).get("PUT") == 1


def test_killed_between_intent_and_put_creates_exactly_once(
        kube: Kube, slow_emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator = operator_factory(namespace, slow_emulator)
    ready_workspace(kube)
    name = unique(namespace, "kintent")
    kube.apply(compute_cluster(name))

    def intent_recorded() -> bool:
        status = (kube.get("computecluster", name) or {}).get("status") or {}
        return bool(status.get("lastOperation"))
    eventually(intent_recorded, 60, interval=0.05, what="intent recorded in status")
    operator.stop(kill=True)

    operator.start()
    kube.wait_condition("computecluster", name, timeout=120)
    assert slow_emulator.creates_of(name) == 1


def test_killed_during_delete_finishes_the_delete_and_releases_the_finalizer(
        kube: Kube, slow_emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator = operator_factory(namespace, slow_emulator)
    ready_workspace(kube)
    name = unique(namespace, "kdelete")
    kube.apply(compute_cluster(name))
    kube.wait_condition("computecluster", name, timeout=120)

    kube.delete("computecluster", name)
    eventually(lambda: slow_emulator.writes_of(name).get("DELETE", 0) >= 1, 60, interval=0.1,
               what="the DELETE reached Azure")
    operator.stop(kill=True)
    obj = kube.get("computecluster", name)
    assert obj is not None and obj["metadata"]["finalizers"], "the finalizer holds the object while Azure deletes"

    operator.start()
    kube.wait_gone("computecluster", name, timeout=120)
    assert slow_emulator.compute(name) is None
    assert slow_emulator.writes_of(name).get("DELETE") == 1


def test_ten_computes_converge_through_twenty_percent_faults(
        kube: Kube, faulty_emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator_factory(namespace, faulty_emulator)
    ready_workspace(kube)
    faulty_emulator.control("PUT", "faults", [
        {"route": "computes.*", "kind": "503", "rate": 0.1},
        {"route": "computes.*", "kind": "429", "rate": 0.1, "retry_after_seconds": 1},
    ])
    try:
        names = [unique(namespace, f"f{i}") for i in range(10)]
        kube.apply(*(compute_cluster(name, max_nodes=1) for name in names))
        for name in names:
            kube.wait_condition("computecluster", name, timeout=240)
        fired = faulty_emulator.stats()["faults_fired"]
    finally:
        faulty_emulator.control("DELETE", "faults")
    assert fired > 0, "the faults did fire"
    assert all(faulty_emulator.creates_of(name) == 1 for name in names)


def test_no_secret_value_reaches_status_events_or_logs(
        kube: Kube, emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str,
        tmp_path: Path) -> None:
    password = "Pl4nted-Passw0rd-e2e"
    wrong_secret = "planted-wrong-client-secret"
    operator = operator_factory(namespace, emulator)
    kube.apply(credentials_secret(), workspace())
    kube.apply(credentials_secret("wrong", secret=wrong_secret), workspace("bad-creds", secret="wrong"))
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "admin-password"},
                "stringData": {"password": password}})
    kube.wait_condition("workspace", "ws-ml")
    kube.wait_condition("workspace", "bad-creds", "Ready", "False", reason="CredentialsInvalid")
    name = unique(namespace, "secret")
    kube.apply(compute_cluster(name, adminCredentials={"adminUserName": "azureuser",
                                                       "passwordSecretRef": {"name": "admin-password"}}))
    kube.wait_condition("computecluster", name)
    operator.stop()

    objects = kube.plane.kubectl("get", "workspaces,computeclusters", "-n", namespace, "-o", "json").stdout
    statuses = json.dumps([item.get("status") for item in json.loads(objects)["items"]])
    events = json.dumps(kube.events())
    logs = operator.output()
    assert "Request URL" in logs, "the log is verbose enough to have shown a secret if one leaked"
    for planted in (password, wrong_secret, CLIENT_SECRET):
        assert planted not in statuses
        assert planted not in events
        assert planted not in logs
    # The password did reach Azure, where it belongs.
    assert emulator.compute(name) is not None
