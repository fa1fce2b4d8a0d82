"""Run `aml-operator` the way the chart's Deployment would, as a local subprocess, under the chart's
ServiceAccount token (TokenRequest): the env and args come from the Deployment the API server holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane import ControlPlane, free_port
from harness import Emulator

BIN = Path(sys.executable).parent
CA_MOUNT = "/etc/azureml-compute-operator/ca/"
# What a missing permission looks like in the operator's log: the API server's "... is forbidden: User
# ... cannot ...", kopf's APIForbiddenError and "Not enough permissions" warnings, "Reason: Forbidden".
FORBIDDEN = ("forbidden", "not enough permissions")


def sa_kubeconfig(plane: ControlPlane, service_account: str, namespace: str, path: Path) -> Path:
    """A kubeconfig holding nothing but a TokenRequest token of the ServiceAccount."""
    token = plane.kubectl("create", "token", service_account, "-n", namespace, "--duration=2h").stdout.strip()
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "local", "cluster": {"server": plane.server,
                                                   "certificate-authority": str(plane.ca_file)}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": "sa", "namespace": namespace}}],
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "operator")


@dataclass
class ChartOperator:
    deployment: dict[str, Any]
    kubeconfig: Path
    emulator: Emulator
    log: Path
    process: subprocess.Popen[bytes] | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def command(self) -> tuple[list[str], dict[str, str]]:
        container = container_of(self.deployment)
        chart_env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
        if chart_env.get("AML_CA_BUNDLE", "").startswith(CA_MOUNT):
            # The chart mounts the CA ConfigMap there; here the same PEM is the emulator's file.
            chart_env["AML_CA_BUNDLE"] = self.emulator.ca_file
        chart_env["AML_METRICS_PORT"] = str(free_port())  # several operators may share this machine
        chart_env.pop("HOME", None)
        args = list(container.get("args", []))
        liveness = args.index("--liveness") + 1
        assert args[liveness].startswith("http://0.0.0.0:"), args
        args[liveness] = f"http://127.0.0.1:{free_port()}/healthz"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "AML_"))}
        env = {**base, **chart_env, **self.overrides, "KUBECONFIG": str(self.kubeconfig)}
        return [str(BIN / "aml-operator"), *args], env

    def start(self) -> None:
        argv, self.env = self.command()
        with self.log.open("w") as out:
            self.process = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def refusals(self) -> list[str]:
        return [line for line in self.output().splitlines() if any(word in line.lower() for word in FORBIDDEN)]
