"""Workload identity per namespace, on the real control plane: ServiceAccount tokens exchanged with the emulator.

The emulator trusts the local kube-apiserver as an OIDC issuer (its discovery document and keys), the
way an Entra federated credential trusts a cluster's issuer, and knows one identity whose federated
credential names the ServiceAccount ``team-a`` of namespace A only.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from kubernetes import client, config

from aml_operator.azureapi.client_assertion import refusal_message
from aml_operator.kube.service_account_tokens import ServiceAccountToken, ServiceAccountTokenUnavailable
from aml_operator.reconcile.workload_identity import TOKEN_AUDIENCE, WorkloadIdentity
from controlplane import ControlPlane
from harness import SUBSCRIPTION_ID, TENANT_ID, Emulator, Kube, Operator, compute_cluster, start_emulator

pytestmark = pytest.mark.timeout(300)

CLIENT_A = "a0a0a0a0-0000-4000-8000-00000000000a"
CLIENT_OPERATOR = "0b0b0b0b-0000-4000-8000-00000000000b"
OPERATOR_ACCOUNT = "operator-pod"
DISCOVERY_BINDING = "aml-e2e-service-account-issuer-discovery"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


def service_account(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}


def federated_workspace(name: str, client_id: str, service_account_name: str) -> dict[str, Any]:
    return {"apiVersion": "azureml.dev/v1alpha1", "kind": "Workspace", "metadata": {"name": name},
            "spec": {"subscriptionId": SUBSCRIPTION_ID, "resourceGroup": "rg-ml", "workspaceName": "ws-ml",
                     "credentials": {"workloadIdentity": {"clientId": client_id, "tenantId": TENANT_ID,
                                                          "serviceAccountName": service_account_name}}}}


@pytest.fixture
def second_namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = f"wi-other-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def public_issuer(control_plane: ControlPlane) -> Iterator[None]:
    """Entra reads a cluster's issuer anonymously: the Kubernetes way is to bind the discovery role to
    unauthenticated callers (it serves public keys and the discovery document only)."""
    control_plane.kubectl("create", "clusterrolebinding", DISCOVERY_BINDING,
                          "--clusterrole=system:service-account-issuer-discovery", "--group=system:unauthenticated")
    yield
    control_plane.kubectl("delete", "clusterrolebinding", DISCOVERY_BINDING, "--ignore-not-found", check=False)


def federation_emulator(plane: ControlPlane, workdir: Path, namespace: str) -> Emulator:
    config = {
        "principals": [
            {"client_id": CLIENT_A, "federated_credentials": [
                {"issuer": plane.server, "subject": f"system:serviceaccount:{namespace}:team-a"}]},
            {"client_id": CLIENT_OPERATOR, "federated_credentials": [
                {"issuer": plane.server, "subject": f"system:serviceaccount:{namespace}:{OPERATOR_ACCOUNT}"}]},
        ],
        "role_assignments": [{"principal": client_id, "scope": f"/subscriptions/{SUBSCRIPTION_ID}",
                              "role": "Contributor"} for client_id in (CLIENT_A, CLIENT_OPERATOR)],
        "oidc_ca_file": str(plane.ca_file),
    }
    path = workdir / "federation.json"
    path.write_text(json.dumps(config))
    return start_emulator(workdir, "spec", "--config", str(path))


def ready_message(kube: Kube, name: str, reason: str) -> str:
    refused = kube.wait_condition("workspace", name, "Ready", "False", reason=reason)
    return next(str(c["message"]) for c in refused["status"]["conditions"] if c["type"] == "Ready")


def test_each_namespace_reaches_azure_only_as_its_own_service_account(
        control_plane: ControlPlane, namespace: str, second_namespace: str, public_issuer: None,
        operator_factory: Callable[..., Operator], tmp_path: Path) -> None:
    emulator = federation_emulator(control_plane, tmp_path, namespace)
    team_a, team_b = Kube(control_plane, namespace), Kube(control_plane, second_namespace)
    seen: list[str] = []
    try:
        # One operator per namespace, one after the other: the harness gives each test one operator identity.
        # The operator's own workload identity, as a pod's projected token gives it, where the settings allow it.
        team_a.apply(service_account(OPERATOR_ACCOUNT))
        projected = tmp_path / "azure-identity-token"
        projected.write_text(control_plane.kubectl("create", "token", OPERATOR_ACCOUNT, "-n", namespace,
                                                   "--audience=api://AzureADTokenExchange").stdout.strip())
        operator_a = operator_factory(namespace, emulator, AZURE_FEDERATED_TOKEN_FILE=str(projected),
                                      AZURE_CLIENT_ID=CLIENT_OPERATOR, AZURE_TENANT_ID=TENANT_ID,
                                      AML_OPERATOR_IDENTITY_NAMESPACES=namespace)
        own_identity = {"apiVersion": "azureml.dev/v1alpha1", "kind": "Workspace", "metadata": {"name": "own"},
                        "spec": {**federated_workspace("own", CLIENT_A, "team-a")["spec"],
                                 "credentials": {"useOperatorIdentity": True}}}
        team_a.apply(service_account("team-a"), federated_workspace("ws-ml", CLIENT_A, "team-a"), own_identity)
        ready = team_a.wait_condition("workspace", "ws-ml")
        assert ready["status"]["location"] == "westeurope"
        team_a.wait_condition("workspace", "own")
        team_a.apply(compute_cluster("wi-cluster"))
        team_a.wait_condition("computecluster", "wi-cluster", timeout=120)
        assert emulator.compute("wi-cluster") is not None

        # The chart grants serviceaccounts/token in watched namespaces only.
        kubeconfig_a = Path(operator_a.env["KUBECONFIG"])
        own = control_plane.kubectl("create", "token", "team-a", "-n", namespace, "--duration=10m",
                                    "--audience=api://AzureADTokenExchange", kubeconfig=kubeconfig_a)
        assert JWT.fullmatch(own.stdout.strip())
        foreign = control_plane.kubectl("create", "token", "team-b", "-n", second_namespace,
                                        kubeconfig=kubeconfig_a, check=False)
        assert foreign.returncode != 0 and "forbidden" in foreign.stderr.lower()
        operator_a.stop()
        seen.append(operator_a.output())

        operator_b = operator_factory(second_namespace, emulator)
        team_b.apply(service_account("team-b"),
                     federated_workspace("borrowed-account", CLIENT_A, "team-a"),
                     federated_workspace("borrowed-client", CLIENT_A, "team-b"))
        # B cannot borrow A's ServiceAccount: tokens are only requested in the Workspace's own namespace.
        message = ready_message(team_b, "borrowed-account", "CredentialsInvalid")
        assert f"ServiceAccount 'team-a' in namespace {second_namespace} does not exist" in message
        # B cannot borrow A's identity: its own ServiceAccount is not what A's federated credential trusts.
        message = ready_message(team_b, "borrowed-client", "CredentialsInvalid")
        assert "AADSTS70021" in message
        assert f"must trust the subject system:serviceaccount:{second_namespace}:team-b" in message
        operator_b.stop()
        seen.append(operator_b.output())
    finally:
        emulator.stop()
    seen.append(emulator.log.read_text(errors="replace"))
    for kube, names in ((team_a, ("ws-ml", "own")), (team_b, ("borrowed-account", "borrowed-client"))):
        seen.append(json.dumps(kube.events()))
        seen.extend(json.dumps(kube.get("workspace", name)) for name in names)
    assert not any(JWT.search(text) for text in seen), "a token appears in logs, events or status"


def test_service_account_tokens_are_requested_once_and_bound_to_their_account(
        control_plane: ControlPlane, namespace: str) -> None:
    Kube(control_plane, namespace).apply(service_account("trainer"))
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(control_plane.kubeconfig)))
    tokens = ServiceAccountToken(namespace, "trainer", TOKEN_AUDIENCE, lifetime=600, core=core)
    first = tokens.current()
    assert tokens.current() == first and tokens.requests == 1
    claims = jwt.decode(first, options={"verify_signature": False})
    assert claims["sub"] == f"system:serviceaccount:{namespace}:trainer"
    assert claims["aud"] == [TOKEN_AUDIENCE] and claims["iss"] == control_plane.server
    assert first not in repr(tokens)
    missing = ServiceAccountToken(namespace, "nobody", TOKEN_AUDIENCE, core=core)
    with pytest.raises(ServiceAccountTokenUnavailable, match=f"'nobody' in namespace {namespace} does not exist"):
        missing.current()


def test_identities_of_two_namespaces_never_share_a_cache_entry_and_refusals_name_the_subject() -> None:
    def identity(namespace: str) -> WorkloadIdentity:
        return WorkloadIdentity(tenant_id=TENANT_ID, client_id=CLIENT_A, namespace=namespace,
                                service_account_name="team")

    assert identity("a").fingerprint == identity("a").fingerprint != identity("b").fingerprint
    message = refusal_message(identity("b"), "Authentication failed: AADSTS700212: No matching federated identity "
                                             "record found for presented assertion audience 'x'. Trace ID: 1")
    assert message.startswith("Entra ID refused the workload identity (AADSTS700212): no federated credential")
    assert "must trust the subject system:serviceaccount:b:team with audience api://AzureADTokenExchange" in message
