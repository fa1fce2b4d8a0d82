"""Start and stop a local Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager.

The binaries come from ``build.sh`` (built from Go modules, linked into ``<repo>/.local/bin``). This is
what controller-runtime's envtest gives Go operators: a real API server with real CRD validation,
RBAC, status subresources, finalizers and watches; no kubelet, so Pods never run.

Used two ways:
  * as a library by the pytest session fixture (``tests/conftest.py``), one instance per test run;
  * as a script by ``make up`` / ``make down``:  ``python tests/controlplane/controlplane.py up|down|env``.

Every process starts in its own process group; their pids (with the kernel's start time, so a recycled
pid is never mistaken for ours) are kept in ``state.json`` so ``down`` kills exactly what ``up`` started.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import ipaddress
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = REPO / ".local" / "bin"
DEFAULT_WORKDIR = REPO / ".local" / "controlplane"
DEFAULT_KUBECONFIG = REPO / ".local" / "kubeconfig"

ADMIN_USER = "admin"
TEST_USER = "tester"
"""An unprivileged user: authenticated, but RBAC grants it nothing until a test binds a role to it."""

SERVICE_CIDR = "10.0.0.0/24"
START_TIMEOUT = 120.0


class ControlPlaneError(RuntimeError):
    pass


# --- small utilities ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_start_time(pid: int) -> str | None:
    """The kernel's start time of a pid (field 22 of /proc/<pid>/stat), None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after the last ')' is well-formed.
    return stat.rsplit(")", 1)[1].split()[19]


def _wait_http(url: str, *, timeout: float, token: str | None = None,
               context: ssl.SSLContext | None = None, alive: ManagedProcess | None = None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if alive is not None and not alive.running():
            raise ControlPlaneError(f"{alive.name} exited early; see {alive.log}:\n{alive.log_tail()}")
        try:
            request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback URL built here
            with urllib.request.urlopen(request, context=context, timeout=3) as response:  # noqa: S310
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.25)
    detail = f"; see {alive.log}:\n{alive.log_tail()}" if alive else ""
    raise ControlPlaneError(f"{url} not ready after {timeout:.0f}s ({last_error}){detail}")


# --- certificates ---------------------------------------------------------------------------------


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_pki(pki: Path) -> None:
    """A throwaway CA, the API server's serving certificate and the service-account signing key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    valid = (now - dt.timedelta(hours=1), now + dt.timedelta(days=365))

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "azureml-compute-operator test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki / "ca.key", ca_key)
    _write_cert(pki / "ca.crt", ca)

    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),  # the `kubernetes` Service's cluster IP
        *(x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default",
                                    "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")),
    ]
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name).public_key(server_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki / "apiserver.key", server_key)
    _write_cert(pki / "apiserver.crt", server)

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pki / "sa.key", sa_key)
    (pki / "sa.pub").write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


# --- processes ------------------------------------------------------------------------------------


@dataclass
class ManagedProcess:
    name: str
    pid: int
    start_time: str
    log: Path

    @classmethod
    def spawn(cls, name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> ManagedProcess:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=env,
            )
        return cls(name=name, pid=proc.pid, start_time=_proc_start_time(proc.pid) or "", log=log)

    def running(self) -> bool:
        started = _proc_start_time(self.pid)
        if started is None or started != self.start_time:
            return False
        with contextlib.suppress(ChildProcessError):
            # Reap it if it is our child and has exited, so a zombie does not look alive.
            if os.waitpid(self.pid, os.WNOHANG)[0] == self.pid:
                return False
        state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the process group, SIGKILL after ``timeout``; only if the pid is still ours."""
        if not self.running():
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not self.running():
                    return
                time.sleep(0.1)
        raise ControlPlaneError(f"{self.name} (pid {self.pid}) did not stop")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# --- the control plane ----------------------------------------------------------------------------


@dataclass
class ControlPlane:
    workdir: Path
    kubeconfig: Path
    bin_dir: Path = BIN_DIR
    etcd_port: int = 0
    apiserver_port: int = 0
    controller_manager_port: int = 0
    admin_token: str = ""
    user_token: str = ""
    processes: list[ManagedProcess] = field(default_factory=list)
    _context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    # -- paths and facts

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "pki" / "ca.crt"

    @property
    def user_kubeconfig(self) -> Path:
        return self.kubeconfig.with_name(self.kubeconfig.name + "-" + TEST_USER)

    @property
    def state_file(self) -> Path:
        return self.workdir / "state.json"

    def binary(self, name: str) -> Path:
        path = self.bin_dir / name
        if not path.exists():
            raise ControlPlaneError(f"{path} is missing: run `make controlplane` (tests/controlplane/build.sh)")
        return path

    # -- lifecycle

    def start(self) -> None:
        if self.state_file.exists():
            previous = ControlPlane.load(self.workdir)
            if previous.running():
                raise ControlPlaneError(f"a control plane from {self.workdir} is already running; stop it first")
            previous.stop()
        for sub in ("etcd", "logs"):
            path = self.workdir / sub
            if path.exists():
                subprocess.run(["rm", "-rf", str(path)], check=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        make_pki(self.workdir / "pki")
        self.etcd_port, self.apiserver_port, self.controller_manager_port = free_port(), free_port(), free_port()
        self.admin_token, self.user_token = secrets.token_hex(24), secrets.token_hex(24)
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(
            f'{self.admin_token},{ADMIN_USER},uid-{ADMIN_USER},"system:masters"\n'
            f'{self.user_token},{TEST_USER},uid-{TEST_USER},"testers"\n'
        )
        tokens.chmod(0o600)
        self.write_kubeconfigs()
        try:
            self._start_etcd()
            self._start_apiserver()
            self._start_controller_manager()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        errors = []
        for proc in reversed(self.processes):
            try:
                proc.stop()
            except ControlPlaneError as exc:
                errors.append(str(exc))
        self.processes.clear()
        self.state_file.unlink(missing_ok=True)
        if errors:
            raise ControlPlaneError("; ".join(errors))

    def running(self) -> bool:
        return bool(self.processes) and all(p.running() for p in self.processes)

    def _spawn(self, name: str, argv: Sequence[str]) -> ManagedProcess:
        # The API server honours proxy variables for webhook calls; loopback must never go through one.
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        proc = ManagedProcess.spawn(name, argv, self.workdir / "logs" / f"{name}.log", env)
        self.processes.append(proc)
        self.save()
        return proc

    def _start_etcd(self) -> None:
        peer = free_port()
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        proc = self._spawn("etcd", [
            str(self.binary("etcd")), "--name=controlplane", f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client_url}", f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=controlplane=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync=true",  # a throwaway test store: durability costs seconds per test run
            "--log-level=warn",
        ])
        _wait_http(f"{client_url}/health", timeout=START_TIMEOUT, alive=proc)

    def _start_apiserver(self) -> None:
        pki = self.workdir / "pki"
        proc = self._spawn("kube-apiserver", [
            str(self.binary("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            # Machines without a default route cannot guess an advertise address.
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.apiserver_port}",
            f"--cert-dir={pki}", f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--v=1",
        ])
        context = ssl.create_default_context(cafile=str(self.ca_file))
        _wait_http(f"{self.server}/readyz", timeout=START_TIMEOUT, token=self.admin_token, context=context, alive=proc)

    def _start_controller_manager(self) -> None:
        pki = self.workdir / "pki"
        proc = self._spawn("kube-controller-manager", [
            str(self.binary("kube-controller-manager")),
            f"--kubeconfig={self.kubeconfig}", f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={self.controller_manager_port}",
            f"--cert-dir={self.workdir / 'kcm-certs'}",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=false",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Namespace deletion, garbage collection and service-account tokens are what tests rely on.
            "--controllers=*",
            "--v=1",
        ])
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # its serving cert is self-signed; /healthz is all we read
        _wait_http(f"https://127.0.0.1:{self.controller_manager_port}/healthz", timeout=START_TIMEOUT,
                   context=insecure, alive=proc)

    # -- kubeconfig and clients

    def write_kubeconfigs(self) -> None:
        ca_data = base64.b64encode(self.ca_file.read_bytes()).decode()
        cluster = {"name": "local", "cluster": {"server": self.server, "certificate-authority-data": ca_data}}

        def config(users: dict[str, str], current: str) -> str:
            return json.dumps({
                "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
                "users": [{"name": u, "user": {"token": t}} for u, t in users.items()],
                "contexts": [{"name": u, "context": {"cluster": "local", "user": u, "namespace": "default"}}
                             for u in users],
                "current-context": current,
            }, indent=2)

        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        for path, text in (
            (self.kubeconfig, config({ADMIN_USER: self.admin_token, TEST_USER: self.user_token}, ADMIN_USER)),
            (self.user_kubeconfig, config({TEST_USER: self.user_token}, TEST_USER)),
        ):
            path.write_text(text)
            path.chmod(0o600)

    def read(self, path: str) -> dict[str, Any] | None:
        """GET ``path`` of the API server as admin, in process: the JSON kubectl would print, None for a 404.

        Waits poll objects many times a second; a kubectl process per look costs ~0.1 s of CPU on a
        machine of two cores, this a few milliseconds."""
        return self.request("GET", path)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """One request to the API server as admin, in process; the answer's JSON, None for a 404."""
        if self._context is None:
            self._context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(f"{self.server}{path}", method=method,  # noqa: S310 - the local API server
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Bearer {self.admin_token}",
                                                  "Accept": "application/json", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=30) as response:  # noqa: S310
                return json.loads(response.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                kubeconfig: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = [str(self.binary("kubectl")), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, argv, result.stdout, result.stderr)
        return result

    # -- persistence of what is running

    def save(self) -> None:
        data = {
            "kubeconfig": str(self.kubeconfig), "bin_dir": str(self.bin_dir),
            "etcd_port": self.etcd_port, "apiserver_port": self.apiserver_port,
            "controller_manager_port": self.controller_manager_port,
            "processes": [{"name": p.name, "pid": p.pid, "start_time": p.start_time, "log": str(p.log)}
                          for p in self.processes],
        }
        self.state_file.write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, workdir: Path) -> ControlPlane:
        data = json.loads((workdir / "state.json").read_text())
        return cls(
            workdir=workdir, kubeconfig=Path(data["kubeconfig"]), bin_dir=Path(data["bin_dir"]),
            etcd_port=data["etcd_port"], apiserver_port=data["apiserver_port"],
            controller_manager_port=data["controller_manager_port"],
            processes=[ManagedProcess(p["name"], p["pid"], p["start_time"], Path(p["log"]))
                       for p in data["processes"]],
        )


@contextlib.contextmanager
def running_control_plane(workdir: Path, kubeconfig: Path | None = None) -> Iterator[ControlPlane]:
    plane = ControlPlane(workdir=workdir, kubeconfig=kubeconfig or workdir / "kubeconfig")
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


# --- command line (make up / make down) -------------------------------------------------------------


def _env_lines(plane: ControlPlane) -> str:
    return (f"export PATH={plane.bin_dir}:$PATH\n"
            f"export KUBECONFIG={plane.kubeconfig}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--kubeconfig", type=Path, default=DEFAULT_KUBECONFIG)
    args = parser.parse_args(argv)
    workdir: Path = args.workdir.resolve()

    if args.command == "up":
        if (workdir / "state.json").exists() and ControlPlane.load(workdir).running():
            plane = ControlPlane.load(workdir)
            print(f"control plane already running at {plane.server}", file=sys.stderr)
        else:
            started = time.monotonic()
            plane = ControlPlane(workdir=workdir, kubeconfig=args.kubeconfig.resolve())
            plane.start()
            print(f"control plane up at {plane.server} in {time.monotonic() - started:.1f}s "
                  f"(logs in {workdir / 'logs'})", file=sys.stderr)
        print("# paste these lines into your shell:", file=sys.stderr)
        print(_env_lines(plane))
        return 0
    if not (workdir / "state.json").exists():
        print("no control plane is running", file=sys.stderr)
        return 0 if args.command == "down" else 1
    plane = ControlPlane.load(workdir)
    if args.command == "down":
        plane.stop()
        print("control plane stopped", file=sys.stderr)
    elif args.command == "status":
        state = "running" if plane.running() else "not running (stale state)"
        print(f"{plane.server}: {state}")
        for proc in plane.processes:
            print(f"  {proc.name:<24} pid {proc.pid:<8} {'up' if proc.running() else 'down'}  {proc.log}")
        return 0 if plane.running() else 1
    else:
        print(_env_lines(plane))
    return 0


if __name__ == "__main__":
    sys.exit(main())
