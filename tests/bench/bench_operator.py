"""Benchmark (not a test): how fast the operator converges N computes, what it costs Azure, and at rest.

Starts its own control plane, an emulator (generous quotas, short delays) and `aml-operator`, applies
N ComputeClusters at once and prints:
  - seconds until all are Ready, and computes per second;
  - ARM requests per compute during convergence (by route);
  - ARM requests per minute at rest with N computes (drift reads one list per workspace per interval);
  - the operator's peak resident memory.

    .venv/bin/python tests/bench/bench_operator.py [--computes 30] [--rest-seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests" / "controlplane"), str(REPO / "tests" / "e2e")]

from controlplane import ControlPlane, free_port  # noqa: E402
from harness import (  # noqa: E402
    BIN,
    Kube,
    compute_cluster,
    credentials_secret,
    start_emulator,
    workspace,
)

CONFIG = {
    "timing": {"scale": 0.2},
    "default_quotas": {"total_dedicated_cores": 100000, "dedicated_cores_per_family": {"standardDSv2Family": 100000}},
}


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def routes(stats: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in stats["by_route"].items() if not k.split()[1].startswith(("_emulator", "token", "openid"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--computes", type=int, default=30)
    parser.add_argument("--rest-seconds", type=float, default=30.0)
    parser.add_argument("--drift-interval", type=float, default=10.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plane = ControlPlane(workdir=work / "cp", kubeconfig=work / "cp" / "kubeconfig")
        plane.start()
        (work / "emu").mkdir()
        (work / "emu" / "config.json").write_text(json.dumps(CONFIG))
        emu = start_emulator(work / "emu", "spec", "--config", str(work / "emu" / "config.json"))
        operator = None
        try:
            plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
            plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
            plane.kubectl("create", "namespace", "bench")
            env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig), "AML_ARM_ENDPOINT": emu.url,
                   "AML_AUTHORITY_HOST": emu.url, "AML_CA_BUNDLE": emu.ca_file, "AML_POLL_INTERVAL": "2",
                   "AML_DRIFT_INTERVAL": str(args.drift_interval), "AML_CLUSTER_ID": "bench",
                   "AML_METRICS_PORT": str(free_port())}
            operator = subprocess.Popen(
                [str(BIN / "aml-operator"), "-n", "bench", "--liveness", f"http://127.0.0.1:{free_port()}/healthz"],
                env=env, stdout=(work / "operator.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)
            kube = Kube(plane, "bench")
            kube.apply(credentials_secret(), workspace())
            kube.wait_condition("workspace", "ws-ml", timeout=120)
            emu.control("DELETE", "stats")

            names = [f"bench-c{i:03d}" for i in range(args.computes)]
            started = time.monotonic()
            manifest = {"apiVersion": "v1", "kind": "List", "items": [compute_cluster(n, max_nodes=1) for n in names]}
            plane.kubectl("apply", "-n", "bench", "-f", "-", input=json.dumps(manifest))
            pending = set(names)
            while pending:
                items = json.loads(plane.kubectl("get", "computeclusters", "-n", "bench", "-o", "json").stdout)["items"]
                for item in items:
                    ready = [c for c in (item.get("status") or {}).get("conditions", []) if c["type"] == "Ready"]
                    if ready and ready[0]["status"] == "True":
                        pending.discard(item["metadata"]["name"])
                if time.monotonic() - started > 900:
                    raise SystemExit(f"not Ready after 900 s: {sorted(pending)[:5]}...")
                time.sleep(0.5)
            converge = time.monotonic() - started
            during = routes(emu.stats())
            total = sum(during.values())

            time.sleep(3)
            emu.control("DELETE", "stats")
            time.sleep(args.rest_seconds)
            at_rest = routes(emu.stats())
            per_minute = sum(at_rest.values()) * 60 / args.rest_seconds

            print(f"computes: {args.computes}, poll interval 2 s, drift interval {args.drift_interval:.0f} s, "
                  "emulator delays x0.2")
            print(f"all Ready after {converge:.1f} s ({args.computes / converge:.2f} computes/s)")
            print(f"ARM requests during convergence: {total} ({total / args.computes:.1f} per compute)")
            for route, count in sorted(during.items()):
                print(f"    {route:<40} {count:>6}")
            print(f"ARM requests at rest: {per_minute:.1f} per minute for {args.computes} computes")
            for route, count in sorted(at_rest.items()):
                print(f"    {route:<40} {count:>6}")
            print(f"operator peak RSS: {peak_rss_kib(operator.pid) / 1024:.0f} MiB")
        finally:
            if operator is not None:
                os.killpg(operator.pid, signal.SIGTERM)
                operator.wait(timeout=30)
            emu.stop()
            plane.stop()


if __name__ == "__main__":
    main()
