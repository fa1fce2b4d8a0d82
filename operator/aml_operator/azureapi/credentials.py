"""Azure credentials from a service principal, or the operator's own identity (azure-identity, async)."""

from __future__ import annotations

from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.pipeline.transport import AsyncHttpTransport
from azure.identity.aio import CertificateCredential, ClientSecretCredential, DefaultAzureCredential

from aml_operator.azureapi.client_assertion import build_workload_identity_credential, pod_workload_identity
from aml_operator.reconcile.credentials import ServicePrincipal
from aml_operator.reconcile.workload_identity import WorkloadIdentity


def build_credential(principal: ServicePrincipal | None, authority_host: str,
                     transport: AsyncHttpTransport[Any, Any]) -> AsyncTokenCredential:
    """An async azure-identity credential sending through ``transport``; ``None`` means the operator's own identity."""
    # The authority's instance discovery only knows Microsoft's clouds; a custom authority (the
    # emulator, a sovereign cloud) must skip it.
    options: dict[str, Any] = {"authority": authority_host, "disable_instance_discovery": True,
                               "transport": transport}
    if principal is None:
        return pod_workload_identity(**options) or DefaultAzureCredential(**options)
    if isinstance(principal, WorkloadIdentity):
        return build_workload_identity_credential(principal, **options)
    if principal.client_secret is not None:
        return ClientSecretCredential(principal.tenant_id, principal.client_id, principal.client_secret,
                                      **options)
    return CertificateCredential(principal.tenant_id, principal.client_id,
                                 certificate_data=principal.certificate_pem,
                                 password=principal.certificate_password, **options)
