"""The local environment behind `make up`, `make demo` and `make down`.

The control plane (etcd, kube-apiserver, kube-controller-manager), the Azure ML emulator and the
operator, each a background process in its own process group, all recorded in `.local/` so `down`
stops exactly what `up` started. `demo` applies the samples and waits for them to be Ready.

    python tests/controlplane/localenv.py up|down|status|demo [--once]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from controlplane import BIN_DIR, REPO, ControlPlane, ManagedProcess, free_port

# AML_LOCAL_DIR lets tests run a whole environment of their own beside a developer's `make up`.
LOCAL = Path(os.environ.get("AML_LOCAL_DIR") or REPO / ".local").resolve()
DEFAULT_WORKDIR = LOCAL / "controlplane"
DEFAULT_KUBECONFIG = LOCAL / "kubeconfig"
STATE = LOCAL / "environment.json"
LOGS = LOCAL / "logs"
VENV_BIN = Path(sys.executable).parent
READY_PREFIX = "AML_EMULATOR_READY "
DEMO_NAMESPACE = "demo"
DEMO_SAMPLES = ("workspace.yaml", "compute-cluster.yaml", "compute-instance.yaml", "inference-cluster-create.yaml",
                "inference-cluster-attach.yaml", "attached-compute-virtualmachine.yaml",
                "attached-compute-hdinsight.yaml", "attached-compute-databricks.yaml",
                "attached-compute-datalakeanalytics.yaml", "attached-compute-datafactory.yaml")
DEMO_KINDS = "workspaces,computeclusters,computeinstances,inferenceclusters,attachedcomputes"
# The resources the attach samples point at, so the emulator can attach them.
DEMO_EMULATOR_CONFIG = Path(__file__).resolve().parent / "demo-emulator.yaml"
DEMO_TIMEOUT = 300.0


def log(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def _load() -> dict[str, Any]:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def _process(data: dict[str, Any]) -> ManagedProcess:
    return ManagedProcess(data["name"], data["pid"], data["start_time"], Path(data["log"]))


def _record(**entries: Any) -> None:
    state = _load()
    state.update(entries)
    LOCAL.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state, indent=2))


def _running(name: str) -> ManagedProcess | None:
    data = _load().get(name)
    if not data:
        return None
    proc = _process(data["process"])
    return proc if proc.running() else None


def control_plane() -> ControlPlane:
    state = DEFAULT_WORKDIR / "state.json"
    if state.exists():
        plane = ControlPlane.load(DEFAULT_WORKDIR)
        if plane.running():
            return plane
    log("starting the control plane (etcd, kube-apiserver, kube-controller-manager)")
    plane = ControlPlane(workdir=DEFAULT_WORKDIR, kubeconfig=DEFAULT_KUBECONFIG)
    started = time.monotonic()
    plane.start()
    log(f"control plane up at {plane.server} in {time.monotonic() - started:.1f}s")
    return plane


def emulator() -> dict[str, Any]:
    if _running("emulator"):
        return _load()["emulator"]["ready"]  # type: ignore[no-any-return]
    log("starting the Azure ML emulator")
    LOGS.mkdir(parents=True, exist_ok=True)
    out = LOGS / "emulator.log"
    out.unlink(missing_ok=True)
    proc = ManagedProcess.spawn("aml-emulator", [
        str(VENV_BIN / "aml-emulator"), "--port", "0", "--ca-file", str(LOCAL / "emulator-ca.pem"),
        "--config", str(DEMO_EMULATOR_CONFIG),
    ], out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in out.read_text(errors="replace").splitlines():
            if line.startswith(READY_PREFIX):
                ready = json.loads(line[len(READY_PREFIX):])
                _record(emulator={"process": vars(proc) | {"log": str(proc.log)}, "ready": ready})
                log(f"emulator up at {ready['url']}")
                return ready  # type: ignore[no-any-return]
        if not proc.running():
            break
        time.sleep(0.2)
    proc.stop()
    raise SystemExit(f"the emulator did not start; see {out}:\n{proc.log_tail()}")


def install_crds(plane: ControlPlane) -> None:
    log("installing the CRDs")
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


def operator(plane: ControlPlane, emu: dict[str, Any]) -> None:
    if _running("operator"):
        return
    log("starting the operator")
    env = {
        **os.environ, "KUBECONFIG": str(plane.kubeconfig),
        "AML_ARM_ENDPOINT": emu["url"], "AML_AUTHORITY_HOST": emu["url"], "AML_CA_BUNDLE": emu["ca_file"],
        "AML_POLL_INTERVAL": "2", "AML_DRIFT_INTERVAL": "30",
        "AML_SECRET_REFRESH_INTERVAL": "15", "AML_METRICS_PORT": str(free_port()),
    }
    proc = ManagedProcess.spawn("aml-operator", [
        str(VENV_BIN / "aml-operator"), "--liveness", f"http://127.0.0.1:{free_port()}/healthz",
    ], LOGS / "operator.log", env)
    _record(operator={"process": vars(proc) | {"log": str(proc.log)}})


def up() -> ControlPlane:
    plane = control_plane()
    emu = emulator()
    install_crds(plane)
    operator(plane, emu)
    print("# paste these lines into your shell:", file=sys.stderr)
    print(f"export PATH={BIN_DIR}:$PATH\nexport KUBECONFIG={plane.kubeconfig}")
    return plane


def down() -> None:
    for name in ("operator", "emulator"):
        proc = _running(name)
        if proc is not None:
            log(f"stopping the {name}")
            proc.stop()
    STATE.unlink(missing_ok=True)
    if (DEFAULT_WORKDIR / "state.json").exists():
        log("stopping the control plane")
        ControlPlane.load(DEFAULT_WORKDIR).stop()


def status() -> int:
    ok = True
    for name in ("emulator", "operator"):
        proc = _running(name)
        ok = ok and proc is not None
        print(f"  {name:<24} {'up' if proc else 'down'}")
    if (DEFAULT_WORKDIR / "state.json").exists():
        plane = ControlPlane.load(DEFAULT_WORKDIR)
        ok = ok and plane.running()
        print(f"  control plane            {'up at ' + plane.server if plane.running() else 'down'}")
    else:
        ok = False
        print("  control plane            down")
    return 0 if ok else 1


def _ready_table(plane: ControlPlane) -> tuple[bool, list[str]]:
    items = json.loads(plane.kubectl("get", DEMO_KINDS, "-n", DEMO_NAMESPACE, "-o", "json").stdout)["items"]
    rows, all_ready = [], bool(items)
    for item in items:
        conditions = {c["type"]: c for c in (item.get("status") or {}).get("conditions", [])}
        ready = conditions.get("Ready", {})
        all_ready = all_ready and ready.get("status") == "True"
        rows.append(f"{item['kind']}/{item['metadata']['name']}: Ready={ready.get('status', '?')} "
                    f"{ready.get('reason', '')} {ready.get('message', '') if ready.get('status') != 'True' else ''}")
    return all_ready, rows


def demo(once: bool) -> int:
    plane = up()
    plane.kubectl("create", "namespace", DEMO_NAMESPACE, check=False)
    for sample in DEMO_SAMPLES:
        log(f"kubectl apply -n {DEMO_NAMESPACE} -f deploy/samples/{sample}")
        plane.kubectl("apply", "-n", DEMO_NAMESPACE, "-f", str(REPO / "deploy" / "samples" / sample))
    deadline, last = time.monotonic() + DEMO_TIMEOUT, None
    ready, rows = False, []
    while time.monotonic() < deadline:
        ready, rows = _ready_table(plane)
        if rows != last:
            print("\n".join(f"    {row}" for row in rows), file=sys.stderr, flush=True)
            last = rows
        if ready:
            break
        time.sleep(0.5)  # the table shows each change as it comes; --once ends as soon as all is Ready
    print(plane.kubectl("get", "azureml", "-A").stdout)
    if not ready:
        print(f"not everything became Ready within {DEMO_TIMEOUT:.0f}s:\n  " + "\n  ".join(rows)
              + f"\n(operator log: {LOGS / 'operator.log'})", file=sys.stderr)
    if once:
        down()
        return 0 if ready else 1
    print(f"""
Everything runs locally: the control plane, the Azure ML emulator and the operator.
    export PATH={BIN_DIR}:$PATH KUBECONFIG={plane.kubeconfig}
Play:
    kubectl -n demo get azureml                                   # Ready, state, nodes
    kubectl -n demo patch computecluster cpu-cluster --type merge \\
        -p '{{"spec":{{"scaleSettings":{{"maxNodeCount":6}}}}}}'
    kubectl -n demo patch computeinstance dev-instance --type merge -p '{{"spec":{{"state":"Stopped"}}}}'
    kubectl -n demo delete computecluster cpu-cluster             # deletes it in the emulator too
    kubectl -n demo describe computeinstance dev-instance         # conditions and events
    kubectl -n demo get secret aks-prod-kubeconfig -o yaml        # written by the operator, owned by aks-prod
    kubectl -n demo delete inferencecluster aks-attached          # detaches: the AKS stays in the emulator
Logs: {LOGS}/operator.log, {LOGS}/emulator.log
Stop everything: make down""", file=sys.stderr)
    return 0 if ready else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "demo"])
    parser.add_argument("--once", action="store_true", help="demo: exit once Ready (or not), tearing down")
    args = parser.parse_args(argv)
    if args.command == "up":
        up()
        return 0
    if args.command == "down":
        down()
        return 0
    if args.command == "status":
        return status()
    try:
        return demo(args.once)
    except BaseException:
        if args.once:
            down()
        raise


if __name__ == "__main__":
    sys.exit(main())
