"""Helpers for tests: run an emulator in-process (async or on a thread) or as a subprocess, and build
real azure-identity credentials and SDK clients pointed at it.

The Azure SDK imports stay inside functions: the emulator itself never needs the SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .app import Emulator
from .config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_LOCATION,
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_TENANT_ID,
    DEFAULT_WORKSPACE,
    EmulatorConfig,
    build_config,
)
from .server import READY_PREFIX, serve

ARM_SCOPE = "https://management.azure.com/.default"
# Retry-After the test launchers ask for: clients poll every second instead of Azure's silent 30 s default.
FAST_POLLING_SECONDS = 1


@dataclass
class RunningEmulator:
    """Where a running emulator is and how to talk to it."""

    url: str
    ca_file: str | None
    emulator: Emulator | None = None  # None when it runs in another process
    tenant_id: str = DEFAULT_TENANT_ID
    subscription_id: str = DEFAULT_SUBSCRIPTION_ID
    resource_group: str = DEFAULT_RESOURCE_GROUP
    workspace: str = DEFAULT_WORKSPACE
    location: str = DEFAULT_LOCATION
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    polling_interval: float = 0.05
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def authority(self) -> str:
        return self.url

    @property
    def token_endpoint(self) -> str:
        return f"{self.url}/{self.tenant_id}/oauth2/v2.0/token"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    # -- credentials and clients -------------------------------------------------------------------------
    def credential_kwargs(self) -> dict[str, Any]:
        return {"authority": self.url, "disable_instance_discovery": True, "connection_verify": self.ca_file}

    def credential(
        self,
        *,
        aio: bool = False,
        client_id: str | None = None,
        client_secret: str | None = None,
        tenant_id: str | None = None,
    ) -> Any:
        """A real `ClientSecretCredential` (sync, or `azure.identity.aio` with aio=True) for this emulator."""
        if aio:
            from azure.identity.aio import ClientSecretCredential as AioClientSecretCredential

            return AioClientSecretCredential(
                tenant_id or self.tenant_id,
                client_id or self.client_id,
                client_secret or self.client_secret,
                **self.credential_kwargs(),
            )
        from azure.identity import ClientSecretCredential

        return ClientSecretCredential(
            tenant_id or self.tenant_id,
            client_id or self.client_id,
            client_secret or self.client_secret,
            **self.credential_kwargs(),
        )

    def certificate_credential(
        self, certificate_path: str, *, client_id: str, tenant_id: str | None = None, aio: bool = False
    ) -> Any:
        if aio:
            from azure.identity.aio import CertificateCredential as AioCertificateCredential

            return AioCertificateCredential(
                tenant_id or self.tenant_id, client_id, certificate_path, **self.credential_kwargs()
            )
        from azure.identity import CertificateCredential

        return CertificateCredential(
            tenant_id or self.tenant_id, client_id, certificate_path, **self.credential_kwargs()
        )

    def client_kwargs(self, polling_interval: float | None = None) -> dict[str, Any]:
        return {
            "base_url": self.url,
            "credential_scopes": [ARM_SCOPE],
            "connection_verify": self.ca_file,
            "polling_interval": self.polling_interval if polling_interval is None else polling_interval,
        }

    def client(
        self,
        *,
        aio: bool = False,
        credential: Any = None,
        subscription_id: str | None = None,
        polling_interval: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """A real `MachineLearningServicesMgmtClient` (SDK 1.0.1) pointed at this emulator."""
        options = self.client_kwargs(polling_interval) | kwargs
        if aio:
            from azure.mgmt.machinelearningservices.aio import (
                MachineLearningServicesMgmtClient as AioClient,
            )

            return AioClient(
                credential or self.credential(aio=True), subscription_id or self.subscription_id, **options
            )
        from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient

        return MachineLearningServicesMgmtClient(
            credential or self.credential(), subscription_id or self.subscription_id, **options
        )

    # -- the control surface -----------------------------------------------------------------------------
    def control(self, method: str, path: str, body: Any = None, *, allow_missing: bool = False) -> Any:
        """Call `/_emulator/<path>` synchronously (stdlib only, so it works from any thread or process).

        With `allow_missing`, a 404 answers None instead of raising.
        """
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - our own https URL
            f"{self.url}/_emulator/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        context = self.ssl_context() if self.url.startswith("https") else None
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as error:
            if allow_missing and error.code == 404:
                return None
            raise
        return json.loads(raw) if raw else None

    async def acontrol(self, method: str, path: str, body: Any = None) -> Any:
        return await asyncio.to_thread(self.control, method, path, body)


def _prepare(
    config: EmulatorConfig | dict[str, Any] | None,
    profile: str | None,
    seed: int | None,
    timing_scale: float | None,
    retry_after: int | None,
) -> EmulatorConfig:
    config = build_config(config) if config is None or isinstance(config, dict) else config.model_copy(deep=True)
    if profile is not None:
        config.profile = profile  # type: ignore[assignment]
    if seed is not None:
        config.seed = seed
    if timing_scale is not None:
        config.timing.scale = timing_scale
    if retry_after is not None:
        config.lro.retry_after_seconds = retry_after
    return config


@contextlib.asynccontextmanager
async def run_emulator(
    config: EmulatorConfig | dict[str, Any] | None = None,
    profile: str | None = None,
    seed: int | None = 0,
    *,
    state_path: Path | str | None = None,
    ca_file: Path | str | None = None,
    timing_scale: float | None = None,
    retry_after: int | None = FAST_POLLING_SECONDS,
    polling_interval: float = 0.05,
) -> AsyncIterator[RunningEmulator]:
    """Serve an emulator on 127.0.0.1 (random port, https) on the running event loop.

    The profile is the configuration's (live unless it says otherwise); `retry_after` turns on the
    faster-than-Azure polling tests want (None keeps the configuration's setting).
    """
    prepared = _prepare(config, profile, seed, timing_scale, retry_after)
    served = await serve(
        prepared,
        state_path=Path(state_path) if state_path else None,
        ca_file=Path(ca_file) if ca_file else None,
    )
    try:
        yield RunningEmulator(
            url=served.url,
            ca_file=str(served.ca_file) if served.ca_file else None,
            emulator=served.emulator,
            polling_interval=polling_interval,
        )
    finally:
        await served.close()


@contextlib.contextmanager
def run_emulator_in_thread(
    config: EmulatorConfig | dict[str, Any] | None = None,
    profile: str | None = None,
    seed: int | None = 0,
    **kwargs: Any,
) -> Iterator[RunningEmulator]:
    """The same, on a private event loop in a thread: for synchronous code (the sync SDK blocks its loop)."""
    loop = asyncio.new_event_loop()
    ready: list[RunningEmulator] = []
    failure: list[BaseException] = []
    started = threading.Event()
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        try:
            async with run_emulator(config, profile, seed, **kwargs) as running:
                ready.append(running)
                started.set()
                await stop.wait()
        except BaseException as exc:  # surfaced to the caller below
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="aml-emulator", daemon=True)
    thread.start()
    started.wait(60)
    if failure or not ready:
        raise RuntimeError("the emulator did not start") from (failure[0] if failure else None)
    try:
        yield ready[0]
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


@dataclass
class EmulatorProcess:
    """`aml-emulator` in a process of its own: the one way tests, benchmarks and the e2e harness start it."""

    process: subprocess.Popen[str]
    info: RunningEmulator
    log: Path | None = None
    """Where its stderr (its request log) goes; None: inherited."""

    @property
    def url(self) -> str:
        return self.info.url

    @property
    def ca_file(self) -> str:
        assert self.info.ca_file is not None, "an --insecure-http emulator has no CA"
        return self.info.ca_file

    def control(self, method: str, path: str, body: Any = None, *, allow_missing: bool = False) -> Any:
        return self.info.control(method, path, body, allow_missing=allow_missing)

    def stop(self, timeout: float = 10) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def start_emulator_process(
    args: list[str] | None = None,
    *,
    timeout: float = 60,
    retry_after: int | None = FAST_POLLING_SECONDS,
    log: Path | None = None,
) -> EmulatorProcess:
    """Run `python -m aml_emulator --port 0 [--retry-after N] ...` and wait for its readiness line.

    `retry_after` turns on the faster-than-Azure polling (None keeps the configuration's setting);
    `log` receives its stderr. It runs in a session of its own, so a signal meant for the test run
    does not stop it halfway through a fixture's teardown.
    """
    command = [sys.executable, "-m", "aml_emulator", "--port", "0"]
    if retry_after is not None:
        command += ["--retry-after", str(retry_after)]
    command += args or []
    env = dict(os.environ)
    source_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH", "")) if p)
    with contextlib.ExitStack() as stack:
        stderr = stack.enter_context(log.open("w")) if log is not None else None
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith(READY_PREFIX):
            info = json.loads(line[len(READY_PREFIX) :])
            # Keep draining stdout so the child never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
            return EmulatorProcess(process, RunningEmulator(url=info["url"], ca_file=info["ca_file"]), log)
    process.kill()
    process.wait()
    detail = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
    raise RuntimeError(f"aml-emulator did not become ready (exit code {process.poll()})\n{detail}")
