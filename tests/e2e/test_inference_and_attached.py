"""InferenceCluster (AKS created or attached) and AttachedCompute end to end: operator, API server, emulator.

Underlying resources (AKS clusters, VMs, ...) live in the emulator's `/_emulator/resources`, which is
how Delete vs Detach is checked: Delete removes them, Detach leaves them.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    SUBSCRIPTION_ID,
    TENANT_ID,
    Emulator,
    Kube,
    Operator,
    SharedOperator,
    credentials_secret,
    eventually,
    start_emulator,
    unique,
    workspace,
)

pytestmark = pytest.mark.timeout(600)

RG = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-ml/providers"
WAIT = 180  # two cores shared with other test runs: generous, never a timing assertion


@pytest.fixture(scope="module")
def slow_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """AKS creation takes 12 s, so the operator can be killed while it runs."""
    emu = start_emulator(tmp_path_factory.mktemp("slow-aks-emulator"), "spec", "--timing-scale", "4")
    yield emu
    emu.stop()


# -- manifests and emulator helpers ------------------------------------------------------------------------

def inference_cluster(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "azureml.dev/v1alpha1", "kind": "InferenceCluster", "metadata": {"name": name},
            "spec": {"workspaceRef": {"name": "ws-ml"}, **spec}}


def create(agent_count: int = 3, purpose: str = "Production", size: str = "Standard_D3_v2") -> dict[str, Any]:
    return {"location": "northeurope", "agentVmSize": size, "agentCount": agent_count, "purpose": purpose}


def attached_compute(name: str, type_: str, resource_id: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "azureml.dev/v1alpha1", "kind": "AttachedCompute", "metadata": {"name": name},
            "spec": {"workspaceRef": {"name": "ws-ml"}, "type": type_, "resourceId": resource_id, **spec}}


def secret(name: str, type_: str = "Opaque", **string_data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": type_,
            "stringData": string_data}


def tls_secret(name: str, cert: str, key: str) -> dict[str, Any]:
    return secret(name, "kubernetes.io/tls", **{"tls.crt": cert, "tls.key": key})


def add_resource(emulator: Emulator, resource_id: str, **properties: Any) -> None:
    emulator.control("POST", "resources", {"id": resource_id, "location": "westeurope", "properties": properties})


def resource_exists(emulator: Emulator, resource_id: str) -> bool:
    return any(r["id"].lower() == resource_id.lower() for r in emulator.control("GET", "resources")["resources"])


def inner(emulator: Emulator, name: str) -> dict[str, Any]:
    compute = emulator.compute(name)
    assert compute is not None, f"compute {name} in Azure"
    return compute["properties"]["properties"]  # type: ignore[no-any-return]


def list_keys(emulator: Emulator, name: str) -> dict[str, Any]:
    """What Azure ML holds for a compute (listKeys), read the way a user with the service principal would."""
    context = ssl.create_default_context(cafile=emulator.ca_file)
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                   "client_secret": CLIENT_SECRET,
                                   "scope": "https://management.azure.com/.default"}).encode()
    with urllib.request.urlopen(f"{emulator.url}/{TENANT_ID}/oauth2/v2.0/token", data=form,  # noqa: S310
                                context=context, timeout=30) as response:
        token = json.loads(response.read())["access_token"]
    url = (f"{emulator.url}/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-ml/providers/"
           f"Microsoft.MachineLearningServices/workspaces/ws-ml/computes/{name}/listKeys?api-version=2020-08-01")
    request = urllib.request.Request(url, data=b"", method="POST",  # noqa: S310
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, context=context, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())  # type: ignore[no-any-return]


def ready_workspace(kube: Kube) -> None:
    kube.apply(credentials_secret(), workspace())
    kube.wait_condition("workspace", "ws-ml", timeout=WAIT)


def events_of(kube: Kube, name: str) -> list[dict[str, Any]]:
    return [e for e in kube.events() if e["involvedObject"]["name"] == name]


def secret_value(kube: Kube, name: str, key: str) -> str | None:
    found = kube.get("secret", name)
    data = (found or {}).get("data") or {}
    return base64.b64decode(data[key]).decode() if key in data else None


# -- InferenceCluster ----------------------------------------------------------------------------------------

def test_created_cluster_reaches_ready_publishes_its_kubeconfig_and_is_deleted_with_its_aks(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    ready_workspace(kube)
    name = unique(namespace, "aks")
    kubeconfig_secret = f"{name}-kubeconfig"
    kube.apply(inference_cluster(name, create=create(), kubeconfigSecretRef={"name": kubeconfig_secret}))

    obj = kube.wait_condition("inferencecluster", name, timeout=WAIT)
    status = obj["status"]
    assert status["provisioningState"] == "Succeeded"
    assert status["clusterFqdn"].endswith(".hcp.northeurope.azmk8s.io")
    assert status["systemServices"][0]["systemServiceType"] == "ScoringFrontEnd"
    assert status["agentCount"] == 3
    assert status["deletionPolicy"] == "Delete"
    assert status["computeLocation"] == "northeurope"
    props = inner(emulator, name)
    assert props["clusterPurpose"] == "FastProd", "the purpose reaches Azure as clusterPurpose"
    assert (emulator.compute(name) or {})["location"] == "northeurope"
    aks_id = (emulator.compute(name) or {})["properties"]["resourceId"]
    assert resource_exists(emulator, aks_id)

    def kubeconfig_written() -> dict[str, Any] | None:
        found = kube.get("secret", kubeconfig_secret)
        return found if found and "kubeconfig" in (found.get("data") or {}) else None
    written = eventually(kubeconfig_written, WAIT, what="the kubeconfig Secret")
    owners = written["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"], o["uid"]) for o in owners] == [("InferenceCluster", name, obj["metadata"]["uid"])]
    kubeconfig = secret_value(kube, kubeconfig_secret, "kubeconfig") or ""
    assert kubeconfig.startswith("apiVersion: v1") and status["clusterFqdn"] in kubeconfig

    # Drift: a deleted kubeconfig Secret comes back.
    kube.plane.kubectl("delete", "secret", kubeconfig_secret, "-n", namespace)
    eventually(kubeconfig_written, WAIT, what="the kubeconfig Secret written again")

    kube.delete("inferencecluster", name)
    kube.wait_gone("inferencecluster", name, timeout=WAIT)
    assert emulator.compute(name) is None
    assert not resource_exists(emulator, aks_id), "deletionPolicy Delete (the default for create) removes the AKS"
    eventually(lambda: kube.get("secret", kubeconfig_secret) is None, WAIT,
               what="the kubeconfig Secret garbage-collected with its owner")


def test_production_below_twelve_vcpus_is_refused_with_no_write_and_accepted_at_twelve(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    ready_workspace(kube)
    name = unique(namespace, "aks12")
    kube.apply(inference_cluster(name, create=create(agent_count=2)))

    refused = kube.wait_condition("inferencecluster", name, "Stalled", "True", reason="InsufficientVCpus",
                                  timeout=WAIT)
    message = next(c["message"] for c in refused["status"]["conditions"] if c["type"] == "Stalled")
    assert "at least 12 vCPUs" in message and "2 x 4 vCPUs of Standard_D3_v2 is 8" in message
    assert emulator.writes_of(name) == {}
    assert emulator.creates_of(name) == 0
    assert any(e["reason"] == "InsufficientVCpus" for e in events_of(kube, name))

    kube.patch("inferencecluster", name, {"spec": {"create": {"agentCount": 3}}})  # 3 x 4 = exactly 12
    kube.wait_condition("inferencecluster", name, timeout=WAIT)
    assert emulator.creates_of(name) == 1
    assert inner(emulator, name)["agentCount"] == 3


def test_attached_cluster_is_detached_and_the_aks_stays_and_a_missing_one_is_a_clear_condition(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    ready_workspace(kube)
    name, missing = unique(namespace, "aksat"), unique(namespace, "aksno")
    aks_id = f"{RG}/Microsoft.ContainerService/managedClusters/{name}-existing"
    add_resource(emulator, aks_id, agentCount=4, agentVmSize="Standard_D3_v2", fqdn=f"{name}.hcp.example")
    kube.apply(inference_cluster(name, attach={"aksResourceId": aks_id}),
               inference_cluster(missing, attach={"aksResourceId": aks_id.replace("-existing", "-nowhere")}))

    status = kube.wait_condition("inferencecluster", name, timeout=WAIT)["status"]
    assert status["clusterFqdn"] == f"{name}.hcp.example"
    assert status["agentCount"] == 4
    assert status["deletionPolicy"] == "Detach"
    assert (emulator.compute(name) or {})["properties"]["resourceId"].lower() == aks_id.lower()

    refused = kube.wait_condition("inferencecluster", missing, "Stalled", "True", timeout=WAIT)
    message = next(c["message"] for c in refused["status"]["conditions"] if c["type"] == "Ready")
    assert "-nowhere" in message and "not found" in message
    assert emulator.compute(missing) is None

    kube.delete("inferencecluster", name)
    kube.wait_gone("inferencecluster", name, timeout=WAIT)
    assert emulator.compute(name) is None
    assert resource_exists(emulator, aks_id), "deletionPolicy Detach (the default for attach) keeps the AKS"


def test_a_rotated_tls_secret_reaches_azure_without_a_restart(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    ready_workspace(kube)
    name = unique(namespace, "akstls")
    kube.apply(tls_secret("scoring-tls", "CERT-ONE", "KEY-ONE"),
               inference_cluster(name, create=create(agent_count=1, purpose="DevTest"),
                                 ssl={"status": "Enabled", "cname": "ml.example.com",
                                      "certificateSecretRef": {"name": "scoring-tls"}}))
    kube.wait_condition("inferencecluster", name, timeout=WAIT)
    ssl_config = inner(emulator, name)["sslConfiguration"]
    assert (ssl_config["status"], ssl_config["cert"], ssl_config["cname"]) == ("Enabled", "CERT-ONE", "ml.example.com")
    assert inner(emulator, name)["clusterPurpose"] == "DevTest"

    kube.apply(tls_secret("scoring-tls", "CERT-TWO", "KEY-TWO"))
    eventually(lambda: inner(emulator, name)["sslConfiguration"]["cert"] == "CERT-TWO", WAIT,
               what="the new certificate in Azure")
    obj = kube.wait_condition("inferencecluster", name, timeout=WAIT)
    version = kube.get("secret", "scoring-tls")["metadata"]["resourceVersion"]  # type: ignore[index]
    eventually(lambda: (kube.get("inferencecluster", name) or {}).get("status", {}).get(
        "appliedReferenceVersions") == [f"scoring-tls@{version}"], WAIT, what="the applied version in status")
    assert obj["status"]["provisioningState"] == "Succeeded"
    assert emulator.creates_of(name) == 1


def test_killed_during_an_aks_create_resumes_the_same_operation(
        kube: Kube, slow_emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    operator = operator_factory(namespace, slow_emulator)
    ready_workspace(kube)
    name = unique(namespace, "akskill")
    kube.apply(inference_cluster(name, create=create()))

    def creating() -> bool:
        compute = slow_emulator.compute(name)
        return compute is not None and compute["properties"]["provisioningState"] == "Creating"
    eventually(creating, WAIT, interval=0.1, what="the AKS PUT reached Azure")
    operator.stop(kill=True)

    operator.start()
    obj = kube.wait_condition("inferencecluster", name, timeout=WAIT)
    assert obj["status"]["provisioningState"] == "Succeeded"
    assert slow_emulator.creates_of(name) == 1
    assert slow_emulator.writes_of(name).get("PUT") == 1


# -- AttachedCompute -----------------------------------------------------------------------------------------

def test_every_attach_type_round_trips_detaches_and_rotates_credentials(
        kube: Kube, emulator: Emulator, shared_operator: SharedOperator, namespace: str) -> None:
    ready_workspace(kube)
    suffix = unique(namespace, "x")[2:]
    ids = {
        "VirtualMachine": f"{RG}/Microsoft.Compute/virtualMachines/vm-{suffix}",
        "HDInsight": f"{RG}/Microsoft.HDInsight/clusters/hdi-{suffix}",
        "Databricks": f"{RG}/Microsoft.Databricks/workspaces/dbw-{suffix}",
        "DataLakeAnalytics": f"{RG}/Microsoft.DataLakeAnalytics/accounts/dla{suffix}",
        "DataFactory": f"{RG}/Microsoft.DataFactory/factories/adf-{suffix}",
    }
    for resource_id in ids.values():
        add_resource(emulator, resource_id)
    names = {type_: unique(namespace, prefix) for type_, prefix in (
        ("VirtualMachine", "vm"), ("HDInsight", "hdi"), ("Databricks", "dbw"), ("DataLakeAnalytics", "dla"),
        ("DataFactory", "adf"))}
    kube.apply(
        secret("vm-ssh", username="azureuser", privateKey="PRIVATE-KEY-ONE"),
        secret("hdi-ssh", username="sshuser", password="hdi-password-one"),
        secret("dbw-token", accessToken="dapi-token-one"),
        attached_compute(names["VirtualMachine"], "VirtualMachine", ids["VirtualMachine"], address="10.0.0.4",
                         credentialsSecretRef={"name": "vm-ssh"}),
        attached_compute(names["HDInsight"], "HDInsight", ids["HDInsight"], address="hdi.example.net", sshPort=2222,
                         credentialsSecretRef={"name": "hdi-ssh"}),
        attached_compute(names["Databricks"], "Databricks", ids["Databricks"],
                         accessTokenSecretRef={"name": "dbw-token"}),
        attached_compute(names["DataLakeAnalytics"], "DataLakeAnalytics", ids["DataLakeAnalytics"],
                         storeAccountName="adls1"),
        attached_compute(names["DataFactory"], "DataFactory", ids["DataFactory"]),
    )
    for type_, name in names.items():
        kube.wait_condition("attachedcompute", name, timeout=WAIT)
        compute = emulator.compute(name) or {}
        assert compute["properties"]["computeType"] == type_
        assert compute["properties"]["resourceId"].lower() == ids[type_].lower()
    assert inner(emulator, names["HDInsight"])["sshPort"] == 2222
    assert inner(emulator, names["DataLakeAnalytics"])["dataLakeStoreAccountName"] == "adls1"
    assert list_keys(emulator, names["VirtualMachine"])["administratorAccount"]["privateKeyData"] == "PRIVATE-KEY-ONE"
    assert list_keys(emulator, names["Databricks"])["databricksAccessToken"] == "dapi-token-one"
    assert any(e["reason"] == "PasswordCredentials" and e["type"] == "Warning"
               for e in events_of(kube, names["HDInsight"])), "a password gets a warning recommending keys"
    assert not any(e["reason"] == "PasswordCredentials" for e in events_of(kube, names["VirtualMachine"]))

    # Rotation: new Secret values reach the attachment, without a restart.
    kube.apply(secret("vm-ssh", username="azureuser", privateKey="PRIVATE-KEY-TWO"),
               secret("dbw-token", accessToken="dapi-token-two"))
    eventually(lambda: list_keys(emulator, names["VirtualMachine"])["administratorAccount"]["privateKeyData"]
               == "PRIVATE-KEY-TWO", WAIT, what="the rotated SSH key in Azure")
    eventually(lambda: list_keys(emulator, names["Databricks"])["databricksAccessToken"] == "dapi-token-two",
               WAIT, what="the rotated Databricks token in Azure")
    for name in (names["VirtualMachine"], names["Databricks"]):
        kube.wait_condition("attachedcompute", name, timeout=WAIT)
        assert emulator.creates_of(name) == 1

    for name in names.values():
        kube.delete("attachedcompute", name)
    for name in names.values():
        kube.wait_gone("attachedcompute", name, timeout=WAIT)
        assert emulator.compute(name) is None
    for resource_id in ids.values():
        assert resource_exists(emulator, resource_id), "the default Detach keeps the attached resource"


# -- secrets -------------------------------------------------------------------------------------------------

def test_no_secret_value_of_these_kinds_reaches_status_events_or_logs(
        kube: Kube, emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    planted = {
        "tls key": "-----BEGIN PRIVATE KEY-----planted-tls-key-----END PRIVATE KEY-----",
        "ssh key": "-----BEGIN OPENSSH PRIVATE KEY-----planted-ssh-key-----END OPENSSH PRIVATE KEY-----",
        "password": "Planted-HDI-Passw0rd",
        "token": "dapi-planted-databricks-token",
        "rotated password": "Planted-HDI-Passw0rd-2",
    }
    operator = operator_factory(namespace, emulator)
    ready_workspace(kube)
    suffix = unique(namespace, "x")[2:]
    ids = {"vm": f"{RG}/Microsoft.Compute/virtualMachines/leakvm-{suffix}",
           "hdi": f"{RG}/Microsoft.HDInsight/clusters/leakhdi-{suffix}",
           "dbw": f"{RG}/Microsoft.Databricks/workspaces/leakdbw-{suffix}"}
    for resource_id in ids.values():
        add_resource(emulator, resource_id)
    aks, kubeconfig_secret = unique(namespace, "leak"), "leak-kubeconfig"
    kube.apply(
        tls_secret("leak-tls", "PUBLIC-CERT", planted["tls key"]),
        secret("leak-ssh", username="azureuser", privateKey=planted["ssh key"]),
        secret("leak-password", username="sshuser", password=planted["password"]),
        secret("leak-token", accessToken=planted["token"]),
        inference_cluster(aks, create=create(agent_count=1, purpose="DevTest"),
                          ssl={"status": "Enabled", "cname": "ml.example.com",
                               "certificateSecretRef": {"name": "leak-tls"}},
                          kubeconfigSecretRef={"name": kubeconfig_secret}),
        attached_compute(unique(namespace, "leakvm"), "VirtualMachine", ids["vm"], address="10.0.0.9",
                         credentialsSecretRef={"name": "leak-ssh"}),
        attached_compute(unique(namespace, "leakhdi"), "HDInsight", ids["hdi"], address="hdi.example.net",
                         credentialsSecretRef={"name": "leak-password"}),
        attached_compute(unique(namespace, "leakdbw"), "Databricks", ids["dbw"],
                         accessTokenSecretRef={"name": "leak-token"}),
    )
    kube.wait_condition("inferencecluster", aks, timeout=WAIT)
    for prefix in ("leakvm", "leakhdi", "leakdbw"):
        kube.wait_condition("attachedcompute", unique(namespace, prefix), timeout=WAIT)
    kubeconfigs = [eventually(lambda: secret_value(kube, kubeconfig_secret, "kubeconfig"), WAIT,
                              what="the kubeconfig Secret")]
    # A rotation sends a secret once more: it must not leak on that path either.
    kube.apply(secret("leak-password", username="sshuser", password=planted["rotated password"]))
    hdi = unique(namespace, "leakhdi")
    eventually(lambda: (kube.get("attachedcompute", hdi) or {}).get("status", {}).get("appliedReferenceVersions")
               == [f"leak-password@{(kube.get('secret', 'leak-password') or {})['metadata']['resourceVersion']}"],
               WAIT, what="the rotated password sent")
    kube.wait_condition("attachedcompute", hdi, timeout=WAIT)
    kubeconfigs.append(secret_value(kube, kubeconfig_secret, "kubeconfig"))
    operator.stop()

    objects = kube.plane.kubectl("get", "inferenceclusters,attachedcomputes", "-n", namespace, "-o", "json").stdout
    statuses = json.dumps([item.get("status") for item in json.loads(objects)["items"]])
    events = json.dumps(kube.events())
    logs = operator.output()
    assert "Request URL" in logs, "the log is verbose enough to have shown a secret if one leaked"
    assert "listKeys" in logs, "the kubeconfig was read from Azure during this run"
    tokens = [line.split("token:", 1)[1].strip() for config in kubeconfigs if config
              for line in config.splitlines() if "token:" in line]
    assert tokens
    for what, value in [*planted.items(), *(("kubeconfig token", t) for t in tokens)]:
        assert value not in statuses, f"{what} in a status"
        assert value not in events, f"{what} in an event"
        assert value not in logs, f"{what} in the operator log"
        assert base64.b64encode(value.encode()).decode() not in logs, f"{what} (base64, as in a Secret) in the log"
