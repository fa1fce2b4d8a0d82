"""Run `aml-operator` the way the chart's Deployment would, as a local subprocess, under the chart's
ServiceAccount token (TokenRequest): the env and args come from the Deployment the API server holds."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane import ControlPlane
from harness import Emulator, OperatorProcess, operator_command

CA_MOUNT = "/etc/azureml-compute-operator/ca/"
# What a missing permission looks like in the operator's log: the API server's "... is forbidden: User
# ... cannot ...", kopf's APIForbiddenError and "Not enough permissions" warnings, "Reason: Forbidden".
FORBIDDEN = ("forbidden", "not enough permissions")
# Forbidden for another reason than RBAC: a cluster-wide operator posting an event into a namespace
# that another test is deleting.
NOT_RBAC = ("namespaceterminating",)


def sa_token(plane: ControlPlane, service_account: str, namespace: str) -> str:
    """A TokenRequest token of the ServiceAccount, as the kubelet projects into its pods."""
    return plane.kubectl("create", "token", service_account, "-n", namespace, "--duration=2h").stdout.strip()


def sa_kubeconfig(plane: ControlPlane, service_account: str, namespace: str, path: Path) -> Path:
    """A kubeconfig holding nothing but a TokenRequest token of the ServiceAccount."""
    token = sa_token(plane, service_account, namespace)
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


def pod_name(deployment: dict[str, Any]) -> str:
    """A name as the ReplicaSet would give the pod."""
    return f"{deployment['metadata']['name']}-{uuid.uuid4().hex[:10]}-{uuid.uuid4().hex[:5]}"


def container_env(container: dict[str, Any], pod: str, namespace: str) -> dict[str, str]:
    """The container's env as the kubelet sets it: values, and the downward API fields the chart uses."""
    fields = {"metadata.name": pod, "metadata.namespace": namespace}
    env = {}
    for entry in container.get("env", []):
        if "valueFrom" in entry:
            path = entry["valueFrom"]["fieldRef"]["fieldPath"]  # the chart uses no other source
            env[entry["name"]] = fields[path]
        else:
            env[entry["name"]] = entry.get("value", "")
    return env


def refusals(output: str) -> list[str]:
    """The log lines where the API server refused the operator for lack of RBAC."""
    return [line for line in output.splitlines()
            if any(word in line.lower() for word in FORBIDDEN) and not any(w in line.lower() for w in NOT_RBAC)]


@dataclass
class ChartOperator(OperatorProcess):
    """`aml-operator` from this venv, with the chart's env and args and a ServiceAccount kubeconfig."""

    deployment: dict[str, Any]
    kubeconfig: Path
    emulator: Emulator
    log: Path
    process: subprocess.Popen[bytes] | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    logs: list[Path] = field(default_factory=list)

    def refusals(self) -> list[str]:
        return refusals(self.output())

    def command(self) -> tuple[list[str], dict[str, str]]:
        container = container_of(self.deployment)
        chart_env = container_env(container, pod_name(self.deployment), self.deployment["metadata"]["namespace"])
        if chart_env.get("AML_CA_BUNDLE", "").startswith(CA_MOUNT):
            # The chart mounts the CA ConfigMap there; here the same PEM is the emulator's file.
            chart_env["AML_CA_BUNDLE"] = self.emulator.ca_file
        chart_env.pop("HOME", None)
        args = list(container.get("args", []))
        liveness = args.index("--liveness")
        assert args[liveness + 1].startswith("http://0.0.0.0:"), args
        del args[liveness:liveness + 2]  # the launcher gives each operator a free port of its own
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "AML_"))}
        argv, env = operator_command([], {**base, **chart_env, **self.overrides, "KUBECONFIG": str(self.kubeconfig)},
                                     verbose="--verbose" in args)
        # The chart's args (log format, ...) after the launcher's own; namespaces come from the chart's env.
        return [*argv, *(arg for arg in args if arg != "--verbose")], env
