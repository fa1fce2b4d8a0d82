"""The Secret store against the real kube-apiserver: one GET per referenced Secret, then one per refresh
interval however many objects ask; a change announced to subscribers; our own writes never announced."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

from aml_operator.kube.client import SecretsApi
from aml_operator.kube.secrets import REFRESH_BUDGET_PER_MINUTE, OwnerRef, SecretStore
from controlplane import ControlPlane

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from apiserver_metrics import request_totals, since

REFRESH = 0.5


@pytest.fixture
def kube_client(control_plane: ControlPlane) -> None:
    config.load_kube_config(config_file=str(control_plane.kubeconfig))  # type: ignore[no-untyped-call]


def _apply_secret(plane: ControlPlane, namespace: str, name: str, **data: str) -> None:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "stringData": data}
    plane.kubectl("apply", "-f", "-", input=json.dumps(body))


class Announcements:
    """What ``on_change`` told, and an event to wait on it."""

    def __init__(self, store: SecretStore) -> None:
        self.seen: list[tuple[str, str]] = []
        self._event = asyncio.Event()
        store.on_change(self)

    def __call__(self, namespace: str, name: str) -> None:
        self.seen.append((namespace, name))
        self._event.set()

    async def wait_for(self, *keys: tuple[str, str]) -> None:
        async with asyncio.timeout(30):
            while not set(keys) <= set(self.seen):
                await self._event.wait()
                self._event.clear()


async def test_many_readers_cost_one_get_per_secret_and_changes_are_announced(
        control_plane: ControlPlane, namespace: str, kube_client: None) -> None:
    _apply_secret(control_plane, namespace, "creds", clientSecret="one")
    store = SecretStore(refresh_interval=REFRESH)
    secrets = SecretsApi(store)
    changes = Announcements(store)
    try:
        before = request_totals(control_plane)
        results = await asyncio.gather(*(secrets.read(namespace, "creds") for _ in range(200)),
                                       store.read(namespace, "absent"))
        assert all(r == {"clientSecret": "one"} for r in results[:200])
        assert results[200] is None
        gets = since(before, request_totals(control_plane))[("GET", "secrets")]
        # 200 concurrent readers of one Secret plus one absent Secret: two GETs, maybe a refresh round more.
        assert 2 <= gets <= 4, gets

        _apply_secret(control_plane, namespace, "creds", clientSecret="two")
        _apply_secret(control_plane, namespace, "absent", clientSecret="now-here")
        await changes.wait_for((namespace, "creds"), (namespace, "absent"))
        assert await secrets.read(namespace, "creds") == {"clientSecret": "two"}
        stored = await store.read(namespace, "absent")
        assert stored is not None and stored.data == {"clientSecret": "now-here"}

        control_plane.kubectl("delete", "secret", "creds", "-n", namespace)
        changes.seen.clear()
        await changes.wait_for((namespace, "creds"))
        assert await store.read(namespace, "creds") is None
    finally:
        await store.close()


async def test_own_writes_are_remembered_without_a_read_or_an_announcement(
        control_plane: ControlPlane, namespace: str, kube_client: None) -> None:
    store = SecretStore(refresh_interval=REFRESH)
    changes = Announcements(store)
    cm = client.CoreV1Api().create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner")))
    owner = OwnerRef("v1", "ConfigMap", "owner", str(cm.metadata.uid))
    try:
        assert await store.read(namespace, "kubeconfig") is None
        await store.write(namespace, "kubeconfig", {"value": "v1"}, {"note": "first"}, owner, None)
        written = await store.read(namespace, "kubeconfig")
        assert written is not None and written.data == {"value": "v1"} and written.owner_uids == (owner.uid,)
        await store.write(namespace, "kubeconfig", {"value": "v2"}, {}, owner, written)
        rewritten = await store.read(namespace, "kubeconfig")
        assert rewritten is not None and rewritten.data == {"value": "v2"}
        assert rewritten.resource_version != written.resource_version
        on_server = client.CoreV1Api().read_namespaced_secret("kubeconfig", namespace)
        assert base64.b64decode(on_server.data["value"]) == b"v2"
        assert on_server.metadata.resource_version == rewritten.resource_version
        await asyncio.sleep(3 * REFRESH)  # refresh rounds see the version we wrote: nothing to announce
        assert changes.seen == []
    finally:
        await store.close()


async def test_the_refresh_interval_stretches_to_keep_within_the_budget(
        control_plane: ControlPlane, namespace: str, kube_client: None) -> None:
    store = SecretStore(refresh_interval=15.0)
    try:
        assert await store.read(namespace, "absent-0") is None
        assert store.interval() == 15.0
        # A hundred objects with a Secret of their own.
        await asyncio.gather(*(store.read(namespace, f"absent-{i}") for i in range(100)))
        assert store.interval() == 100 * 60.0 / REFRESH_BUDGET_PER_MINUTE
    finally:
        await store.close()
