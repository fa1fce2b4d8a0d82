"""kopf's connection to the API server, with its number of connections bounded.

kopf's own session opens as many connections as it has requests at once: when hundreds of objects
arrive together (an Argo CD sync), every object's status patch gets its own TLS connection, each with
its read buffers (over 128 KiB). Measured with 1,000 objects applied at once: 310 connections to the
API server at the peak, and a peak RSS of 280 MiB; bounded, 44 connections and 203 MiB. The same
credentials kopf would find (in a Pod the service account, elsewhere KUBECONFIG) are used through a
session whose connector keeps every watch stream its slot plus ``REQUEST_SLOTS`` for everything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import aiohttp
import kopf

from aml_operator.handlers.computes import KINDS

REQUEST_SLOTS = 32
"""Requests other than watches (patches, events, peering keep-alives) at once: at the API server's
tens of milliseconds each, hundreds a second, more than a sync of thousands needs."""
STREAMS_PER_NAMESPACE = len(KINDS) + 2
"""One watch per kind the operator handles (computes and Workspaces) and one of the peering object."""
CLUSTER_STREAMS = 2
"""kopf's own cluster-level watches (custom resource definitions, namespaces)."""
_PLAIN_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def connection_limit(namespaces: Sequence[str]) -> int:
    """Connections kopf may open: a slot for each watch stream and ``REQUEST_SLOTS`` more; 0 (no limit,
    kopf's default) when a namespace is a pattern, whose matches, and so the streams, are not known yet."""
    if any(not _PLAIN_NAME.match(namespace) for namespace in namespaces):
        return 0
    return REQUEST_SLOTS + CLUSTER_STREAMS + STREAMS_PER_NAMESPACE * max(1, len(namespaces))


@kopf.on.login()
async def login(memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> kopf.AiohttpSession | None:
    info = kopf.login_via_client(logger=logger, **kwargs)
    if info is None:
        return None
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connection_limit(memo.watched_namespaces), ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        proxy=info.proxy_url,
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(server=info.server, default_namespace=info.default_namespace,
                               priority=info.priority, expiration=info.expiration, aiohttp_session=session)
