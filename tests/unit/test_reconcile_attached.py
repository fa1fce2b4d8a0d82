"""InferenceCluster and AttachedCompute drivers in the shared reconcile core, against an in-memory Azure.

One decision per case: what goes to Azure (body, location, resource id, delete action), what is refused
before any write, when a rotated Secret is sent again, and the kubeconfig Secret's refresh rule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_azure import FakeAzure

from aml_operator.api.attached_compute import AttachedCompute
from aml_operator.api.inference_cluster import InferenceCluster
from aml_operator.reconcile.attached_compute import driver_for
from aml_operator.reconcile.computes import ComputeContext, ComputeDriver, delete_compute, reconcile_compute
from aml_operator.reconcile.external import (
    AzureError,
    JsonDict,
    Observation,
    VmSize,
    WorkspaceTarget,
)
from aml_operator.reconcile.inference_cluster import InferenceClusterDriver
from aml_operator.reconcile.kubeconfig import (
    CONTENT_ANNOTATION,
    KUBECONFIG_KEY,
    REFRESHED_ANNOTATION,
    SecretView,
    needs_refresh,
    record_publication,
    sync_kubeconfig,
)
from aml_operator.reconcile.outcome import Event
from aml_operator.reconcile.ownership import Owner
from aml_operator.reconcile.secret_refs import SecretNeed

TARGET = WorkspaceTarget("00000000-0000-0000-0000-000000000000", "rg-ml", "ws-ml")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SIZES = [VmSize("Standard_D3_v2", "standardDv2Family", 4, True), VmSize("Standard_D2_v2", "standardDv2Family", 2, True)]
RG = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml/providers"
AKS_ID = f"{RG}/Microsoft.ContainerService/managedClusters/aks1"
VM_ID = f"{RG}/Microsoft.Compute/virtualMachines/vm1"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----planted-----END OPENSSH PRIVATE KEY-----"


def fake_azure() -> FakeAzure:
    return FakeAzure(sizes=SIZES, long_running=False)


def meta(name: str) -> JsonDict:
    return {"name": name, "namespace": "team-a", "generation": 1, "uid": f"uid-{name}"}


def inference(status: JsonDict | None = None, **spec: Any) -> InferenceCluster:
    return InferenceCluster.model_validate({
        "apiVersion": "azureml.dev/v1alpha1", "kind": "InferenceCluster", "metadata": meta("aks"),
        "spec": {"workspaceRef": {"name": "ws-ml"}, **spec}, "status": status or {}})


def attached(type_: str, resource_id: str, status: JsonDict | None = None, **spec: Any) -> AttachedCompute:
    return AttachedCompute.model_validate({
        "apiVersion": "azureml.dev/v1alpha1", "kind": "AttachedCompute", "metadata": meta("att"),
        "spec": {"workspaceRef": {"name": "ws-ml"}, "type": type_, "resourceId": resource_id, **spec},
        "status": status or {}})


def ctx(azure: FakeAzure, kind: str, secrets: Mapping[str, str] | None = None,
        versions: Mapping[str, str] | None = None) -> ComputeContext:
    return ComputeContext(client=azure, target=TARGET, location="westeurope", now=NOW, poll_interval=5,
                          owner=Owner("cluster-1", "team-a", kind, "aks" if kind == "InferenceCluster" else "att"),
                          secrets=secrets or {}, secret_versions=versions or {})


def ready(status: JsonDict) -> tuple[str, str]:
    found = next(c for c in status["conditions"] if c["type"] == "Ready")
    return found["status"], found["reason"]


async def until_at_rest(obj: Any, driver: ComputeDriver, context: ComputeContext, passes: int = 4) -> JsonDict:
    """Run passes as the handlers would, feeding each status back, until nothing is pending."""
    status: JsonDict = obj.status.to_json()
    for _ in range(passes):
        obj = type(obj).model_validate({**obj.to_json(), "status": status})
        outcome = await reconcile_compute(obj, driver, context)
        status = outcome.status
        if outcome.requeue_after is None:
            break
    return status


CREATE = {"location": "northeurope", "agentVmSize": "Standard_D3_v2", "agentCount": 3, "purpose": "Production"}


# -- InferenceCluster: the 12-vCPU rule ---------------------------------------------------------------------

@pytest.mark.parametrize(("size", "count", "purpose", "refused"), [
    ("Standard_D3_v2", 2, "Production", "2 x 4 vCPUs of Standard_D3_v2 is 8"),
    ("Standard_D2_v2", 5, "Production", "5 x 2 vCPUs of Standard_D2_v2 is 10"),
    ("Standard_D3_v2", 3, "Production", None),   # exactly 12
    ("Standard_D2_v2", 6, "Production", None),   # exactly 12
    ("Standard_D2_v2", 1, "DevTest", None),      # DevTest has no minimum
])
async def test_production_needs_twelve_vcpus_before_any_write(size: str, count: int, purpose: str,
                                                              refused: str | None) -> None:
    azure = fake_azure()
    obj = inference(create={**CREATE, "agentVmSize": size, "agentCount": count, "purpose": purpose})
    outcome = await reconcile_compute(obj, InferenceClusterDriver(), ctx(azure, "InferenceCluster"))
    assert ("vm_sizes", "northeurope") in azure.calls, "checked against the cluster's region"
    assert azure.writes() == []
    if refused:
        assert ready(outcome.status) == ("False", "InsufficientVCpus")
        assert refused in outcome.status["conditions"][0]["message"]
        assert "at least 12 vCPUs" in outcome.status["conditions"][0]["message"]
    else:
        assert outcome.status["lastOperation"]["operationStatus"] == "Pending"


async def test_unknown_agent_size_is_refused_before_any_write() -> None:
    azure = fake_azure()
    obj = inference(create={**CREATE, "agentVmSize": "Standard_Nope"})
    outcome = await reconcile_compute(obj, InferenceClusterDriver(), ctx(azure, "InferenceCluster"))
    assert ready(outcome.status) == ("False", "VmSizeNotAvailable")
    assert azure.writes() == []


# -- InferenceCluster: bodies, status, deletion -------------------------------------------------------------

async def test_create_sends_the_cluster_purpose_and_region_and_reaches_ready() -> None:
    azure = fake_azure()
    azure_status = await until_at_rest(inference(create=CREATE), InferenceClusterDriver(),
                                       ctx(azure, "InferenceCluster"))
    (body,) = azure.bodies
    assert body["location"] == "northeurope"
    assert body["properties"]["computeType"] == "AKS"
    assert "resourceId" not in body["properties"]
    assert body["properties"]["properties"] == {"agentCount": 3, "agentVmSize": "Standard_D3_v2",
                                                "clusterPurpose": "FastProd"}
    assert ready(azure_status) == ("True", "Succeeded")
    assert azure_status["deletionPolicy"] == "Delete"
    assert azure_status["agentCount"] == 3


async def test_devtest_purpose_reaches_azure_as_devtest() -> None:
    azure = fake_azure()
    await until_at_rest(inference(create={**CREATE, "purpose": "DevTest", "agentCount": 1}),
                        InferenceClusterDriver(), ctx(azure, "InferenceCluster"))
    assert azure.bodies[0]["properties"]["properties"]["clusterPurpose"] == "DevTest"


async def test_attach_sends_the_aks_id_without_prechecks_and_detaches_by_default() -> None:
    azure = fake_azure()
    obj = inference(attach={"aksResourceId": AKS_ID})
    status = await until_at_rest(obj, InferenceClusterDriver(), ctx(azure, "InferenceCluster"))
    assert not [c for c in azure.calls if c[0] == "vm_sizes"]
    (body,) = azure.bodies
    assert body["properties"]["resourceId"] == AKS_ID
    assert body["location"] == "westeurope"
    assert status["deletionPolicy"] == "Detach"
    obj = InferenceCluster.model_validate({**obj.to_json(), "status": status})
    await delete_compute(obj, InferenceClusterDriver(), ctx(azure, "InferenceCluster"))
    assert ("delete", "aks", "Detach") in azure.calls


async def test_created_cluster_is_deleted_with_its_aks_by_default() -> None:
    azure = fake_azure()
    obj = inference(create=CREATE)
    status = await until_at_rest(obj, InferenceClusterDriver(), ctx(azure, "InferenceCluster"))
    obj = InferenceCluster.model_validate({**obj.to_json(), "status": status})
    await delete_compute(obj, InferenceClusterDriver(), ctx(azure, "InferenceCluster"))
    assert ("delete", "aks", "Delete") in azure.calls


async def test_attach_refused_by_azure_surfaces_as_a_condition() -> None:
    azure = fake_azure()
    azure.fail = AzureError("InvalidResourceReference", 400, "InvalidResourceReference", False,
                            f"The resource '{AKS_ID}' referenced by property 'properties.resourceId' was not found.")
    status = await until_at_rest(inference(attach={"aksResourceId": AKS_ID}), InferenceClusterDriver(),
                                 ctx(azure, "InferenceCluster"))
    assert ready(status) == ("False", "InvalidResourceReference")
    assert "was not found" in status["conditions"][0]["message"]


async def test_attaching_another_cluster_than_azure_has_is_refused_as_immutable() -> None:
    azure = fake_azure()
    obj = inference(attach={"aksResourceId": AKS_ID})
    status = await until_at_rest(obj, InferenceClusterDriver(), ctx(azure, "InferenceCluster"))
    azure.computes["aks"]["properties"]["resourceId"] = AKS_ID.replace("aks1", "aks2")
    obj = InferenceCluster.model_validate({**obj.to_json(), "status": status})
    outcome = await reconcile_compute(obj, InferenceClusterDriver(), ctx(azure, "InferenceCluster"))
    assert ready(outcome.status) == ("False", "ImmutableFieldChanged")


SSL = {"status": "Enabled", "cname": "ml.example.com", "certificateSecretRef": {"name": "tls"}}
TLS = {"tls.crt": "CERT-1", "tls.key": "KEY-planted-1"}


async def test_ssl_certificate_goes_to_azure_and_only_its_version_to_status() -> None:
    azure = fake_azure()
    driver = InferenceClusterDriver()
    obj = inference(create=CREATE, ssl=SSL)
    (need,) = driver.secret_needs(obj)
    assert need.keys == ("tls.crt", "tls.key")
    assert need.missing(TLS, "Opaque") == ("Secret 'tls' (spec.ssl.certificateSecretRef) has type 'Opaque', "
                                            "not 'kubernetes.io/tls'")
    assert need.missing(TLS, "kubernetes.io/tls") is None
    status = await until_at_rest(obj, driver, ctx(azure, "InferenceCluster", TLS, {"tls": "100"}))
    ssl = azure.bodies[0]["properties"]["properties"]["sslConfiguration"]
    assert ssl == {"status": "Enabled", "cert": "CERT-1", "key": "KEY-planted-1", "cname": "ml.example.com"}
    assert status["appliedReferenceVersions"] == ["tls@100"]
    assert "KEY-planted-1" not in json.dumps(status)


async def test_a_rotated_tls_secret_is_sent_again_even_on_a_drift_pass() -> None:
    azure = fake_azure()
    driver = InferenceClusterDriver()
    obj = inference(create=CREATE, ssl=SSL)
    status = await until_at_rest(obj, driver, ctx(azure, "InferenceCluster", TLS, {"tls": "100"}))
    obj = InferenceCluster.model_validate({**obj.to_json(), "status": status})

    unchanged = ctx(azure, "InferenceCluster", TLS, {"tls": "100"})
    unchanged.observed, unchanged.observed_given = Observation("aks", azure.computes["aks"]), True
    await reconcile_compute(obj, driver, unchanged)
    assert len(azure.bodies) == 1, "same version: nothing to send"

    rotated = ctx(azure, "InferenceCluster", {"tls.crt": "CERT-2", "tls.key": "KEY-2"}, {"tls": "101"})
    rotated.observed, rotated.observed_given = Observation("aks", azure.computes["aks"]), True
    outcome = await reconcile_compute(obj, driver, rotated)
    assert azure.bodies[-1]["properties"]["properties"]["sslConfiguration"]["cert"] == "CERT-2"
    assert outcome.status["appliedReferenceVersions"] == ["tls@101"]
    assert "a referenced Secret changed" in outcome.events[-1].message


async def test_agent_count_change_is_a_put_and_agent_size_change_is_refused() -> None:
    azure = fake_azure()
    driver = InferenceClusterDriver()
    obj = inference(create=CREATE)
    status = await until_at_rest(obj, driver, ctx(azure, "InferenceCluster"))
    more = inference(status, create={**CREATE, "agentCount": 4})
    await reconcile_compute(more, driver, ctx(azure, "InferenceCluster"))
    assert azure.bodies[-1]["properties"]["properties"]["agentCount"] == 4
    bigger = inference(status, create={**CREATE, "agentVmSize": "Standard_D2_v2", "agentCount": 4})
    outcome = await reconcile_compute(bigger, driver, ctx(azure, "InferenceCluster"))
    assert ready(outcome.status) == ("False", "ImmutableFieldChanged")


# -- AttachedCompute ----------------------------------------------------------------------------------------

ATTACH_CASES: list[tuple[str, str, JsonDict, dict[str, str], JsonDict]] = [
    ("VirtualMachine", VM_ID, {"address": "10.0.0.4", "credentialsSecretRef": {"name": "ssh"}},
     {"username": "azureuser", "privateKey": KEY},
     {"address": "10.0.0.4", "sshPort": 22, "administratorAccount": {"username": "azureuser", "privateKeyData": KEY}}),
    ("HDInsight", f"{RG}/Microsoft.HDInsight/clusters/hdi1",
     {"address": "hdi1-ssh.azurehdinsight.net", "sshPort": 2222, "credentialsSecretRef": {"name": "ssh"}},
     {"username": "sshuser", "password": "pw-planted"},
     {"address": "hdi1-ssh.azurehdinsight.net", "sshPort": 2222,
      "administratorAccount": {"username": "sshuser", "password": "pw-planted"}}),
    ("Databricks", f"{RG}/Microsoft.Databricks/workspaces/dbw1", {"accessTokenSecretRef": {"name": "dbw"}},
     {"accessToken": "dapi-planted"}, {"databricksAccessToken": "dapi-planted"}),
    ("DataLakeAnalytics", f"{RG}/Microsoft.DataLakeAnalytics/accounts/dla1", {"storeAccountName": "adls1"}, {},
     {"dataLakeStoreAccountName": "adls1"}),
    ("DataFactory", f"{RG}/Microsoft.DataFactory/factories/adf1", {}, {}, {}),
]


@pytest.mark.parametrize(("type_", "resource_id", "spec", "secrets", "properties"), ATTACH_CASES,
                         ids=[case[0] for case in ATTACH_CASES])
async def test_each_type_attaches_with_its_properties_and_detaches_by_default(
        type_: str, resource_id: str, spec: JsonDict, secrets: dict[str, str], properties: JsonDict) -> None:
    azure = fake_azure()
    obj = attached(type_, resource_id, **spec)
    driver = driver_for(obj)
    status = await until_at_rest(obj, driver, ctx(azure, "AttachedCompute", secrets, {"s": "1"} if secrets else {}))
    (body,) = azure.bodies
    assert body["properties"]["computeType"] == type_
    assert body["properties"]["resourceId"] == resource_id
    assert body["properties"]["properties"] == properties
    assert ready(status) == ("True", "Succeeded")
    for value in secrets.values():
        assert value not in json.dumps(status)
    obj = AttachedCompute.model_validate({**obj.to_json(), "status": status})
    await delete_compute(obj, driver, ctx(azure, "AttachedCompute"))
    assert ("delete", "att", "Detach") in azure.calls


async def test_a_password_gets_a_warning_that_recommends_keys_and_a_key_does_not() -> None:
    for secrets, warned in (({"username": "u", "password": "pw-planted"}, True),
                            ({"username": "u", "privateKey": KEY}, False)):
        azure = fake_azure()
        obj = attached("VirtualMachine", VM_ID, address="vm1.example.com", credentialsSecretRef={"name": "ssh"})
        first = await reconcile_compute(obj, driver_for(obj), ctx(azure, "AttachedCompute", secrets, {"ssh": "1"}))
        obj = AttachedCompute.model_validate({**obj.to_json(), "status": first.status})
        outcome = await reconcile_compute(obj, driver_for(obj), ctx(azure, "AttachedCompute", secrets, {"ssh": "1"}))
        warnings = [e for e in outcome.events if e.reason == "PasswordCredentials"]
        assert bool(warnings) == warned
        assert all("pw-planted" not in e.message for e in outcome.events)


async def test_rotated_credentials_update_the_attachment() -> None:
    azure = fake_azure()
    obj = attached("Databricks", f"{RG}/Microsoft.Databricks/workspaces/dbw1", accessTokenSecretRef={"name": "dbw"})
    driver = driver_for(obj)
    status = await until_at_rest(obj, driver, ctx(azure, "AttachedCompute", {"accessToken": "t1"}, {"dbw": "7"}))
    obj = AttachedCompute.model_validate({**obj.to_json(), "status": status})
    outcome = await reconcile_compute(obj, driver, ctx(azure, "AttachedCompute", {"accessToken": "t2"}, {"dbw": "8"}))
    assert [b["properties"]["properties"]["databricksAccessToken"] for b in azure.bodies] == ["t1", "t2"]
    assert outcome.status["appliedReferenceVersions"] == ["dbw@8"]


async def test_an_address_change_is_sent_with_a_put() -> None:
    azure = fake_azure()
    secrets = {"username": "u", "privateKey": KEY}
    obj = attached("VirtualMachine", VM_ID, address="10.0.0.4", credentialsSecretRef={"name": "ssh"})
    status = await until_at_rest(obj, driver_for(obj), ctx(azure, "AttachedCompute", secrets, {"ssh": "1"}))
    moved = attached("VirtualMachine", VM_ID, status, address="10.0.0.5", credentialsSecretRef={"name": "ssh"})
    outcome = await reconcile_compute(moved, driver_for(moved), ctx(azure, "AttachedCompute", secrets, {"ssh": "1"}))
    assert azure.bodies[-1]["properties"]["properties"]["address"] == "10.0.0.5"
    assert "spec.address changed" in outcome.message


@pytest.mark.parametrize(("data", "problem"), [
    (None, "does not exist"),
    ({"password": "x"}, "has no key 'username'"),
    ({"username": "u"}, "needs one of the keys 'privateKey', 'password'"),
    ({"username": "u", "password": "x"}, None),
])
def test_secret_needs_name_missing_keys_never_values(data: dict[str, str] | None, problem: str | None) -> None:
    need = SecretNeed("ssh", "spec.credentialsSecretRef", ("username",), any_of=("privateKey", "password"))
    message = need.missing(data)
    assert (message is None) == (problem is None)
    if problem:
        assert message is not None and problem in message and "x" not in message.replace("exist", "")


# -- the kubeconfig Secret ----------------------------------------------------------------------------------

class Stored:
    def __init__(self, data: Mapping[str, str], annotations: Mapping[str, str], owner_uids: tuple[str, ...]) -> None:
        self.data, self.annotations, self.owner_uids = data, annotations, owner_uids


def written(kubeconfig: str, at: datetime, owner: str = "uid-aks") -> Stored:
    return Stored({KUBECONFIG_KEY: kubeconfig},
                  {CONTENT_ANNOTATION: hashlib.sha256(kubeconfig.encode()).hexdigest(),
                   REFRESHED_ANNOTATION: at.isoformat()}, (owner,))


@pytest.mark.parametrize(("existing", "refresh"), [
    (None, True),
    (written("cfg", NOW), False),
    (written("cfg", NOW - timedelta(minutes=6)), True),
    (Stored({KUBECONFIG_KEY: "edited"}, written("cfg", NOW).annotations, ("uid-aks",)), True),
])
def test_kubeconfig_is_refreshed_when_absent_edited_or_old(existing: Stored | None, refresh: bool) -> None:
    assert needs_refresh(existing, NOW, timedelta(minutes=5)) is refresh


async def kubeconfig_pass(azure: FakeAzure, existing: Stored | None) -> tuple[list[Any], list[Any]]:
    writes: list[Any] = []

    async def read() -> SecretView | None:
        return existing

    async def write(data: Mapping[str, str], annotations: Mapping[str, str], old: SecretView | None) -> None:
        writes.append((dict(data), dict(annotations)))

    obj = inference(create=CREATE, kubeconfigSecretRef={"name": "aks-kubeconfig"})
    events = await sync_kubeconfig(obj, azure, TARGET, read, write, NOW, timedelta(minutes=5))
    return events, writes


async def test_kubeconfig_written_from_list_keys_when_absent() -> None:
    azure = fake_azure()
    events, writes = await kubeconfig_pass(azure, None)
    assert writes[0][0] == {KUBECONFIG_KEY: azure.keys["userKubeConfig"]}
    assert [e.reason for e in events] == ["KubeconfigWritten"]
    assert all(azure.keys["userKubeConfig"] not in e.message for e in events)


async def test_fresh_kubeconfig_costs_no_azure_call() -> None:
    azure = fake_azure()
    events, writes = await kubeconfig_pass(azure, written("cfg", NOW))
    assert (events, writes) == ([], [])
    assert ("list_keys", "aks") not in azure.calls


async def test_a_secret_the_cluster_does_not_own_is_never_overwritten() -> None:
    azure = fake_azure()
    events, writes = await kubeconfig_pass(azure, written("cfg", NOW - timedelta(days=1), owner="someone-else"))
    assert writes == []
    assert [e.reason for e in events] == ["KubeconfigSecretNotOwned"]


def test_an_unowned_kubeconfig_secret_is_a_condition_and_one_warning_not_one_per_pass() -> None:
    refused = [Event("Warning", "KubeconfigSecretNotOwned", "Secret 'kc' exists and is not owned")]
    status, first = record_publication({"conditions": []}, refused, "kc", 1, NOW)
    again_status, again = record_publication(status, list(refused), "kc", 1, NOW)
    published = next(c for c in again_status["conditions"] if c["type"] == "KubeconfigPublished")
    assert (published["status"], published["reason"]) == ("False", "KubeconfigSecretNotOwned")
    assert [e.reason for e in first] == ["KubeconfigSecretNotOwned"] and again == []
    written = [Event("Normal", "KubeconfigWritten", "wrote the cluster's kubeconfig in Secret 'kc'")]
    fixed_status, fixed = record_publication(again_status, written, "kc", 1, NOW)
    assert next(c for c in fixed_status["conditions"] if c["type"] == "KubeconfigPublished")["status"] == "True"
    assert fixed == written


# -- Kubernetes and SynapseSpark ----------------------------------------------------------------------------
ARC_ID = f"{RG}/Microsoft.Kubernetes/connectedClusters/arc1"
POOL_ID = f"{RG}/Microsoft.Synapse/workspaces/syn1/bigDataPools/pool1"
GPU = {"name": "gpu", "nodeSelector": {"agentpool": "gpu"},
       "resources": {"requests": {"cpu": "4"}, "limits": {"nvidia.com/gpu": "1"}}}


async def test_a_kubernetes_compute_attaches_with_its_instance_types_and_updates_them_in_place() -> None:
    azure = fake_azure()
    obj = attached("Kubernetes", ARC_ID, kubernetesNamespace="azureml", defaultInstanceType="gpu",
                   instanceTypes=[GPU])
    driver = driver_for(obj)
    status = await until_at_rest(obj, driver, ctx(azure, "AttachedCompute"))
    assert ready(status) == ("True", "Succeeded")
    body = azure.bodies[0]
    assert body["properties"]["computeType"] == "Kubernetes" and body["properties"]["resourceId"] == ARC_ID
    assert body["properties"]["properties"] == {
        "namespace": "azureml", "defaultInstanceType": "gpu",
        "instanceTypes": {"gpu": {"nodeSelector": {"agentpool": "gpu"},
                                  "resources": {"requests": {"cpu": "4"}, "limits": {"nvidia.com/gpu": "1"}}}}}
    # Azure renders unset resources as null: that is no difference.
    azure.computes["att"]["properties"]["properties"]["instanceTypes"]["gpu"]["resources"]["requests"]["memory"] = None
    again = await reconcile_compute(type(obj).model_validate({**obj.to_json(), "status": status}), driver,
                                    ctx(azure, "AttachedCompute"))
    assert azure.writes() == [("put", "att")] and ready(again.status) == ("True", "Succeeded")
    assert again.status["instanceTypes"] == ["gpu"] and again.status["namespace"] == "azureml"

    more = attached("Kubernetes", ARC_ID, status=status, kubernetesNamespace="azureml", defaultInstanceType="cpu",
                    instanceTypes=[GPU, {"name": "cpu"}])
    changed = await reconcile_compute(more, driver, ctx(azure, "AttachedCompute"))
    assert azure.writes() == [("put", "att"), ("put", "att")]
    assert "spec.defaultInstanceType, spec.instanceTypes" in changed.message


async def test_a_synapse_spark_pool_attaches_by_its_id_alone_and_detaches() -> None:
    azure = fake_azure()
    obj = attached("SynapseSpark", POOL_ID)
    driver = driver_for(obj)
    status = await until_at_rest(obj, driver, ctx(azure, "AttachedCompute"))
    assert ready(status) == ("True", "Succeeded")
    assert azure.bodies[0]["properties"] == {"computeType": "SynapseSpark", "properties": {}, "resourceId": POOL_ID}
    gone = await delete_compute(type(obj).model_validate({**obj.to_json(), "status": status}), driver,
                                ctx(azure, "AttachedCompute"))
    assert ("delete", "att", "Detach") in azure.calls and gone.status is not None
