"""At rest the operator writes nothing and reads Azure with one list per workspace; pauses and policies hold."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from harness import (
    DRIFT_INTERVAL,
    Emulator,
    Kube,
    Operator,
    SharedOperator,
    compute_cluster,
    eventually,
    ready_workspace,
    start_emulator,
    unique,
    workspace,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A workspace of its own: the session's shared one holds the computes earlier tests left, whose list
    takes more than one page, and one list per interval is what is counted here."""
    emu = start_emulator(tmp_path_factory.mktemp("steady-emulator"), "spec")
    yield emu
    emu.stop()


def requests(emulator: Emulator, key: str) -> int:
    return int(emulator.stats()["by_route"].get(key, 0))


def test_at_rest_nothing_is_written_and_azure_is_read_by_one_list_per_interval(
        kube: Kube, emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator_factory(namespace, emulator)  # POLL_INTERVAL, DRIFT_INTERVAL
    ready_workspace(kube)
    names = [unique(namespace, f"rest{i}") for i in range(3)]
    kube.apply(*(compute_cluster(name) for name in names))
    for name in names:
        kube.wait_condition("computecluster", name)
    time.sleep(3)  # let the last follow-up passes settle

    versions = {name: (kube.get("computecluster", name) or {})["metadata"]["resourceVersion"] for name in names}
    writes = {name: emulator.writes_of(name) for name in names}
    started = time.monotonic()
    gets, lists = requests(emulator, "GET computes.get"), requests(emulator, "GET computes.list")
    time.sleep(3 * DRIFT_INTERVAL)  # three drift passes

    assert {name: (kube.get("computecluster", name) or {})["metadata"]["resourceVersion"] for name in names} \
        == versions, "no status patch, no annotation churn at rest"
    assert {name: emulator.writes_of(name) for name in names} == writes, "no write to Azure at rest"
    new_lists = requests(emulator, "GET computes.list") - lists
    new_gets = requests(emulator, "GET computes.get") - gets
    window = time.monotonic() - started  # on a loaded machine the reads of the counters take time too
    # Three objects ticking every poll interval would make a GET each a tick; one shared list per drift
    # interval makes three in the window.
    assert 1 <= new_lists <= window / DRIFT_INTERVAL + 2, (new_lists, window)
    assert new_gets == 0, new_gets


def test_skip_annotation_pauses_writes_until_removed(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    ready_workspace(kube)
    name = unique(namespace, "paused")
    kube.apply(compute_cluster(name, max_nodes=2))
    kube.wait_condition("computecluster", name)
    kube.patch("computecluster", name, {"metadata": {"annotations": {"azureml.dev/reconcile": "skip"}}})
    kube.wait_condition("computecluster", name, reason="ReconcileSkipped")
    patches = emulator.writes_of(name).get("PATCH", 0)

    kube.patch("computecluster", name, {"spec": {"scaleSettings": {"maxNodeCount": 3}}})
    time.sleep(5)
    assert emulator.writes_of(name).get("PATCH", 0) == patches, "paused: the scale change stays in Kubernetes"

    kube.plane.kubectl("annotate", "computecluster", name, "-n", namespace, "azureml.dev/reconcile-")
    kube.wait_condition("computecluster", name, reason="Succeeded")
    eventually(lambda: emulator.writes_of(name).get("PATCH", 0) == patches + 1, 60, what="the PATCH after unpausing")
    azure = emulator.compute(name) or {}
    assert azure["properties"]["properties"]["scaleSettings"]["maxNodeCount"] == 3


def test_operator_identity_is_refused_where_settings_do_not_allow_it(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    # The shared operator's AML_OPERATOR_IDENTITY_NAMESPACES is empty.
    ws = workspace("own-identity")
    ws["spec"]["credentials"] = {"useOperatorIdentity": True}
    kube.apply(ws)
    stalled = kube.wait_condition("workspace", "own-identity", "Stalled", reason="OperatorIdentityNotAllowed")
    message = next(c["message"] for c in stalled["status"]["conditions"] if c["type"] == "Ready")
    assert namespace in message and "AML_OPERATOR_IDENTITY_NAMESPACES" in message
