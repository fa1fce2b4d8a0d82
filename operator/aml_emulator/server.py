"""Serving an Emulator on a socket, with TLS unless asked not to."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .app import Emulator
from .config import EmulatorConfig
from .tls import make_tls

READY_PREFIX = "AML_EMULATOR_READY "


@dataclass
class Served:
    emulator: Emulator
    runner: web.AppRunner
    url: str
    host: str
    port: int
    ca_file: Path | None

    async def close(self) -> None:
        await self.runner.cleanup()
        self.emulator.store.save()


async def serve(
    config: EmulatorConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_path: Path | None = None,
    ca_file: Path | None = None,
    insecure_http: bool = False,
    access_log: bool = False,
) -> Served:
    emulator = Emulator(config, state_path)
    ssl_context = None
    if not insecure_http:
        tls = make_tls(ca_file, [host, *config.tls.extra_names])
        ca_file, ssl_context = tls.ca_file, tls.server_context
    else:
        ca_file = None
    runner = web.AppRunner(
        emulator.build_app(),
        access_log=logging.getLogger("aml_emulator.access") if access_log else None,
        handle_signals=False,
    )
    await runner.setup()
    # Bind the socket ourselves so port 0 yields a known port before anyone connects.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    actual_port = sock.getsockname()[1]
    site = web.SockSite(runner, sock, ssl_context=ssl_context)
    await site.start()
    scheme = "http" if insecure_http else "https"
    url_host = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):  # noqa: S104
        url_host = "127.0.0.1"
    return Served(emulator, runner, f"{scheme}://{url_host}:{actual_port}", host, actual_port, ca_file)
