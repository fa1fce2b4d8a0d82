"""kopf's session to the API server: the credentials kopf would find, through a bounded connector."""

from __future__ import annotations

import asyncio
import logging

import kopf
import pytest
from kubernetes.config import kube_config

from aml_operator.handlers import login
from controlplane import ControlPlane


def test_every_watch_stream_keeps_a_slot_beside_the_requests() -> None:
    cluster_wide = login.connection_limit(())
    assert cluster_wide == login.REQUEST_SLOTS + login.CLUSTER_STREAMS + login.STREAMS_PER_NAMESPACE
    three = login.connection_limit(("team-a", "team-b", "team-c"))
    assert three - cluster_wide == 2 * login.STREAMS_PER_NAMESPACE


@pytest.mark.parametrize("pattern", ["team-*", "!kube-system", "team-?", "Team-A"])
def test_a_namespace_pattern_leaves_the_connections_unbounded(pattern: str) -> None:
    # kopf watches every namespace a pattern matches, which start-up cannot count.
    assert login.connection_limit(("team-a", pattern)) == 0


def test_the_session_reaches_the_api_server_as_kopf_would(control_plane: ControlPlane,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # The client library reads KUBECONFIG once, at import.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(control_plane.kubeconfig))

    async def use() -> tuple[int, int, str]:
        context = await login.login(memo=kopf.Memo(watched_namespaces=("team-a",)),
                                    logger=logging.getLogger("test"), settings=kopf.OperatorSettings())
        assert context is not None
        session = context.aiohttp_session
        try:
            async with session.get(f"{context.server}/api/v1/namespaces/default") as response:
                body = await response.json()
                return response.status, session.connector.limit, body["metadata"]["name"]
        finally:
            await session.close()

    status, limit, name = asyncio.run(use())
    assert (status, name) == (200, "default")
    assert limit == login.connection_limit(("team-a",))
