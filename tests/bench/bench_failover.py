"""Benchmark (not a test): two operator replicas under kopf peering; the active one is SIGKILLed while N
ComputeClusters are being created, and again while they are being deleted.

Starts its own control plane, an emulator (its default delays: a create takes 1 s) and two
`aml-operator` replicas with the chart's peering settings (priority from the start time, the given
peering lifetime) watching one namespace, and prints for each phase:
  - takeover: SIGKILL → the standby resuming (kopf's "Resuming operations" line) and → converged
    (every compute Ready, or every object gone);
  - what each replica sent to Azure while both were alive (its own aml_arm_requests_total): the
    standby must have sent nothing;
  - duplicate creates (computes the emulator created more than once), computes that received more
    than one PUT, and orphans (computes left in Azure after every object is gone).
A killed replica is started again (as a new pod would be) and joins as the standby.

    .venv/bin/python tests/bench/bench_failover.py --computes 100
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests" / "controlplane"), str(REPO / "tests" / "e2e")]

from controlplane import ControlPlane  # noqa: E402
from harness import (  # noqa: E402
    ARM_WRITES,
    Emulator,
    Operator,
    compute_cluster,
    credentials_secret,
    start_emulator,
    workspace,
)

PEERING_CRD = REPO / "deploy/helm/azureml-compute-operator-crds/files/kopf/kopfpeerings.kopf.dev.yaml"
PEERING = "aml"
RESUMED = "Resuming operations after the pause"
PREFIX = "ha"


@dataclass
class Options:
    computes: int = 100
    lifetime: int = 15
    """AML_OPERATOR_PEERING_LIFETIME: the chart's default."""
    kill_at: float = 0.3
    """Kill the active replica once this fraction of the computes was created in Azure (or was sent its DELETE)."""
    timing_scale: float = 1.0
    namespace: str = "failover"
    timeout: float = 900.0


@dataclass
class Phase:
    name: str
    killed: str = ""
    done_at_kill: int = 0
    takeover_seconds: float = 0.0
    converge_seconds: float = 0.0
    total_seconds: float = 0.0
    requests_both_alive: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Replica → (ARM requests, of which writes) it sent while both replicas were alive."""
    successor_writes: tuple[int, int] = (0, 0)
    """(writes, of which Azure refused with a 4xx) the replica that took over sent by convergence."""


@dataclass
class Report:
    options: Options
    phases: list[Phase] = field(default_factory=list)
    duplicate_creates: dict[str, int] = field(default_factory=dict)
    repeated_puts: dict[str, int] = field(default_factory=dict)
    put_statuses: dict[int, int] = field(default_factory=dict)
    """HTTP status → PUTs of computes the emulator answered with it (a create refused as existing is a 412/409)."""
    orphans: list[str] = field(default_factory=list)
    first_leader_seconds: float = 0.0

    def lines(self) -> Iterator[str]:
        o = self.options
        yield (f"N={o.computes} ComputeClusters, 2 replicas, peering lifetime {o.lifetime} s, emulator delays "
               f"x{o.timing_scale:g}, active replica SIGKILLed at {o.kill_at:.0%} of each phase")
        yield f"two replicas started together: one resumed after {self.first_leader_seconds:.1f} s, the other stood by"
        for phase in self.phases:
            yield (f"{phase.name}: killed {phase.killed} with {phase.done_at_kill}/{o.computes} done; "
                   f"standby resumed {phase.takeover_seconds:.1f} s later, converged {phase.converge_seconds:.1f} s "
                   f"after the kill ({phase.total_seconds:.1f} s for the whole phase)")
            for replica, (requests, writes) in phase.requests_both_alive.items():
                role = "active, until killed" if replica == phase.killed else "standby, while both were alive"
                yield f"    {replica} ({role}): {requests} ARM requests, {writes} writes"
            yield (f"    the replica that took over: {phase.successor_writes[0]} writes by convergence, "
                   f"{phase.successor_writes[1]} of them refused by Azure (4xx)")
        yield (f"duplicate creates: {sum(self.duplicate_creates.values())}; computes with more than one PUT: "
               f"{len(self.repeated_puts)} (PUTs by status: {self.put_statuses}); orphans left in Azure: "
               f"{len(self.orphans)}")
        for name, extra in sorted(self.duplicate_creates.items())[:5]:
            yield f"    created {extra + 1} times: {name}"
        for name, puts in sorted(self.repeated_puts.items())[:5]:
            yield f"    {puts} PUTs: {name}"


def _until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout:.0f} s: {what}")
        time.sleep(interval)
    return result


def emulator_config() -> dict[str, Any]:
    return {"default_quotas": {"total_dedicated_cores": 10_000_000, "total_cores": 10_000_000,
                               "dedicated_cores_per_family": {"standardDSv2Family": 10_000_000}}}


class Cluster:
    """The namespace's objects as kubectl sees them, and the emulator's computes of this run."""

    def __init__(self, plane: ControlPlane, emu: Emulator, options: Options) -> None:
        self.plane, self.emu, self.options = plane, emu, options
        self.names = [f"{PREFIX}-c{i:04d}" for i in range(options.computes)]

    def items(self) -> list[dict[str, Any]]:
        out = self.plane.kubectl("get", "computeclusters", "-n", self.options.namespace, "-o", "json").stdout
        return json.loads(out)["items"]  # type: ignore[no-any-return]

    def ready(self) -> int:
        def is_ready(item: dict[str, Any]) -> bool:
            status = item.get("status") or {}
            ready = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
            return bool(ready and ready[0]["status"] == "True"
                        and status.get("observedGeneration") == item["metadata"].get("generation"))
        return sum(1 for item in self.items() if is_ready(item))

    def in_azure(self) -> list[str]:
        return sorted(c["key"].rsplit("/", 1)[-1] for c in self.emu.control("GET", "computes")["computes"]
                      if c["key"].rsplit("/", 1)[-1].startswith(PREFIX))

    def apply(self, objects: list[dict[str, Any]]) -> None:
        self.plane.kubectl("apply", "-n", self.options.namespace, "--server-side", "-f", "-", timeout=600,
                           input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


class Replicas:
    """The two replicas of one install; a killed one is replaced by a new pod (a new POD_ID)."""

    def __init__(self, plane: ControlPlane, emu: Emulator, options: Options, workdir: Path) -> None:
        self.plane, self.emu, self.options, self.workdir = plane, emu, options, workdir
        self.started: list[Operator] = []

    def start(self) -> Operator:
        index = len(self.started)
        env = {**os.environ, "KUBECONFIG": str(self.plane.kubeconfig)}
        replica = Operator(self.options.namespace, self.emu, env, self.workdir / f"replica-{index}.log",
                           {"POD_ID": f"replica-{index}", "AML_OPERATOR_PEERING": PEERING,
                            "AML_OPERATOR_PEERING_LIFETIME": str(self.options.lifetime)}, verbose=False)
        replica.start()
        self.started.append(replica)
        return replica

    def alive(self) -> list[Operator]:
        return [r for r in self.started if r.process is not None and r.process.poll() is None]

    def leader(self) -> Operator | None:
        """The live replica that resumed last (a standby that took over logged its own resume)."""
        resumed = [r for r in self.alive() if RESUMED in r.output()]
        return resumed[0] if len(resumed) == 1 else None

    def stop(self) -> None:
        for replica in self.started:
            replica.stop()


def failover(name: str, cluster: Cluster, replicas: Replicas, done: Callable[[], int],
             converged: Callable[[], bool], started: float) -> Phase:
    """Wait until ``done()`` reaches the kill point, SIGKILL the leader, time the takeover and convergence."""
    phase = Phase(name)
    options = cluster.options
    _until(lambda: done() >= options.kill_at * options.computes, options.timeout, f"{name}: the kill point", 0.2)
    leader = replicas.leader()
    if leader is None:
        raise SystemExit(f"{name}: not exactly one replica working")
    standby = next(r for r in replicas.alive() if r is not leader)
    for replica in (leader, standby):
        phase.requests_both_alive[replica.extra_env["POD_ID"]] = (replica.arm_requests(),
                                                                  replica.arm_requests(ARM_WRITES))
    phase.done_at_kill = done()
    phase.killed = leader.extra_env["POD_ID"]
    killed_at = time.monotonic()
    leader.stop(kill=True)
    _until(lambda: RESUMED in standby.output(), options.timeout, f"{name}: the standby resuming", 0.1)
    phase.takeover_seconds = time.monotonic() - killed_at
    _until(converged, options.timeout, f"{name}: convergence", 0.5)
    phase.converge_seconds = time.monotonic() - killed_at
    phase.successor_writes = (standby.arm_requests(ARM_WRITES), standby.arm_requests(ARM_WRITES, refused=True))
    phase.total_seconds = time.monotonic() - started
    return phase


def run(plane: ControlPlane, workdir: Path, options: Options) -> Report:
    report = Report(options)
    ns = options.namespace
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"), "-f", str(PEERING_CRD))
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    plane.kubectl("create", "namespace", ns)
    config = workdir / "emulator.json"
    config.write_text(json.dumps(emulator_config()))
    emu = start_emulator(workdir / "emulator", "spec", "--config", str(config),
                         "--timing-scale", str(options.timing_scale))
    replicas = Replicas(plane, emu, options, workdir)
    cluster = Cluster(plane, emu, options)
    try:
        cluster.apply([{"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": PEERING}},
                       credentials_secret(), workspace()])
        started = time.monotonic()
        # Together, as the Deployment's pods start (strategy Recreate).
        replicas.start()
        replicas.start()
        _until(replicas.leader, options.timeout, "a leader")
        report.first_leader_seconds = time.monotonic() - started
        time.sleep(2)
        both = [r for r in replicas.alive() if RESUMED in r.output()]
        if len(both) != 1:
            raise SystemExit(f"{len(both)} replicas resumed after starting together")
        _until(lambda: "Ready" in plane.kubectl("get", "workspace", "ws-ml", "-n", ns, "-o",
                                                "jsonpath={.status.conditions[?(@.status=='True')].type}").stdout,
               120, "the Workspace Ready")

        emu.control("DELETE", "stats")
        started = time.monotonic()
        cluster.apply([compute_cluster(name, max_nodes=1) for name in cluster.names])
        report.phases.append(failover(
            "create", cluster, replicas, lambda: len(emu.stats()["creates_by_name"]),
            lambda: cluster.ready() == options.computes, started))
        replacement = replicas.start()  # the killed pod's replacement: the younger replica, a standby
        _until(lambda: f"peering {PEERING!r} as" in replacement.output(), 120, "the replacement peering")
        stats = emu.stats()
        report.duplicate_creates = {n: c - 1 for n, c in stats["creates_by_name"].items() if c > 1}
        puts = {key.rsplit("/", 1)[-1]: methods.get("PUT", 0) for key, methods in stats["writes"].items()}
        report.repeated_puts = {n: c for n, c in puts.items() if c > 1}
        for request in stats["requests"]:
            if request["method"] == "PUT" and "computes" in request["route"]:
                status = request["status"]
                report.put_statuses[status] = report.put_statuses.get(status, 0) + request["count"]

        started = time.monotonic()
        plane.kubectl("delete", "computeclusters", "--all", "-n", ns, "--wait=false")
        report.phases.append(failover(
            "delete", cluster, replicas,
            lambda: sum(1 for methods in emu.stats()["writes"].values() if methods.get("DELETE")),
            lambda: not cluster.items(), started))
        report.orphans = cluster.in_azure()
    finally:
        replicas.stop()
        emu.stop()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    defaults = Options()
    parser.add_argument("--computes", type=int, default=defaults.computes)
    parser.add_argument("--lifetime", type=int, default=defaults.lifetime, help="peering lifetime (s)")
    parser.add_argument("--kill-at", type=float, default=defaults.kill_at)
    parser.add_argument("--timing-scale", type=float, default=defaults.timing_scale)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the operators' and the emulator's logs here (a temporary directory otherwise)")
    args = parser.parse_args()
    options = Options(computes=args.computes, lifetime=args.lifetime, kill_at=args.kill_at,
                      timing_scale=args.timing_scale)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        plane = ControlPlane(workdir=work / "cp", kubeconfig=work / "cp" / "kubeconfig")
        plane.start()
        try:
            report = run(plane, work, options)
        finally:
            plane.stop()
    for line in report.lines():
        print(line, flush=True)


if __name__ == "__main__":
    main()
