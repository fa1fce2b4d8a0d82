"""Workload identity: a Workspace's Entra identity proven by a ServiceAccount token of its own namespace.

Nothing secret lives here: the identity is (tenant, client, namespace, ServiceAccount). The token is
requested when Entra ID needs an assertion, by the Azure layer, and never leaves it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from aml_operator.api.workspace import Workspace
from aml_operator.reconcile.credentials import ServicePrincipal

TOKEN_AUDIENCE = "api://AzureADTokenExchange"
"""The audience Entra ID expects in a federated token (and every federated credential names)."""


@dataclass(frozen=True, kw_only=True)
class WorkloadIdentity(ServicePrincipal):
    """A service principal that proves itself with a ServiceAccount token instead of a secret."""

    namespace: str
    service_account_name: str

    @property
    def subject(self) -> str:
        """The subject the identity's federated credential must name."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account_name}"

    @property
    def fingerprint(self) -> str:
        # Two namespaces naming the same client id are different credentials: each has its own token.
        digest = hashlib.sha256("\0".join(("workload-identity", self.tenant_id, self.client_id,
                                            self.subject)).encode())
        return digest.hexdigest()[:16]


def workload_identity_of(workspace: Workspace) -> WorkloadIdentity | None:
    """The Workspace's workload identity, always in the Workspace's own namespace; None if it names none."""
    spec = workspace.spec.credentials.workload_identity
    if spec is None:
        return None
    return WorkloadIdentity(tenant_id=spec.tenant_id.lower(), client_id=spec.client_id.lower(),
                            namespace=workspace.metadata.namespace,
                            service_account_name=spec.service_account_name)
