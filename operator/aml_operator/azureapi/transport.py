"""One HTTP connection pool and one SSL context for every Azure client and credential of the process.

Given ``connection_verify`` as a CA bundle path, azure-core's aiohttp transport builds a new SSL
context (and so a new certificate store) for every request, and aiohttp cannot reuse a connection
opened under another context: every request opens a TLS connection and hundreds of certificate
stores live at once. Instead the CA bundle is loaded once into the connector of one shared
``aiohttp.ClientSession``; every client and credential gets a transport over that session that does
not own it, so closing a client never closes the pool and the pool is closed once, here.
"""

from __future__ import annotations

import ssl

import aiohttp
from azure.core.pipeline.transport import AioHttpTransport

CONNECTION_LIMIT = 100
"""Connections open at once across all endpoints: what bounds sockets and TLS buffers in memory."""


class SharedHttp:
    def __init__(self, ca_bundle: str | None, connection_limit: int = CONNECTION_LIMIT) -> None:
        self._ca_bundle = ca_bundle
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None

    def _ssl(self) -> ssl.SSLContext | bool:
        if not self._ca_bundle:
            return True  # aiohttp's own default context, itself created once per process
        return ssl.create_default_context(cafile=self._ca_bundle)

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the event loop running at its creation.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl(), limit=self._connection_limit)
            # The settings azure-core uses for a session it owns: proxies from the environment, no
            # cookies, bodies left compressed for the pipeline's own decoding.
            self._session = aiohttp.ClientSession(connector=connector, trust_env=True,
                                                  cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)
        return self._session

    def transport(self) -> AioHttpTransport:
        """A transport over the shared session; closing it leaves the session open."""
        return AioHttpTransport(session=self._open(), session_owner=False)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
