"""Two replicas under kopf peering, as the chart runs them with ``replicas: 2``: one works, the other waits,
and the waiting one takes over when the active one is killed.

The replicas run with the chart's settings (no priority set: the oldest live replica leads). What each
replica did is read from its own metrics (requests it sent to Azure) and log (kopf's pause and resume).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from controlplane import ControlPlane
from harness import REPO, Emulator, Kube, Operator, compute_cluster, eventually, ready_workspace, unique

PEERING_CRD = REPO / "deploy/helm/azureml-compute-operator-crds/files/kopf/kopfpeerings.kopf.dev.yaml"
RESUMED = "Resuming operations after the pause"
LIFETIME = 5  # kopf then keeps alive every second: four missed keep-alives before a peer counts as dead

Replica = Callable[[int], Operator]


@pytest.fixture
def replica(control_plane: ControlPlane, kube: Kube, namespace: str, emulator: Emulator,
            operator_factory: Callable[..., Operator]) -> Iterator[Replica]:
    """Starts replica N of a two-replica install in the test's namespace, with the chart's peering object."""
    control_plane.kubectl("apply", "-f", str(PEERING_CRD))
    control_plane.kubectl("wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev", "--timeout=60s")
    kube.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "aml"}})

    # Peering needs the chart's peering RBAC (replicas > 1), which the one-namespace identity leaves out.
    def start(index: int) -> Operator:
        return operator_factory(namespace, emulator, as_admin=True, POD_ID=f"replica-{index}",
                                AML_OPERATOR_PEERING="aml", AML_OPERATOR_PEERING_LIFETIME=str(LIFETIME))

    yield start


def test_the_standby_writes_nothing_and_takes_over_when_the_active_replica_dies(
        namespace: str, kube: Kube, emulator: Emulator, replica: Replica) -> None:
    # kopf starts every replica paused; a replica resumes only while no live peer outranks it.
    active = replica(0)
    eventually(lambda: RESUMED in active.output(), timeout=60, what="the first replica resuming operations")
    standby = replica(1)
    eventually(lambda: "Keep-alive in 'aml'" in standby.output(), timeout=60, what="the standby joining the peering")
    paused_at = len(standby.output())

    first = unique(namespace, "ha-first")
    ready_workspace(kube)
    kube.apply(compute_cluster(first))
    kube.wait_condition("computecluster", first)
    idle_log = standby.output()[paused_at:]
    assert RESUMED not in standby.output(), "the younger replica took over from a healthy leader"
    assert "ws-ml" not in idle_log and first not in idle_log, idle_log[-2000:]
    assert standby.arm_requests() == 0 < active.arm_requests()

    killed_at = time.monotonic()
    active.stop(kill=True)
    second = unique(namespace, "ha-second")
    kube.apply(compute_cluster(second))
    eventually(lambda: RESUMED in standby.output(), timeout=LIFETIME + 60, what="the standby resuming")
    resumed_after = time.monotonic() - killed_at
    kube.wait_condition("computecluster", second, timeout=90)
    print(f"takeover: the standby resumed {resumed_after:.1f}s and {second} was Ready "
          f"{time.monotonic() - killed_at:.1f}s after the active replica was killed (peering lifetime {LIFETIME}s)")

    kube.delete("computecluster", first)
    kube.wait_gone("computecluster", first)
    assert emulator.compute(first) is None
    assert (emulator.creates_of(first), emulator.creates_of(second)) == (1, 1)


def test_replicas_started_at_the_same_moment_never_both_work(
        namespace: str, kube: Kube, emulator: Emulator, replica: Replica) -> None:
    # As the chart's Deployment (strategy Recreate) starts its pods: together.
    replicas = [replica(0), replica(1)]
    for one in replicas:
        eventually(lambda one=one: "Keep-alive in 'aml'" in one.output(), timeout=60, what="both replicas peering")
    eventually(lambda: any(RESUMED in one.output() for one in replicas), timeout=60, what="a replica resuming")
    name = unique(namespace, "ha-together")
    ready_workspace(kube)
    kube.apply(compute_cluster(name))
    kube.wait_condition("computecluster", name)

    resumed = [one for one in replicas if RESUMED in one.output()]
    assert len(resumed) == 1, [one.output()[-3000:] for one in replicas]
    (leader,) = resumed
    (standby,) = [one for one in replicas if one is not leader]
    assert standby.arm_requests() == 0 < leader.arm_requests()
    assert name not in standby.output() and "ws-ml" not in standby.output()
    assert emulator.creates_of(name) == 1
