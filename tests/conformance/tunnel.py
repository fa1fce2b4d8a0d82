"""An HTTPS proxy that routes chosen host names to the emulator, for clients that insist on them.

MSAL (under azureml-core) asks login.microsoftonline.com to validate any Entra authority it does not
know before it fetches a token; an offline emulator can only answer that if the name reaches it.
Clients get `HTTPS_PROXY` pointing here and `NO_PROXY` for the emulator's own address, so only the
listed names travel through the tunnel; any other name is refused with 403 instead of leaving the
machine. The emulator's certificate covers the listed names (`tls.extra_names`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


class Tunnel:
    def __init__(self, target_port: int, hosts: frozenset[str]) -> None:
        self.target_port = target_port
        self.hosts = hosts
        self.tunnelled: list[str] = []  # every host:port a client asked for, in order

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readline()).decode("latin-1").split()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        if len(request) < 2 or request[0] != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            writer.close()
            return
        self.tunnelled.append(request[1])
        if request[1].rsplit(":", 1)[0].lower() not in self.hosts:
            writer.write(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


@contextlib.contextmanager
def tunnel_to(target_port: int, hosts: frozenset[str]) -> Iterator[tuple[str, Tunnel]]:
    """(proxy URL, tunnel) on a private event loop in a thread, for as long as the context lasts."""
    loop = asyncio.new_event_loop()
    tunnel = Tunnel(target_port, hosts)
    server = loop.run_until_complete(asyncio.start_server(tunnel.handle, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, name="conformance-tunnel", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", tunnel
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
