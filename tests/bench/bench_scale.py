"""Benchmark (not a test): N ComputeClusters over W Azure workspaces and NS namespaces on one operator.

Starts its own control plane, an emulator (its default delays: a create takes 1 s) and
`aml-operator` (its default intervals, cluster-wide, trusting the emulator's CA through
AML_CA_BUNDLE as users behind a TLS-inspecting proxy do), applies N computes at once and prints:
  - apply → all Ready (s, computes/s) next to the emulator's own create ceiling, measured first in
    the same run by a client that does nothing else;
  - PUTs per second and 429s while converging, ARM requests per compute by route;
  - at rest: ARM reads and writes per hour, Kubernetes API requests per minute by verb and resource
    (kube-apiserver's own ``apiserver_request_total``), operator CPU seconds per minute, RSS;
  - operator peak RSS and peak TCP connections to ARM;
  - apply → first PUT and apply → Ready, p50/p99, for single new objects among N at rest;
  - delete-all time and what was left in Azure.

    .venv/bin/python tests/bench/bench_scale.py --computes 1000 --workspaces 5 --namespaces 10
    .venv/bin/python tests/bench/bench_scale.py --computes 2000 --throttling   # ARM's real budgets
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests" / "controlplane"), str(REPO / "tests" / "e2e"), str(Path(__file__).parent)]

from apiserver_metrics import RequestCounts, request_totals, since  # noqa: E402
from bench_emulator import create_ceiling  # noqa: E402

from aml_emulator.testing import RunningEmulator  # noqa: E402
from controlplane import ControlPlane  # noqa: E402
from harness import (  # noqa: E402
    SUBSCRIPTION_ID,
    Emulator,
    OperatorProcess,
    compute_cluster,
    credentials_secret,
    emulator_env,
    operator_command,
    start_emulator,
    workspace,
)

GROUP, VERSION, PLURAL = "azureml.dev", "v1alpha1", "computeclusters"
PREFIX = "scale"
CEILING_WORKSPACE = "ws-ceiling"
HOUR, MINUTE = 3600.0, 60.0
APPLY_WORKERS = 8
KUBE_LINES = 8


@dataclass
class Options:
    computes: int = 100
    workspaces: int = 5
    namespaces: int = 10
    rest_seconds: float = 60.0
    probes: int = 20
    throttling: bool = False
    timing_scale: float = 1.0
    ceiling_seconds: float = 10.0
    ceiling_concurrency: int = 200
    timeout: float = 1800.0
    operator_env: dict[str, str] = field(default_factory=dict)
    """Extra settings for the operator (e.g. AML_DRIFT_INTERVAL); its defaults otherwise."""
    cluster_wide: bool = True
    """False: the operator watches only the benchmark's namespaces (a control plane shared with tests)."""
    namespace_prefix: str = "scale"


@dataclass
class Report:
    options: Options
    ceiling_creates_per_second: float = 0.0
    applied_seconds: float = 0.0
    converge_seconds: float = 0.0
    ready_fraction_times: dict[str, float] = field(default_factory=dict)
    converge_routes: dict[str, int] = field(default_factory=dict)
    converge_answers: dict[str, Counter[int]] = field(default_factory=dict)
    throttled: int = 0
    peak_connections: int = 0
    peak_kube_connections: int = 0
    converge_cpu_seconds: float = 0.0
    converge_cpu_by_process: dict[str, float] = field(default_factory=dict)
    """CPU seconds of every process of the run while converging: which one the 2 cores went to."""
    rest_routes: dict[str, int] = field(default_factory=dict)
    rest_kube: RequestCounts = field(default_factory=Counter)
    rest_cpu_seconds: float = 0.0
    rest_rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    first_put_seconds: list[float] = field(default_factory=list)
    ready_seconds: list[float] = field(default_factory=list)
    delete_seconds: float = 0.0
    leftovers: list[str] = field(default_factory=list)

    @property
    def puts(self) -> int:
        return self.converge_routes.get("PUT computes.createOrUpdate", 0)

    def arm_per_compute(self) -> float:
        return sum(self.converge_routes.values()) / self.options.computes

    def rest_per_hour(self, reads: bool) -> float:
        count = sum(n for route, n in self.rest_routes.items() if route.startswith("GET ") == reads)
        return count * HOUR / self.options.rest_seconds

    def lines(self) -> Iterator[str]:
        o = self.options
        yield (f"N={o.computes} computes over {o.workspaces} Azure workspaces and {o.namespaces} namespaces; "
               f"emulator delays x{o.timing_scale:g}, ARM throttling {'on' if o.throttling else 'off'}, "
               f"operator settings {o.operator_env or 'default'}")
        yield (f"emulator alone: {self.ceiling_creates_per_second:.1f} creates/s "
               f"({o.ceiling_concurrency} concurrent clients, {o.ceiling_seconds:g} s)")
        yield (f"apply → all Ready: {self.converge_seconds:.1f} s, {o.computes / self.converge_seconds:.2f} computes/s "
               f"(creating the objects took {self.applied_seconds:.1f} s; Ready at "
               + ", ".join(f"{k} {v:.1f} s" for k, v in self.ready_fraction_times.items()) + ")")
        yield (f"PUTs: {self.puts} ({self.puts / self.converge_seconds:.1f}/s), 429s: {self.throttled}, "
               f"operator CPU {self.converge_cpu_seconds:.1f} s, peak TCP connections to ARM {self.peak_connections}, "
               f"to the API server {self.peak_kube_connections}")
        if self.converge_cpu_by_process:
            yield ("CPU while converging, by process: " + ", ".join(
                f"{name} {seconds:.1f} s" for name, seconds in sorted(
                    self.converge_cpu_by_process.items(), key=lambda item: -item[1])))
        yield f"ARM requests while converging: {self.arm_per_compute():.2f} per compute"
        for route, count in sorted(self.converge_routes.items()):
            answers = ", ".join(f"{status}: {n}" for status, n in sorted(self.converge_answers.get(route, {}).items()))
            yield f"    {route:<36} {count:>7}  ({count / o.computes:.2f} per compute; answered {answers})"
        yield (f"at rest ({o.rest_seconds:.0f} s): ARM {self.rest_per_hour(True):.0f} reads/h, "
               f"{self.rest_per_hour(False):.0f} writes/h")
        for route, count in sorted(self.rest_routes.items()):
            yield f"    {route:<36} {count:>7}"
        kube_total = sum(self.rest_kube.values()) * MINUTE / o.rest_seconds
        yield f"at rest: Kubernetes API {kube_total:.1f} requests/min"
        ranked = self.rest_kube.most_common()
        for (verb, resource), count in ranked[:KUBE_LINES]:
            yield f"    {verb:<8} {resource:<40} {count * MINUTE / o.rest_seconds:>8.1f}/min"
        if len(ranked) > KUBE_LINES:
            rest = sum(count for _, count in ranked[KUBE_LINES:]) * MINUTE / o.rest_seconds
            yield f"    {len(ranked) - KUBE_LINES} others{'':<41} {rest:>8.1f}/min"
        yield (f"at rest: operator CPU {self.rest_cpu_seconds * MINUTE / o.rest_seconds:.2f} s/min, "
               f"RSS {self.rest_rss_mib:.0f} MiB; peak RSS {self.peak_rss_mib:.0f} MiB")
        if self.first_put_seconds:
            yield (f"one new object among {o.computes} at rest ({len(self.first_put_seconds)} probes): "
                   f"apply → first PUT p50 {_pct(self.first_put_seconds, 50):.2f} s "
                   f"p99 {_pct(self.first_put_seconds, 99):.2f} s; apply → Ready "
                   f"p50 {_pct(self.ready_seconds, 50):.2f} s p99 {_pct(self.ready_seconds, 99):.2f} s")
        yield (f"delete all: {self.delete_seconds:.1f} s, left in Azure: {len(self.leftovers)}"
               + (f" ({', '.join(self.leftovers[:5])}...)" if self.leftovers else ""))


def _pct(values: Sequence[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


# -- the operator process, seen from /proc ----------------------------------------------------------------

def _status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connections_to(pid: int, port: int) -> int:
    """Established TCP connections of ``pid`` to ``port``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            if int(cols[2].rsplit(":", 1)[1], 16) == port and cols[3] == "01" and cols[9] in inodes:
                count += 1
    return count


# -- setup -------------------------------------------------------------------------------------------------

def emulator_config(options: Options) -> dict[str, Any]:
    names = [f"ws-{i}" for i in range(options.workspaces)] + [CEILING_WORKSPACE]
    return {
        "timing": {"scale": options.timing_scale},
        "throttling": {"enabled": False},  # the ceiling is measured first; throttling follows the options
        "workspaces": [{"name": name} for name in names],
        "default_quotas": {"total_dedicated_cores": 10_000_000, "total_cores": 10_000_000,
                           "dedicated_cores_per_family": {"standardDSv2Family": 10_000_000}},
    }


def namespaces_of(options: Options) -> list[str]:
    return [f"{options.namespace_prefix}-{i:02d}" for i in range(options.namespaces)]


def compute_names(options: Options) -> dict[str, str]:
    """Compute name → namespace; names are unique across namespaces since several share an Azure workspace."""
    namespaces = namespaces_of(options)
    return {f"{PREFIX}-c{i:05d}": namespaces[i % len(namespaces)] for i in range(options.computes)}


@dataclass
class BenchOperator(OperatorProcess):
    """`aml-operator` with its default intervals, cluster-wide or on the benchmark's namespaces only."""

    env: dict[str, str]
    namespaces: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def command(self) -> tuple[list[str], dict[str, str]]:
        return operator_command(self.namespaces, self.env, verbose=False)


@contextmanager
def running_operator(plane: ControlPlane, emu: Emulator, options: Options, log: Path) -> Iterator[int]:
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig), **emulator_env(emu), "AML_CLUSTER_ID": "bench",
           **options.operator_env}
    operator = BenchOperator(env, [] if options.cluster_wide else namespaces_of(options), log)
    operator.start()
    try:
        yield operator.pid
    finally:
        operator.stop()


def _apply(plane: ControlPlane, objects: list[dict[str, Any]]) -> None:
    result = plane.kubectl("apply", "--server-side", "-f", "-", check=False, timeout=1800,
                           input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    if result.returncode != 0:
        raise SystemExit(f"kubectl apply failed: {result.stderr.strip()[:2000]}")


def _ready(item: dict[str, Any]) -> bool:
    """Ready=True for the object's current generation."""
    status = item.get("status") or {}
    ready = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
    current = ready and ready[0].get("observedGeneration", status.get("observedGeneration"))
    return bool(ready and ready[0]["status"] == "True" and current == item["metadata"].get("generation"))


def _arm_routes(stats: dict[str, Any]) -> dict[str, int]:
    return {route: count for route, count in stats["by_route"].items()
            if not route.split()[1].startswith(("_emulator", "identity"))}


def _arm_answers(stats: dict[str, Any]) -> dict[str, Counter[int]]:
    """ARM requests by route and answer: a GET answered 404 is the look before a create."""
    answers: dict[str, Counter[int]] = {}
    for request in stats["requests"]:
        if not request["route"].startswith(("_emulator", "identity")):
            route = f"{request['method']} {request['route']}"
            answers.setdefault(route, Counter())[request["status"]] += request["count"]
    return answers


def _throttled(stats: dict[str, Any]) -> int:
    return sum(r["count"] for r in stats["requests"] if r["status"] == 429)


def _until(check: Callable[[], bool], timeout: float, what: str, interval: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout:.0f} s: {what}")
        time.sleep(interval)


# -- the run ---------------------------------------------------------------------------------------------

def run(plane: ControlPlane, workdir: Path, options: Options, report: Report | None = None) -> Report:
    """Fills ``report`` phase by phase, so what was measured before a phase fails can still be printed."""
    if options.namespaces < options.workspaces:
        raise SystemExit("--namespaces must be at least --workspaces: each namespace's Workspace names one")
    report = report or Report(options)
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    config_file = workdir / "emulator.json"
    config_file.write_text(json.dumps(emulator_config(options)))
    emu = start_emulator(workdir / "emulator", "spec", "--config", str(config_file))
    api = k8s.CustomObjectsApi(k8s_config.new_client_from_config(config_file=str(plane.kubeconfig)))
    try:
        report.ceiling_creates_per_second = create_ceiling(
            RunningEmulator(url=emu.url, ca_file=emu.ca_file, workspace=CEILING_WORKSPACE),
            options.ceiling_seconds, options.ceiling_concurrency)
        if options.throttling:
            emu.control("PATCH", "settings", {"throttling": {"enabled": True}})
        namespaces = namespaces_of(options)
        setup: list[dict[str, Any]] = []
        for i, ns in enumerate(namespaces):
            setup.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            for obj in (credentials_secret(), workspace(workspace_name=f"ws-{i % options.workspaces}")):
                setup.append({**obj, "metadata": {**obj["metadata"], "namespace": ns}})
        _apply(plane, setup)
        with running_operator(plane, emu, options, workdir / "operator.log") as pid:
            def workspaces_ready() -> bool:
                items = api.list_cluster_custom_object(GROUP, VERSION, "workspaces")["items"]
                return sum(1 for i in items if i["metadata"]["namespace"] in namespaces and _ready(i)) == len(
                    namespaces)
            _until(workspaces_ready, 300, "Workspaces Ready", 0.5)
            converge(plane, emu, api, pid, options, report)
            report.peak_rss_mib = _status_kib(pid, "VmHWM") / 1024  # kept if a later step fails or is interrupted
            at_rest(plane, emu, pid, options, report)
            probe(emu, api, options, report)
            delete_all(plane, emu, api, options, report)
            report.peak_rss_mib = _status_kib(pid, "VmHWM") / 1024
    finally:
        emu.stop()
    return report


def _our_computes(api: k8s.CustomObjectsApi, options: Options) -> list[dict[str, Any]]:
    namespaces = set(namespaces_of(options))
    for attempt in range(3):  # a loaded API server sometimes cuts a multi-megabyte list short
        try:
            items: list[dict[str, Any]] = api.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
            break
        except (urllib3.exceptions.ProtocolError, k8s.ApiException) as exc:
            if attempt == 2 or (isinstance(exc, k8s.ApiException) and (exc.status or 0) < 500):
                raise
            time.sleep(1)
    return [item for item in items if item["metadata"]["namespace"] in namespaces]


def converge(plane: ControlPlane, emu: Emulator, api: k8s.CustomObjectsApi, pid: int, options: Options,
             report: Report) -> None:
    names = compute_names(options)
    manifests = []
    for name, ns in names.items():
        obj = compute_cluster(name, max_nodes=1)
        manifests.append({**obj, "metadata": {**obj["metadata"], "namespace": ns}})
    port = int(emu.url.rsplit(":", 1)[1])
    emu.control("DELETE", "stats")
    cpu_before = cpu_seconds(pid)
    processes = {"operator": pid, "emulator": emu.process.pid, "benchmark (writers, Ready polls)": os.getpid(),
                 **{process.name: process.pid for process in plane.processes}}
    cpu_by_process_before = {name: cpu_seconds(p) for name, p in processes.items()}
    kube_port = plane.apiserver_port
    sampling = threading.Event()

    def sample_connections() -> None:
        # Every half second from the first write on: the peak comes while the objects arrive.
        while not sampling.wait(0.5):
            report.peak_connections = max(report.peak_connections, connections_to(pid, port))
            report.peak_kube_connections = max(report.peak_kube_connections, connections_to(pid, kube_port))
    sampler = threading.Thread(target=sample_connections, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        # Several writers at once, as a GitOps sync applies: one kubectl sending them one by one would
        # measure kubectl on a busy machine more than the operator.
        with ThreadPoolExecutor(APPLY_WORKERS) as pool:
            list(pool.map(lambda obj: api.create_namespaced_custom_object(
                GROUP, VERSION, obj["metadata"]["namespace"], PLURAL, obj), manifests))
        report.applied_seconds = time.monotonic() - started
        ready_at: dict[str, float] = {}
        while len(ready_at) < len(names):
            now = time.monotonic() - started
            for item in _our_computes(api, options):
                if item["metadata"]["name"] not in ready_at and _ready(item):
                    ready_at[item["metadata"]["name"]] = now
            if now > options.timeout:
                raise SystemExit(f"{len(names) - len(ready_at)} computes not Ready after {options.timeout:.0f} s")
            # Each look lists every object: at thousands, looking every second would load the API server more
            # than the operator does.
            time.sleep(max(1.0, options.computes / 2000))
    finally:
        sampling.set()
    report.converge_seconds = max(ready_at.values())
    report.converge_cpu_seconds = cpu_seconds(pid) - cpu_before
    report.converge_cpu_by_process = {name: cpu_seconds(p) - cpu_by_process_before[name]
                                      for name, p in processes.items()}
    times = sorted(ready_at.values())
    report.ready_fraction_times = {f"{p}%": times[max(0, round(p / 100 * len(times)) - 1)] for p in (10, 50, 90)}
    stats = emu.stats()
    report.converge_routes = _arm_routes(stats)
    report.converge_answers = _arm_answers(stats)
    report.throttled = _throttled(stats)


def at_rest(plane: ControlPlane, emu: Emulator, pid: int, options: Options, report: Report) -> None:
    time.sleep(3)  # the last status writes of convergence
    emu.control("DELETE", "stats")
    kube_before = request_totals(plane)
    cpu_before = cpu_seconds(pid)
    time.sleep(options.rest_seconds)
    report.rest_cpu_seconds = cpu_seconds(pid) - cpu_before
    report.rest_kube = since(kube_before, request_totals(plane))
    report.rest_routes = _arm_routes(emu.stats())
    report.rest_rss_mib = _status_kib(pid, "VmRSS") / 1024


def probe(emu: Emulator, api: k8s.CustomObjectsApi, options: Options, report: Report) -> None:
    """One new compute at a time among N at rest: how long until its PUT reaches Azure, and until Ready."""
    ns = namespaces_of(options)[0]
    for i in range(options.probes):
        name = f"{PREFIX}-p{i:03d}"
        azure_workspace = "ws-0"
        started = time.monotonic()
        api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, compute_cluster(name, max_nodes=1))
        first_put = None
        deadline = started + 300
        while time.monotonic() < deadline:
            if first_put is None and emu.control("GET", f"computes/{SUBSCRIPTION_ID}/rg-ml/{azure_workspace}/{name}",
                                                 allow_missing=True) is not None:
                first_put = time.monotonic() - started
            if _ready(api.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)):
                report.ready_seconds.append(time.monotonic() - started)
                report.first_put_seconds.append(first_put if first_put is not None else report.ready_seconds[-1])
                break
            time.sleep(0.02)
        else:
            raise SystemExit(f"probe {name} not Ready within 300 s")


def delete_all(plane: ControlPlane, emu: Emulator, api: k8s.CustomObjectsApi, options: Options,
               report: Report) -> None:
    started = time.monotonic()
    for ns in namespaces_of(options):
        plane.kubectl("delete", PLURAL, "--all", "-n", ns, "--wait=false", timeout=options.timeout)
    _until(lambda: not _our_computes(api, options), options.timeout, "all computes deleted", 1.0)
    report.delete_seconds = time.monotonic() - started
    workspaces = {f"ws-{i}" for i in range(options.workspaces)}
    report.leftovers = sorted(
        c["key"] for c in emu.control("GET", "computes")["computes"]
        if c["key"].split("/")[-2] in workspaces and c["key"].rsplit("/", 1)[-1].startswith(PREFIX))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    defaults = Options()
    parser.add_argument("--computes", type=int, default=defaults.computes)
    parser.add_argument("--workspaces", type=int, default=defaults.workspaces)
    parser.add_argument("--namespaces", type=int, default=defaults.namespaces)
    parser.add_argument("--rest-seconds", type=float, default=defaults.rest_seconds)
    parser.add_argument("--probes", type=int, default=defaults.probes)
    parser.add_argument("--throttling", action="store_true", help="ARM's real read/write budgets in the emulator")
    parser.add_argument("--timing-scale", type=float, default=defaults.timing_scale,
                        help="multiplies the emulator's delays (1: a create takes 1 s)")
    parser.add_argument("--ceiling-seconds", type=float, default=defaults.ceiling_seconds)
    parser.add_argument("--operator-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an operator setting, e.g. AML_DRIFT_INTERVAL=60 (repeatable)")
    args = parser.parse_args()
    options = Options(computes=args.computes, workspaces=args.workspaces, namespaces=args.namespaces,
                      rest_seconds=args.rest_seconds, probes=args.probes, throttling=args.throttling,
                      timing_scale=args.timing_scale, ceiling_seconds=args.ceiling_seconds,
                      operator_env=dict(item.split("=", 1) for item in args.operator_env))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plane = ControlPlane(workdir=work / "cp", kubeconfig=work / "cp" / "kubeconfig")
        plane.start()
        report = Report(options)
        try:
            run(plane, work, options, report)
        finally:
            plane.stop()
            for line in report.lines():
                print(line, flush=True)


if __name__ == "__main__":
    main()
