"""Two replicas under kopf peering, as the chart runs them with ``replicas: 2``: one works, the other waits,
and the waiting one takes over when the active one is killed.

The chart's pods draw their peering priorities at start (two replicas of equal priority would pause each
other for good); here they are set, so that which replica is active is known.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from controlplane import ControlPlane
from harness import REPO, Emulator, Kube, Operator, compute_cluster, eventually, ready_workspace, unique

PEERING_CRD = REPO / "deploy/helm/azureml-compute-operator-crds/files/kopf/kopfpeerings.kopf.dev.yaml"
RESUMED = "Resuming operations after the pause"
LIFETIME = 8


def test_the_standby_writes_nothing_and_takes_over_when_the_active_replica_dies(
        control_plane: ControlPlane, namespace: str, kube: Kube, emulator: Emulator,
        operator_factory: Callable[..., Operator]) -> None:
    control_plane.kubectl("apply", "-f", str(PEERING_CRD))
    control_plane.kubectl("wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev", "--timeout=60s")
    kube.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "aml"}})
    # Peering needs the chart's peering RBAC (replicas > 1), which the one-namespace identity leaves out.
    def replica(index: int, priority: int) -> Operator:
        return operator_factory(namespace, emulator, as_admin=True, POD_ID=f"replica-{index}",
                                AML_OPERATOR_PEERING="aml", AML_OPERATOR_PEERING_PRIORITY=str(priority),
                                AML_OPERATOR_PEERING_LIFETIME=str(LIFETIME))

    # kopf starts every replica paused; a replica resumes only while no live peer outranks it.
    active = replica(0, priority=200)
    eventually(lambda: RESUMED in active.output(), timeout=60, what="the first replica resuming operations")
    standby = replica(1, priority=100)
    eventually(lambda: "Keep-alive in 'aml'" in standby.output(), timeout=60, what="the standby joining the peering")
    paused_at = len(standby.output())

    first = unique(namespace, "ha-first")
    ready_workspace(kube)
    kube.apply(compute_cluster(first))
    kube.wait_condition("computecluster", first)
    idle_log = standby.output()[paused_at:]
    assert RESUMED not in standby.output()
    assert "ws-ml" not in idle_log and first not in idle_log, idle_log[-2000:]

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
