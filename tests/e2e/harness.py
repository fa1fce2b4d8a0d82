"""End-to-end harness: the emulator and the operator as subprocesses, kubectl helpers, manifests.

The operator runs exactly as users run it (`aml-operator`), pointed at the emulator through its
settings; each test gets its own namespace and its own operator watching only that namespace.
``start_emulator`` and ``OperatorProcess`` are the launchers every test suite and benchmark uses.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aml_emulator.testing import EmulatorProcess, start_emulator_process
from controlplane import ControlPlane, free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

TENANT_ID = "11111111-1111-1111-1111-111111111111"
SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
CLIENT_ID = "22222222-2222-2222-2222-222222222222"
CLIENT_SECRET = "emulator-secret"

POLL_INTERVAL = 1.0
DRIFT_INTERVAL = 2.0
"""The e2e operators' AML_POLL_INTERVAL and AML_DRIFT_INTERVAL: a change made in Azure shows in status within
one drift interval plus the snapshot's age, so tests that wait on drift, or watch a few drift passes go by,
take seconds instead of minutes."""


def eventually(check: Callable[[], Any], timeout: float = 60, interval: float = 0.2,
               what: str | Callable[[], str] = "") -> Any:
    """Poll until ``check`` returns something truthy; return it. A short interval: a wait ends on average
    half an interval after its condition holds, and the suite waits thousands of times."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what() if callable(what) else what or check}")
        time.sleep(interval)


@dataclass
class Emulator(EmulatorProcess):
    """The emulator process (aml_emulator.testing's one launcher) and what e2e tests ask it."""

    profile: str = "spec"

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "stats")  # type: ignore[no-any-return]

    def creates_of(self, name: str) -> int:
        return int(self.stats()["creates_by_name"].get(name, 0))

    def writes_of(self, name: str) -> dict[str, int]:
        """Write requests (by HTTP method) the emulator received for one compute."""
        merged: dict[str, int] = {}
        for key, methods in self.stats()["writes"].items():
            if key.rsplit("/", 1)[-1] == name:
                for method, count in methods.items():
                    merged[method] = merged.get(method, 0) + count
        return merged

    def compute(self, name: str, workspace: str = "ws-ml") -> dict[str, Any] | None:
        """The compute as the emulator stores it (ARM JSON), None when it does not exist."""
        found = self.control("GET", f"computes/{SUBSCRIPTION_ID}/rg-ml/{workspace}/{name}", allow_missing=True)
        return None if found is None else found["resource"]  # type: ignore[no-any-return]

    def change_behind_our_back(self, name: str, merge_patch: dict[str, Any]) -> None:
        """What a user does in the portal: change the compute directly in Azure."""
        self.control("PATCH", f"computes/{SUBSCRIPTION_ID}/rg-ml/ws-ml/{name}", merge_patch)

    def delete_behind_our_back(self, name: str) -> None:
        self.control("DELETE", f"computes/{SUBSCRIPTION_ID}/rg-ml/ws-ml/{name}")


def start_emulator(workdir: Path, profile: str = "spec", *extra: str) -> Emulator:
    """An emulator process with its CA and request log in ``workdir``; Retry-After as its configuration says."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = start_emulator_process(
        ["--ca-file", str(workdir / f"ca-{profile}.pem"), "--profile", profile, *extra],
        retry_after=None, log=workdir / f"emulator-{profile}.log")
    return Emulator(started.process, started.info, started.log, profile)


class OperatorProcess:
    """An operator as a process in a session of its own: the one launcher of the tests and benchmarks.

    Subclasses say what to run (``command``); each start writes a log of its own (``log``, then
    ``<stem>-1<suffix>``, ...) and ``output()`` reads them all in order.
    """

    log: Path
    logs: list[Path]
    process: subprocess.Popen[bytes] | None

    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def start(self) -> None:
        argv, env = self.command()
        log = self.log if not self.logs else self.log.with_name(f"{self.log.stem}-{len(self.logs)}{self.log.suffix}")
        self.logs.append(log)
        with log.open("w") as out:
            self.process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (SIGKILL with ``kill``: a crash, no goodbye to the peers) to the whole process group."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def output(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs if log.exists())


def operator_command(namespaces: list[str], env: dict[str, str], *, verbose: bool = True,
                     metrics_port: int | None = None) -> tuple[list[str], dict[str, str]]:
    """``aml-operator`` from this venv watching ``namespaces`` (all when empty: or as AML_OPERATOR_NAMESPACES
    says), with a liveness endpoint and a metrics port of its own (several operators share the machine)."""
    argv = [str(BIN / "aml-operator"), *(f"--namespace={ns}" for ns in namespaces),
            "--liveness", f"http://127.0.0.1:{free_port()}/healthz", *(["--verbose"] if verbose else [])]
    return argv, {**env, "AML_METRICS_PORT": str(metrics_port or free_port())}


def emulator_env(emulator: EmulatorProcess) -> dict[str, str]:
    """The operator's settings that point it at the emulator."""
    return {"AML_ARM_ENDPOINT": emulator.url, "AML_AUTHORITY_HOST": emulator.url, "AML_CA_BUNDLE": emulator.ca_file}


@dataclass
class Operator(OperatorProcess):
    """``aml-operator`` as a subprocess watching a namespace (or a few), at the e2e POLL_INTERVAL and DRIFT_INTERVAL."""

    namespace: str
    emulator: Emulator
    env: dict[str, str]
    log: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)
    metrics_port: int = field(default_factory=free_port)
    verbose: bool = True
    """--verbose: kopf's debug lines (peering keep-alives, patches) and Azure's HTTP request log."""
    more_namespaces: tuple[str, ...] = ()
    """Namespaces watched besides ``namespace`` (conftest's shared_operator)."""

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            return response.read().decode()  # type: ignore[no-any-return]

    def arm_requests(self, methods: tuple[str, ...] | None = None, refused: bool = False) -> int:
        """Requests this operator sent to Azure (of ``methods``; all when None; only those Azure answered
        with a 4xx when ``refused``), from its own /metrics."""
        return arm_requests(self.metrics(), methods, refused)

    def command(self) -> tuple[list[str], dict[str, str]]:
        return operator_command([self.namespace, *self.more_namespaces], {
            **self.env, **emulator_env(self.emulator), "AML_POLL_INTERVAL": f"{POLL_INTERVAL:g}",
            "AML_DRIFT_INTERVAL": f"{DRIFT_INTERVAL:g}", "AML_SECRET_REFRESH_INTERVAL": f"{DRIFT_INTERVAL:g}",
            "AML_CLUSTER_ID": "e2e-cluster", **self.extra_env,
        }, verbose=self.verbose, metrics_port=self.metrics_port)


class SharedOperator:
    """One operator, under the chart's identity, watching a namespace for each test of a module that asks
    for ``shared_operator``: those tests need nothing of the operator but that it works, so they pay for
    one start (seconds of imports on two busy cores) instead of one each. Each test still has a namespace,
    Workspace and objects of its own (the ``namespace`` fixture hands it its namespace); they are deleted
    once the operator has stopped, as a test's own namespace is after its own operator stops."""

    def __init__(self, operator: Operator, namespaces: dict[str, str]) -> None:
        self.operator, self._namespaces = operator, namespaces

    def namespace_of(self, test: Any) -> str:
        """The namespace of one test (a pytest item)."""
        return self._namespaces[test.nodeid]


ARM_WRITES = ("PUT", "PATCH", "POST", "DELETE")
_ARM_SAMPLE = re.compile(r'^aml_arm_requests_total\{([^}]*)\} ([0-9.e+]+)$', re.MULTILINE)


def arm_requests(metrics: str, methods: tuple[str, ...] | None = None, refused: bool = False) -> int:
    """The sum of ``aml_arm_requests_total`` in a Prometheus text page, for ``methods`` (all when None),
    only the 4xx answers when ``refused``."""
    total = 0.0
    for labels, value in _ARM_SAMPLE.findall(metrics):
        method = re.search(r'method="([^"]*)"', labels)
        code = re.search(r'code="([^"]*)"', labels)
        if methods is not None and (method is None or method.group(1) not in methods):
            continue
        if refused and (code is None or not code.group(1).startswith("4")):
            continue
        total += float(value)
    return int(total)


_AZUREML = "/apis/azureml.dev/v1alpha1/namespaces/{namespace}"
# The kinds tests wait on, by the name kubectl takes, and their collection's path (the rest go through kubectl).
_COLLECTIONS = {
    **{kind: f"{_AZUREML}/{kind}s" for kind in (
        "workspace", "computecluster", "computeinstance", "inferencecluster", "attachedcompute")},
    **{kind: f"/api/v1/namespaces/{{namespace}}/{kind}s" for kind in ("secret", "serviceaccount", "configmap")},
    "kopfpeering": "/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings",
}


class Kube:
    """kubectl on objects of one namespace, JSON in and out."""

    def __init__(self, plane: ControlPlane, namespace: str) -> None:
        self.plane, self.namespace = plane, namespace

    def apply(self, *objects: dict[str, Any]) -> None:
        for obj in objects:
            self.plane.kubectl("apply", "-n", self.namespace, "-f", "-", input=json.dumps(obj))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        collection = _COLLECTIONS.get(kind)
        if collection is not None:  # read in process: waits poll this many times a second
            return self.plane.read(f"{collection.format(namespace=self.namespace)}/{name}")
        result = self.plane.kubectl("get", kind, name, "-n", self.namespace, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        self.plane.kubectl("patch", kind, name, "-n", self.namespace, "--type=merge", "-p", json.dumps(patch))

    def delete(self, kind: str, name: str) -> None:
        self.plane.kubectl("delete", kind, name, "-n", self.namespace, "--wait=false")

    def condition(self, kind: str, name: str, type_: str = "Ready") -> dict[str, Any] | None:
        obj = self.get(kind, name) or {}
        return next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == type_), None)

    def wait_condition(self, kind: str, name: str, type_: str = "Ready", status: str = "True",
                       reason: str | None = None, timeout: float = 90) -> dict[str, Any]:
        """Wait for a condition; for Ready=True also for the current generation to be observed.

        Returns the object as read in the same GET that satisfied the condition.
        """
        last: list[Any] = [None]

        def check() -> dict[str, Any] | None:
            obj = self.get(kind, name) or {}
            found = obj.get("status") or {}
            cond = next((c for c in found.get("conditions", []) if c["type"] == type_), None)
            last[0] = cond
            current = found.get("observedGeneration") == (obj.get("metadata") or {}).get("generation")
            if cond and cond["status"] == status and (reason is None or cond["reason"] == reason) and (
                    status != "True" or type_ != "Ready" or current):
                return obj
            return None
        return eventually(check, timeout, what=lambda: f"{kind}/{name} {type_}={status} {reason or ''}: "  # type: ignore[no-any-return]
                                                       f"last seen {last[0]}")

    def wait_gone(self, kind: str, name: str, timeout: float = 90) -> None:
        eventually(lambda: self.get(kind, name) is None, timeout, what=f"{kind}/{name} deleted")

    def events(self) -> list[dict[str, Any]]:
        return (self.plane.read(f"/api/v1/namespaces/{self.namespace}/events") or {})["items"]  # type: ignore[no-any-return]


def credentials_secret(name: str = "aml-credentials", secret: str = CLIENT_SECRET) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "stringData": {"tenantId": TENANT_ID, "clientId": CLIENT_ID, "clientSecret": secret}}


def workspace(name: str = "ws-ml", secret: str = "aml-credentials", workspace_name: str = "ws-ml") -> dict[str, Any]:
    return {"apiVersion": "azureml.dev/v1alpha1", "kind": "Workspace", "metadata": {"name": name},
            "spec": {"subscriptionId": SUBSCRIPTION_ID, "resourceGroup": "rg-ml", "workspaceName": workspace_name,
                     "credentials": {"secretRef": {"name": secret}}}}


def ready_workspace(kube: Kube) -> None:
    """The default Workspace and its credentials Secret, Ready."""
    kube.apply(credentials_secret(), workspace())
    kube.wait_condition("workspace", "ws-ml")


def compute_cluster(name: str, max_nodes: int = 2, min_nodes: int = 0, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "azureml.dev/v1alpha1", "kind": "ComputeCluster", "metadata": {"name": name},
            "spec": {"workspaceRef": {"name": "ws-ml"}, "vmSize": "Standard_DS3_v2",
                     "scaleSettings": {"minNodeCount": min_nodes, "maxNodeCount": max_nodes}, **spec}}


def compute_instance(name: str, state: str = "Running", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "azureml.dev/v1alpha1", "kind": "ComputeInstance", "metadata": {"name": name},
            "spec": {"workspaceRef": {"name": "ws-ml"}, "vmSize": "Standard_DS3_v2", "state": state, **spec}}


def unique(namespace: str, prefix: str) -> str:
    """An Azure-valid compute name unique to the test (the emulator is shared by the session)."""
    suffix = "".join(c for c in namespace[-6:] if c.isalnum())
    letters = "".join(chr(ord("a") + int(c, 16) % 26) for c in suffix)
    return f"{prefix}-{letters}"[:24]
