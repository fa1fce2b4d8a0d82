"""The Kubernetes API client the operator uses outside kopf (Secrets, cluster identity)."""

from __future__ import annotations

from collections.abc import Mapping

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from aml_operator.kube.secrets import SecretStore


def load_config() -> None:
    """In a Pod, the service account; elsewhere, KUBECONFIG (the same rule kopf follows)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]


class SecretsApi:
    """Decoded data of Secrets, as ``store`` remembers them (one store per process shares the reads)."""

    def __init__(self, store: SecretStore) -> None:
        self.store = store

    async def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """Decoded Secret data, or None when the Secret does not exist."""
        secret = await self.store.read(namespace, name)
        return secret.data if secret is not None else None

    __call__ = read


def cluster_uid() -> str | None:
    """The uid of the kube-system namespace: stable for the life of a cluster, unique across clusters."""
    try:
        namespace = client.CoreV1Api().read_namespace("kube-system")
    except ApiException:
        return None
    return str(namespace.metadata.uid) if namespace.metadata and namespace.metadata.uid else None
