"""Objects created by a release that spoke api-version 2020-08-01 keep working after the upgrade to 2025-09-01:
the upgraded operator reads them, finds them as they should be, and writes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness import (
    ARM_WRITES,
    Emulator,
    Kube,
    Operator,
    compute_cluster,
    compute_instance,
    eventually,
    ready_workspace,
    unique,
)

pytestmark = pytest.mark.timeout(300)


def compute_reads(emulator: Emulator) -> int:
    routes = emulator.stats()["by_route"]
    return int(routes.get("GET computes.get", 0)) + int(routes.get("GET computes.list", 0))


def test_objects_created_at_2020_08_01_stay_ready_without_a_write_at_2025_09_01(
        kube: Kube, emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator = operator_factory(namespace, emulator, AML_API_VERSION="2020-08-01")
    ready_workspace(kube)
    cluster, instance = unique(namespace, "mig-cc"), unique(namespace, "mig-ci")
    kube.apply(compute_cluster(cluster, max_nodes=2), compute_instance(instance))
    kube.wait_condition("computecluster", cluster, timeout=120)
    kube.wait_condition("computeinstance", instance, timeout=120)
    before = {name: emulator.writes_of(name) for name in (cluster, instance)}
    versions_before = emulator.stats()["api_versions"]
    reads_before = compute_reads(emulator)
    assert versions_before.get("2020-08-01", 0) > 0

    operator.stop()
    operator.extra_env.pop("AML_API_VERSION")  # the upgraded release: its default, 2025-09-01
    operator.start()

    # The upgraded operator resumes both objects and reads them (GET, then the drift list) at the new version.
    eventually(lambda: compute_reads(emulator) >= reads_before + 3, 60, what="the upgraded operator reads the computes")
    versions = emulator.stats()["api_versions"]
    assert versions.get("2025-09-01", 0) > versions_before.get("2025-09-01", 0)
    for kind, name in (("computecluster", cluster), ("computeinstance", instance)):
        kube.wait_condition(kind, name)
        assert emulator.creates_of(name) == 1
        assert emulator.writes_of(name) == before[name], f"{kind} {name} was written after the upgrade"
    assert operator.arm_requests(ARM_WRITES) == 0
