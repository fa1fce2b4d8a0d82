"""End-to-end harness: the emulator and the operator as subprocesses, kubectl helpers, manifests.

The operator runs exactly as users run it (`aml-operator`), pointed at the emulator through its
settings; each test gets its own namespace and its own operator watching only that namespace.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane import ControlPlane, free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
READY_PREFIX = "AML_EMULATOR_READY "

TENANT_ID = "11111111-1111-1111-1111-111111111111"
SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
CLIENT_ID = "22222222-2222-2222-2222-222222222222"
CLIENT_SECRET = "emulator-secret"


def eventually(check: Callable[[], Any], timeout: float = 60, interval: float = 0.5,
               what: str | Callable[[], str] = "") -> Any:
    """Poll until ``check`` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what() if callable(what) else what or check}")
        time.sleep(interval)


@dataclass
class Emulator:
    process: subprocess.Popen[str]
    url: str
    ca_file: str
    profile: str
    log: Path

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def control(self, method: str, path: str, body: Any = None, allow_missing: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/_emulator/{path}", data=data, method=method,  # noqa: S310
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self._context(), timeout=30) as response:  # noqa: S310
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            if allow_missing and exc.code == 404:
                return None
            raise
        return json.loads(text) if text else None

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

    def compute(self, name: str) -> dict[str, Any] | None:
        """The compute as the emulator stores it (ARM JSON), None when it does not exist."""
        found = self.control("GET", f"computes/{SUBSCRIPTION_ID}/rg-ml/ws-ml/{name}", allow_missing=True)
        return None if found is None else found["resource"]  # type: ignore[no-any-return]

    def change_behind_our_back(self, name: str, merge_patch: dict[str, Any]) -> None:
        """What a user does in the portal: change the compute directly in Azure."""
        self.control("PATCH", f"computes/{SUBSCRIPTION_ID}/rg-ml/ws-ml/{name}", merge_patch)

    def delete_behind_our_back(self, name: str) -> None:
        self.control("DELETE", f"computes/{SUBSCRIPTION_ID}/rg-ml/ws-ml/{name}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def start_emulator(workdir: Path, profile: str = "spec", *extra: str) -> Emulator:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"emulator-{profile}.log"
    ca = workdir / f"ca-{profile}.pem"
    process = subprocess.Popen(
        [str(BIN / "aml-emulator"), "--port", "0", "--ca-file", str(ca), "--profile", profile, *extra],
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True, start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(READY_PREFIX):
        process.kill()
        raise RuntimeError(f"emulator did not start: {line!r}\n{log.read_text()}")
    ready = json.loads(line[len(READY_PREFIX):])
    return Emulator(process, ready["url"], ready["ca_file"], profile, log)




@dataclass
class Operator:
    """``aml-operator`` as a subprocess watching one namespace."""

    namespace: str
    emulator: Emulator
    env: dict[str, str]
    log: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)
    metrics_port: int = field(default_factory=free_port)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            return response.read().decode()  # type: ignore[no-any-return]

    def start(self) -> None:
        log = self.log.with_name(f"{self.log.stem}-{len(self.logs)}.log")
        self.logs.append(log)
        env = {
            **self.env,
            "AML_ARM_ENDPOINT": self.emulator.url, "AML_AUTHORITY_HOST": self.emulator.url,
            "AML_CA_BUNDLE": self.emulator.ca_file, "AML_POLL_INTERVAL": "1", "AML_DRIFT_INTERVAL": "4",
            "AML_CLUSTER_ID": "e2e-cluster", "AML_METRICS_PORT": str(self.metrics_port), **self.extra_env,
        }
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [str(BIN / "aml-operator"), "--namespace", self.namespace,
                 "--liveness", f"http://127.0.0.1:{free_port()}/healthz", "--verbose"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def stop(self, kill: bool = False) -> None:
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


class Kube:
    """kubectl on objects of one namespace, JSON in and out."""

    def __init__(self, plane: ControlPlane, namespace: str) -> None:
        self.plane, self.namespace = plane, namespace

    def apply(self, *objects: dict[str, Any]) -> None:
        for obj in objects:
            self.plane.kubectl("apply", "-n", self.namespace, "-f", "-", input=json.dumps(obj))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
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
        out = self.plane.kubectl("get", "events", "-n", self.namespace, "-o", "json").stdout
        return json.loads(out)["items"]  # type: ignore[no-any-return]


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
