"""Workload identity federation: a ServiceAccount token exchanged with Entra ID as a client assertion.

azure-identity's ``ClientAssertionCredential`` calls a function for the assertion each time it needs a
new access token (it caches those until shortly before they expire). The function returns the
cached ServiceAccount token; the token is refreshed off the event loop just before, so the
TokenRequest never blocks other reconciles. A refusal becomes one line that names Entra's code and
what the federated credential must trust, never the token.
"""

from __future__ import annotations

import os
import re
from typing import Any

from azure.core.credentials import AccessTokenInfo
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ClientAssertionCredential
from azure.identity.aio import WorkloadIdentityCredential as PodWorkloadIdentityCredential

from aml_operator.kube.service_account_tokens import ServiceAccountToken, ServiceAccountTokenUnavailable
from aml_operator.reconcile.workload_identity import TOKEN_AUDIENCE, WorkloadIdentity

POD_IDENTITY_VARIABLES = ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID")
"""What the AKS workload identity webhook (or a chart's projected volume) gives the operator's pod."""
_AADSTS = re.compile(r"AADSTS(\d+)")
_HINTS = {
    "70021": "no federated credential of the identity matches the token",
    "700211": "no federated credential of the identity names the token's issuer",
    "700212": "no federated credential of the identity names the token's audience",
    "700213": "no federated credential of the identity names the token's subject",
    "700024": "the token had expired when Entra ID received it",
    "50027": "Entra ID could not read the token",
    "50013": "the token's signature does not verify against the keys the issuer publishes",
    "50166": "Entra ID could not read the issuer's discovery document or keys (is the issuer URL public?)",
    "700016": "Entra ID does not know the client id in this tenant",
    "90002": "Entra ID does not know the tenant",
}


class ServiceAccountAssertionCredential(ClientAssertionCredential):
    """A Workspace's workload identity: its ServiceAccount's token is the client assertion."""

    def __init__(self, identity: WorkloadIdentity, token: ServiceAccountToken, **kwargs: Any) -> None:
        super().__init__(identity.tenant_id, identity.client_id, token.current, **kwargs)
        self.identity = identity
        self._token = token

    async def _request_token(self, *scopes: str, **kwargs: Any) -> AccessTokenInfo:
        # azure-identity calls the assertion function synchronously; refreshing the token first, in a
        # worker thread, keeps the TokenRequest off the event loop. Only this path needs an assertion.
        try:
            await self._token.refresh()
            return await super()._request_token(*scopes, **kwargs)
        except ServiceAccountTokenUnavailable as exc:
            raise ClientAuthenticationError(message=f"workload identity: {exc}") from None
        except ClientAuthenticationError as exc:
            raise ClientAuthenticationError(message=refusal_message(self.identity, str(exc.message))) from None


def refusal_message(identity: WorkloadIdentity, entra_message: str) -> str:
    """One line: Entra's code, what it means, and the federated credential that would be accepted."""
    match = _AADSTS.search(entra_message)
    code = match.group(1) if match else None
    meaning = _HINTS.get(code or "", "Entra ID refused the token exchange")
    return (f"Entra ID refused the workload identity{f' (AADSTS{code})' if code else ''}: {meaning}. The "
            f"federated credential of client {identity.client_id} must trust the subject {identity.subject} "
            f"with audience {TOKEN_AUDIENCE} and this cluster's service-account issuer")


def build_workload_identity_credential(identity: WorkloadIdentity, **options: Any) -> ServiceAccountAssertionCredential:
    token = ServiceAccountToken(identity.namespace, identity.service_account_name, TOKEN_AUDIENCE)
    return ServiceAccountAssertionCredential(identity, token, **options)


def pod_workload_identity(**options: Any) -> PodWorkloadIdentityCredential | None:
    """The operator pod's own workload identity (its projected token file), None when it has none.

    DefaultAzureCredential would find it too, but sends it to the public cloud's authority whatever its
    ``authority`` says (it reads AZURE_AUTHORITY_HOST only): built here, it follows the operator's cloud
    settings like every other credential.
    """
    if not all(os.environ.get(name) for name in POD_IDENTITY_VARIABLES):
        return None
    return PodWorkloadIdentityCredential(**options)
