"""The Kubernetes API client the operator uses outside kopf (Secrets, cluster identity)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException


def load_config() -> None:
    """In a Pod, the service account; elsewhere, KUBECONFIG (the same rule kopf follows)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]


class SecretsApi:
    def __init__(self) -> None:
        self._core = client.CoreV1Api()

    async def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """Decoded Secret data, or None when the Secret does not exist."""
        try:
            secret = await asyncio.to_thread(self._core.read_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.data or {}).items()}
        data.update(secret.string_data or {})
        return data

    __call__ = read


def cluster_uid() -> str | None:
    """The uid of the kube-system namespace: stable for the life of a cluster, unique across clusters."""
    try:
        namespace = client.CoreV1Api().read_namespace("kube-system")
    except ApiException:
        return None
    return str(namespace.metadata.uid) if namespace.metadata and namespace.metadata.uid else None
