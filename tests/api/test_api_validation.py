"""Bad input is refused by the API server itself, with a message that names the field.

Two tables run against the real kube-apiserver with the generated CRDs installed:
``REFUSED`` (each case is a create, or an update of a valid object, that must fail; the test
asserts on kubectl's error text) and ``ACCEPTED`` (the other side of every boundary, and the
updates of mutable fields, which must pass).
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

# --- valid manifests of every kind, and edits that break them -------------------------------------
SUB = "00000000-0000-0000-0000-000000000000"
PREFIX = f"/subscriptions/{SUB}/resourceGroups/rg-ml/providers"
SUBNET = f"{PREFIX}/Microsoft.Network/virtualNetworks/vnet-ml/subnets/default"
OTHER_SUBNET = f"{PREFIX}/Microsoft.Network/virtualNetworks/vnet-ml/subnets/other"
AKS = f"{PREFIX}/Microsoft.ContainerService/managedClusters/aks-existing"
IDENTITY = f"{PREFIX}/Microsoft.ManagedIdentity/userAssignedIdentities/id-ml"
VM = f"{PREFIX}/Microsoft.Compute/virtualMachines/dsvm-ml"
HDI = f"{PREFIX}/Microsoft.HDInsight/clusters/hdi-ml"
DATABRICKS = f"{PREFIX}/Microsoft.Databricks/workspaces/dbw-ml"
ADLA = f"{PREFIX}/Microsoft.DataLakeAnalytics/accounts/adlaml"
ADF = f"{PREFIX}/Microsoft.DataFactory/factories/adf-ml"
ARC = f"{PREFIX}/Microsoft.Kubernetes/connectedClusters/arc-ml"
SPARK_POOL = f"{PREFIX}/Microsoft.Synapse/workspaces/syn-ml/bigDataPools/pool1"
GPU_TYPE = {"name": "gpu", "nodeSelector": {"agentpool": "gpu"},
            "resources": {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"nvidia.com/gpu": "1"}}}
NETWORKING = {
    "subnetId": SUBNET,
    "serviceCidr": "10.0.0.0/16",
    "dnsServiceIP": "10.0.0.10",
    "dockerBridgeCidr": "172.17.0.1/16",
}
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@example"

WORKLOAD_IDENTITY = {
    "clientId": "22222222-2222-2222-2222-222222222222",
    "tenantId": "11111111-1111-1111-1111-111111111111",
    "serviceAccountName": "ml-team.azure",
}
Manifest = dict[str, Any]
DELETE = object()  # marker for `edit`: remove the key


def _resource(kind: str, name: str, spec: dict[str, Any]) -> Manifest:
    return {"apiVersion": "azureml.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def workspace(name: str = "ws-ml") -> Manifest:
    return _resource(
        "Workspace",
        name,
        {
            "subscriptionId": SUB,
            "resourceGroup": "rg-ml",
            "workspaceName": "ws-ml",
            "credentials": {"secretRef": {"name": "azure-credentials"}},
        },
    )


def compute_cluster(name: str = "cpu-cluster") -> Manifest:
    return _resource(
        "ComputeCluster",
        name,
        {
            "workspaceRef": {"name": "ws-ml"},
            "vmSize": "Standard_DS3_v2",
            "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT120S"},
        },
    )


def compute_instance(name: str = "dev-instance") -> Manifest:
    return _resource("ComputeInstance", name, {"workspaceRef": {"name": "ws-ml"}, "vmSize": "Standard_DS3_v2"})


def inference_create(name: str = "aks-prod") -> Manifest:
    return _resource(
        "InferenceCluster",
        name,
        {"workspaceRef": {"name": "ws-ml"}, "create": {"location": "westeurope", "agentCount": 3}},
    )


def inference_attach(name: str = "aks-att") -> Manifest:
    return _resource("InferenceCluster", name, {"workspaceRef": {"name": "ws-ml"}, "attach": {"aksResourceId": AKS}})


def attached(attach_type: str, name: str = "attached") -> Manifest:
    spec: dict[str, Any] = {"workspaceRef": {"name": "ws-ml"}, "type": attach_type}
    if attach_type in ("VirtualMachine", "HDInsight"):
        spec |= {
            "resourceId": VM if attach_type == "VirtualMachine" else HDI,
            "address": "10.1.2.3",
            "credentialsSecretRef": {"name": "vm-ssh"},
        }
    elif attach_type == "Databricks":
        spec |= {"resourceId": DATABRICKS, "accessTokenSecretRef": {"name": "dbw-token"}}
    elif attach_type == "DataLakeAnalytics":
        spec |= {"resourceId": ADLA, "storeAccountName": "adlsml"}
    elif attach_type == "Kubernetes":
        spec |= {"resourceId": ARC, "kubernetesNamespace": "azureml", "defaultInstanceType": "gpu",
                 "instanceTypes": [GPU_TYPE]}
    elif attach_type == "SynapseSpark":
        spec |= {"resourceId": SPARK_POOL}
    else:
        spec |= {"resourceId": ADF}
    return _resource("AttachedCompute", name, spec)


def edit(manifest: Manifest, **changes: Any) -> Manifest:
    """A copy with dotted paths set (``spec__scaleSettings__minNodeCount=3``) or removed (DELETE)."""
    result = copy.deepcopy(manifest)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = result
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return result


def named(manifest: Manifest, name: str) -> Manifest:
    return edit(manifest, metadata__name=name)


Kubectl = Callable[..., subprocess.CompletedProcess[str]]

IMMUTABLE = "is immutable: delete and recreate the resource to change it"
NAME_RULE = "letters, digits and '-', start with a letter, and have a letter somewhere after every '-'"


@dataclass(frozen=True)
class Case:
    id: str
    manifest: Manifest
    expect: tuple[str, ...] = ()
    before: Manifest | None = None  # applied first (valid); ``manifest`` is then an update of it
    keep_name: bool = False  # the case is about metadata.name itself


def refused(id: str, manifest: Manifest, *expect: str, before: Manifest | None = None, keep_name: bool = False) -> Case:
    assert expect, "a refused case must say what the error names"
    return Case(id, manifest, expect, before, keep_name)


def accepted(id: str, manifest: Manifest, before: Manifest | None = None, keep_name: bool = False) -> Case:
    return Case(id, manifest, (), before, keep_name)


cc, ci, ic, ica = compute_cluster(), compute_instance(), inference_create(), inference_attach()
vm, ws = attached("VirtualMachine"), workspace()

REFUSED = [
    # --- Azure names: spec.computeName, or metadata.name when computeName is absent -----------------
    refused("cc-name-too-short", edit(cc, spec__computeName="ab"), "spec.computeName", "3-24 characters"),
    refused("cc-name-too-long", edit(cc, spec__computeName="a" * 25), "spec.computeName", "24"),
    refused("cc-name-starts-with-digit", edit(cc, spec__computeName="1gpu"), "spec.computeName", NAME_RULE),
    refused("cc-name-no-letter-after-dash", edit(cc, spec__computeName="gpu-1"), "spec.computeName", NAME_RULE),
    refused("cc-name-underscore", edit(cc, spec__computeName="gpu_a"), "spec.computeName", NAME_RULE),
    refused("cc-metadata-name-rule", named(cc, "gpu-1"), "metadata.name", NAME_RULE, keep_name=True),
    refused("ci-metadata-name-too-short", named(ci, "ab"), "metadata.name", "3-24 characters", keep_name=True),
    refused("ci-metadata-name-too-long", named(ci, "a" * 25), "metadata.name", "3-24 characters", keep_name=True),
    refused("ac-metadata-name-too-short", named(vm, "vm"), "metadata.name", "3-24 characters", keep_name=True),
    refused("ic-name-too-short", edit(ic, spec__computeName="a"), "spec.computeName", "2-16 characters"),
    refused("ic-name-too-long", edit(ic, spec__computeName="a" * 17), "spec.computeName", "16"),
    refused("ic-metadata-name-too-long", named(ic, "a" * 17), "metadata.name", "2-16 characters", keep_name=True),
    # --- immutable fields ---------------------------------------------------------------------------
    refused("cc-vmsize-immutable", edit(cc, spec__vmSize="Standard_NC6"), f"spec.vmSize {IMMUTABLE}", before=cc),
    refused(
        "cc-vmpriority-immutable",
        edit(cc, spec__vmPriority="LowPriority"),
        f"spec.vmPriority {IMMUTABLE}",
        before=cc,
    ),
    refused("cc-ostype-immutable", edit(cc, spec__osType="Windows"), f"spec.osType {IMMUTABLE}", before=cc),
    refused("cc-subnet-added", edit(cc, spec__subnetId=SUBNET), f"spec.subnetId {IMMUTABLE}", before=cc),
    refused(
        "cc-subnet-changed",
        edit(cc, spec__subnetId=OTHER_SUBNET),
        f"spec.subnetId {IMMUTABLE}",
        before=edit(cc, spec__subnetId=SUBNET),
    ),
    refused("cc-subnet-removed", cc, f"spec.subnetId {IMMUTABLE}", before=edit(cc, spec__subnetId=SUBNET)),
    refused(
        "cc-computename-changed",
        edit(cc, spec__computeName="other-name"),
        f"spec.computeName {IMMUTABLE}",
        before=edit(cc, spec__computeName="first-name"),
    ),
    refused(
        "cc-computename-added-differs",
        edit(cc, spec__computeName="other-name"),
        f"spec.computeName {IMMUTABLE}",
        before=cc,
    ),
    refused(
        "cc-workspaceref-immutable",
        edit(cc, spec__workspaceRef={"name": "other-ws"}),
        f"spec.workspaceRef {IMMUTABLE}",
        before=cc,
    ),
    refused(
        "ci-ssh-public-access-immutable",
        edit(ci, spec__ssh={"publicAccess": "Enabled", "adminPublicKey": SSH_KEY}),
        f"spec.ssh.publicAccess {IMMUTABLE}",
        before=ci,
    ),
    refused("ci-vmsize-immutable", edit(ci, spec__vmSize="Standard_NC6"), f"spec.vmSize {IMMUTABLE}", before=ci),
    refused("ci-subnet-immutable", edit(ci, spec__subnetId=SUBNET), f"spec.subnetId {IMMUTABLE}", before=ci),
    refused(
        "ac-type-immutable",
        edit(vm, spec__type="HDInsight"),
        f"spec.type {IMMUTABLE}",
        before=vm,
    ),
    refused(
        "ac-resourceid-immutable",
        edit(vm, spec__resourceId=VM.replace("dsvm-ml", "dsvm-2")),
        f"spec.resourceId {IMMUTABLE}",
        before=vm,
    ),
    refused(
        "ic-create-to-attach",
        edit(ic, spec__create=DELETE, spec__attach={"aksResourceId": AKS}),
        f"the choice between spec.create and spec.attach {IMMUTABLE}",
        before=ic,
    ),
    refused(
        "ic-location-immutable",
        edit(ic, spec__create__location="northeurope"),
        f"spec.create.location {IMMUTABLE}",
        before=ic,
    ),
    refused(
        "ic-aks-id-immutable",
        edit(ica, spec__attach__aksResourceId=AKS.replace("aks-existing", "aks-other")),
        f"spec.attach.aksResourceId {IMMUTABLE}",
        before=ica,
    ),
    refused(
        "ws-subscription-immutable",
        edit(ws, spec__subscriptionId="11111111-1111-1111-1111-111111111111"),
        f"spec.subscriptionId {IMMUTABLE}",
        before=ws,
    ),
    # --- enums ----------------------------------------------------------------------------------------
    refused("cc-vmpriority-enum", edit(cc, spec__vmPriority="Spot"), "spec.vmPriority", 'Unsupported value: "Spot"'),
    refused("cc-ostype-enum", edit(cc, spec__osType="MacOS"), "spec.osType", 'Unsupported value: "MacOS"'),
    refused("ci-state-enum", edit(ci, spec__state="Paused"), "spec.state", 'Unsupported value: "Paused"'),
    refused("ci-ssh-enum", edit(ci, spec__ssh__publicAccess="Maybe"), "spec.ssh.publicAccess", "Unsupported value"),
    refused("ic-purpose-enum", edit(ic, spec__create__purpose="Staging"), "spec.create.purpose", "Unsupported value"),
    refused("ic-ssl-enum", edit(ic, spec__ssl={"status": "On"}), "spec.ssl.status", 'Unsupported value: "On"'),
    refused("cc-deletion-enum", edit(cc, spec__deletionPolicy="Keep"), "spec.deletionPolicy", "Unsupported value"),
    refused("ac-type-enum", edit(vm, spec__type="Slurm"), "spec.type", 'Unsupported value: "Slurm"'),
    # --- node counts and durations ----------------------------------------------------------------
    refused(
        "cc-min-below-zero",
        edit(cc, spec__scaleSettings__minNodeCount=-1),
        "spec.scaleSettings.minNodeCount",
        "greater than or equal to 0",
    ),
    refused(
        "cc-max-below-one",
        edit(cc, spec__scaleSettings={"maxNodeCount": 0}),
        "spec.scaleSettings.maxNodeCount",
        "greater than or equal to 1",
    ),
    refused(
        "cc-min-above-max",
        edit(cc, spec__scaleSettings={"minNodeCount": 3, "maxNodeCount": 2}),
        "spec.scaleSettings.minNodeCount must be less than or equal to spec.scaleSettings.maxNodeCount",
    ),
    refused(
        "cc-idle-time-not-iso",
        edit(cc, spec__scaleSettings__nodeIdleTimeBeforeScaleDown="5m"),
        "spec.scaleSettings.nodeIdleTimeBeforeScaleDown must be an ISO-8601 duration",
    ),
    refused(
        "cc-idle-time-empty-duration",
        edit(cc, spec__scaleSettings__nodeIdleTimeBeforeScaleDown="PT"),
        "spec.scaleSettings.nodeIdleTimeBeforeScaleDown must be an ISO-8601 duration",
    ),
    refused("cc-scale-settings-required", edit(cc, spec__scaleSettings=DELETE), "spec.scaleSettings", "Required value"),
    refused("ic-agent-count-zero", edit(ic, spec__create__agentCount=0), "spec.create.agentCount", "greater than"),
    # --- InferenceCluster: exactly one of create / attach, and its parts ---------------------------
    refused(
        "ic-create-and-attach",
        edit(ic, spec__attach={"aksResourceId": AKS}),
        "exactly one of spec.create (a new AKS cluster) and spec.attach",
    ),
    refused(
        "ic-neither", edit(ic, spec__create=DELETE), "exactly one of spec.create (a new AKS cluster) and spec.attach"
    ),
    refused(
        "ic-aks-id-wrong-type",
        edit(ica, spec__attach__aksResourceId=VM),
        "spec.attach.aksResourceId must be an Azure resource id of the form",
        "Microsoft.ContainerService/managedClusters",
    ),
    refused(
        "ic-ssl-enabled-needs-certificate",
        edit(ic, spec__ssl={"status": "Enabled", "cname": "ml.example.com"}),
        "spec.ssl.certificateSecretRef and spec.ssl.cname are required when spec.ssl.status is Enabled",
    ),
    refused(
        "ic-ssl-disabled-forbids-cname",
        edit(ic, spec__ssl={"status": "Disabled", "cname": "ml.example.com"}),
        "spec.ssl.cname is only allowed when spec.ssl.status is Enabled",
    ),
    refused(
        "ic-location-format",
        edit(ic, spec__create__location="West Europe"),
        "spec.create.location must be an Azure region name",
    ),
    refused(
        "ic-dns-outside-service-cidr",
        edit(
            ic,
            spec__create__networking={
                "subnetId": SUBNET,
                "serviceCidr": "10.0.0.0/16",
                "dnsServiceIP": "10.1.0.10",
                "dockerBridgeCidr": "172.17.0.1/16",
            },
        ),
        "spec.create.networking.dnsServiceIP must be an address inside spec.create.networking.serviceCidr",
    ),
    refused(
        "ic-service-cidr-format",
        edit(
            ic,
            spec__create__networking={
                "subnetId": SUBNET,
                "serviceCidr": "10.0.0.0",
                "dnsServiceIP": "10.0.0.10",
                "dockerBridgeCidr": "172.17.0.1/16",
            },
        ),
        "spec.create.networking.serviceCidr must be a CIDR range",
    ),
    # --- AttachedCompute: the fields of its type, and only those ----------------------------------
    refused(
        "ac-vm-needs-address",
        edit(vm, spec__address=DELETE),
        "spec.address is required when spec.type is VirtualMachine or HDInsight",
    ),
    refused(
        "ac-hdinsight-needs-credentials",
        edit(attached("HDInsight"), spec__credentialsSecretRef=DELETE),
        "spec.credentialsSecretRef is required when spec.type is VirtualMachine or HDInsight",
    ),
    refused(
        "ac-databricks-needs-token",
        edit(attached("Databricks"), spec__accessTokenSecretRef=DELETE),
        "spec.accessTokenSecretRef is required when spec.type is Databricks",
    ),
    refused(
        "ac-datalake-needs-store",
        edit(attached("DataLakeAnalytics"), spec__storeAccountName=DELETE),
        "spec.storeAccountName is required when spec.type is DataLakeAnalytics",
    ),
    refused(
        "ac-databricks-forbids-address",
        edit(attached("Databricks"), spec__address="10.1.2.3"),
        "spec.address is only allowed when spec.type is VirtualMachine or HDInsight",
    ),
    refused(
        "ac-datafactory-forbids-ssh-port",
        edit(attached("DataFactory"), spec__sshPort=22),
        "spec.sshPort is only allowed when spec.type is VirtualMachine or HDInsight",
    ),
    refused(
        "ac-vm-forbids-store-account",
        edit(vm, spec__storeAccountName="adlsml"),
        "spec.storeAccountName is only allowed when spec.type is DataLakeAnalytics",
    ),
    refused(
        "ac-resource-type-mismatch",
        edit(vm, spec__resourceId=DATABRICKS),
        "spec.resourceId must be the id of a Microsoft.Compute/virtualMachines resource when spec.type is "
        "VirtualMachine",
    ),
    refused(
        "ac-resource-id-shape",
        edit(attached("DataFactory"), spec__resourceId="adf-ml"),
        "spec.resourceId must be an Azure resource id",
    ),
    refused("ac-ssh-port-zero", edit(vm, spec__sshPort=0), "spec.sshPort", "greater than or equal to 1"),
    refused("ac-ssh-port-too-high", edit(vm, spec__sshPort=65536), "spec.sshPort", "less than or equal to 65535"),
    refused("ac-address-shape", edit(vm, spec__address="not a host!"), "spec.address must be a host name"),
    # --- ARM ids, identities, credentials and Secret references -----------------------------------
    refused("cc-subnet-shape", edit(cc, spec__subnetId="default"), "spec.subnetId must be an Azure resource id"),
    refused(
        "cc-identity-user-needs-ids",
        edit(cc, spec__identity={"type": "UserAssigned"}),
        "spec.identity.userAssignedIdentities is required when spec.identity.type includes UserAssigned",
    ),
    refused(
        "cc-identity-system-forbids-ids",
        edit(cc, spec__identity={"type": "SystemAssigned", "userAssignedIdentities": [IDENTITY]}),
        "spec.identity.userAssignedIdentities is only allowed when spec.identity.type includes UserAssigned",
    ),
    refused(
        "cc-identity-id-shape",
        edit(cc, spec__identity={"type": "UserAssigned", "userAssignedIdentities": [SUBNET]}),
        "spec.identity.userAssignedIdentities must hold Azure resource ids",
    ),
    refused(
        "cc-credentials-need-key-or-secret",
        edit(cc, spec__adminCredentials={"adminUserName": "azureuser"}),
        "spec.adminCredentials needs sshPublicKey or passwordSecretRef",
    ),
    refused(
        "cc-password-in-spec",
        edit(cc, spec__adminCredentials={"adminUserName": "azureuser", "adminUserPassword": "hunter2"}),
        'unknown field "spec.adminCredentials.adminUserPassword"',
    ),
    refused(
        "cc-ssh-key-shape",
        edit(cc, spec__adminCredentials={"adminUserName": "azureuser", "sshPublicKey": "hunter2"}),
        "spec.adminCredentials.sshPublicKey must be an OpenSSH public key",
    ),
    refused(
        "ci-ssh-enabled-needs-key",
        edit(ci, spec__ssh={"publicAccess": "Enabled"}),
        "spec.ssh.adminPublicKey is required when spec.ssh.publicAccess is Enabled",
    ),
    refused(
        "ci-assigned-user-guid",
        edit(ci, spec__assignedUser={"objectId": "me", "tenantId": "11111111-1111-1111-1111-111111111111"}),
        "spec.assignedUser.objectId must be a GUID",
    ),
    refused(
        "cc-workspace-ref-name",
        edit(cc, spec__workspaceRef={"name": "WS_ML"}),
        "spec.workspaceRef.name must be a Kubernetes object name",
    ),
    refused(
        "ws-secret-ref-has-no-namespace",
        edit(ws, spec__credentials__secretRef={"name": "creds", "namespace": "kube-system"}),
        'unknown field "spec.credentials.secretRef.namespace"',
    ),
    refused(
        "ws-secret-ref-name",
        edit(ws, spec__credentials__secretRef={"name": "Creds!"}),
        "spec.credentials.secretRef.name",
        "the Secret name must be a Kubernetes object name",
    ),
    refused(
        "ws-credentials-both",
        edit(ws, spec__credentials__useOperatorIdentity=True),
        "spec.credentials must set exactly one of secretRef, workloadIdentity and useOperatorIdentity: true",
    ),
    refused(
        "ws-credentials-neither",
        edit(ws, spec__credentials={}),
        "spec.credentials must set exactly one of secretRef, workloadIdentity and useOperatorIdentity: true",
    ),
    refused(
        "ws-credentials-secret-and-workload-identity",
        edit(ws, spec__credentials__workloadIdentity=WORKLOAD_IDENTITY),
        "spec.credentials must set exactly one of secretRef, workloadIdentity and useOperatorIdentity: true",
    ),
    refused(
        "ws-workload-identity-client-guid",
        edit(ws, spec__credentials={"workloadIdentity": {**WORKLOAD_IDENTITY, "clientId": "my-app"}}),
        "spec.credentials.workloadIdentity.clientId must be a GUID",
    ),
    refused(
        "ws-workload-identity-tenant-guid",
        edit(ws, spec__credentials={"workloadIdentity": {**WORKLOAD_IDENTITY, "tenantId": "contoso.onmicrosoft.com"}}),
        "spec.credentials.workloadIdentity.tenantId must be a GUID",
    ),
    refused(
        "ws-workload-identity-service-account-name",
        edit(ws, spec__credentials={"workloadIdentity": {**WORKLOAD_IDENTITY, "serviceAccountName": "Team_A"}}),
        "spec.credentials.workloadIdentity.serviceAccountName must be a ServiceAccount name",
    ),
    refused(
        "ws-workload-identity-has-no-namespace",
        edit(ws, spec__credentials={"workloadIdentity": {**WORKLOAD_IDENTITY, "namespace": "kube-system"}}),
        'unknown field "spec.credentials.workloadIdentity.namespace"',
    ),
    refused(
        "ws-workload-identity-needs-service-account",
        edit(ws, spec__credentials={"workloadIdentity": {k: v for k, v in WORKLOAD_IDENTITY.items()
                                                          if k != "serviceAccountName"}}),
        "spec.credentials.workloadIdentity.serviceAccountName: Required value",
    ),
    refused("ws-subscription-guid", edit(ws, spec__subscriptionId="my-sub"), "spec.subscriptionId must be a GUID"),
    refused("ws-name-too-short", edit(ws, spec__workspaceName="ws"), "spec.workspaceName must be 3-33"),
    refused("ws-cloud-enum", edit(ws, spec__cloud="Mars"), "spec.cloud", 'Unsupported value: "Mars"'),
    # --- tags and description ---------------------------------------------------------------------------
    refused("cc-tag-name-slash", edit(cc, spec__tags={"team/a": "x"}), "spec.tags names must be 1-512 characters"),
    refused(
        "cc-too-many-tags",
        edit(cc, spec__tags={f"t{i}": "x" for i in range(51)}),
        "spec.tags",
        "must have at most 50 items",
    ),
    refused("cc-tag-value-too-long", edit(cc, spec__tags={"t": "v" * 257}), "spec.tags.t", "256"),
    refused("cc-description-too-long", edit(cc, spec__description="d" * 1025), "spec.description", "1024"),
    # --- the remaining rules, once each ---------------------------------------------------------------
    refused(
        "ws-workspace-name-immutable",
        edit(ws, spec__workspaceName="ws-other"),
        f"spec.workspaceName {IMMUTABLE}",
        before=ws,
    ),
    refused(
        "ws-resource-group-immutable",
        edit(ws, spec__resourceGroup="rg-b"),
        f"spec.resourceGroup {IMMUTABLE}",
        before=ws,
    ),
    refused("ws-resource-group-shape", edit(ws, spec__resourceGroup="rg-ml."), "spec.resourceGroup must be 1-90"),
    refused(
        "cc-admin-credentials-immutable",
        edit(cc, spec__adminCredentials={"adminUserName": "azureuser", "sshPublicKey": SSH_KEY}),
        f"spec.adminCredentials {IMMUTABLE}",
        before=cc,
    ),
    refused(
        "cc-remote-login-immutable",
        edit(cc, spec__remoteLoginPortPublicAccess="Enabled"),
        f"spec.remoteLoginPortPublicAccess {IMMUTABLE}",
        before=cc,
    ),
    refused("cc-vmsize-shape", edit(cc, spec__vmSize="Standard DS3"), "spec.vmSize must be an Azure VM size name"),
    refused(
        "cc-identity-type-enum", edit(cc, spec__identity={"type": "None"}), "spec.identity.type", "Unsupported value"
    ),
    refused(
        "cc-identity-too-many",
        edit(
            cc,
            spec__identity={"type": "UserAssigned", "userAssignedIdentities": [f"{IDENTITY}{i}" for i in range(11)]},
        ),
        "spec.identity.userAssignedIdentities",
        "must have at most 10 items",
    ),
    refused("cc-tag-name-too-long", edit(cc, spec__tags={"k" * 513: "v"}), "spec.tags names must be 1-512 characters"),
    refused(
        "ci-sharing-policy-immutable",
        edit(ci, spec__applicationSharingPolicy="Personal"),
        f"spec.applicationSharingPolicy {IMMUTABLE}",
        before=ci,
    ),
    refused(
        "ci-assigned-user-immutable",
        edit(ci, spec__assignedUser={"objectId": SUB, "tenantId": SUB}),
        f"spec.assignedUser {IMMUTABLE}",
        before=ci,
    ),
    refused(
        "ci-ssh-key-shape",
        edit(ci, spec__ssh={"publicAccess": "Enabled", "adminPublicKey": "AAAA"}),
        "spec.ssh.adminPublicKey must be an OpenSSH public key",
    ),
    refused(
        "ic-agent-vm-size-immutable",
        edit(ic, spec__create__agentVmSize="Standard_D4_v2"),
        f"spec.create.agentVmSize {IMMUTABLE}",
        before=ic,
    ),
    refused(
        "ic-networking-immutable",
        edit(ic, spec__create__networking=NETWORKING),
        f"spec.create.networking {IMMUTABLE}",
        before=ic,
    ),
    refused("ic-agent-count-above-100", edit(ic, spec__create__agentCount=101), "spec.create.agentCount", "100"),
    refused(
        "ic-ssl-auto-forbids-certificate",
        edit(ic, spec__ssl={"status": "Auto", "certificateSecretRef": {"name": "tls"}}),
        "spec.ssl.certificateSecretRef is only allowed when spec.ssl.status is Enabled",
    ),
    refused(
        "ic-dns-ip-shape",
        edit(ic, spec__create__networking=NETWORKING | {"dnsServiceIP": "10.0.0"}),
        "spec.create.networking.dnsServiceIP must be an IP address",
    ),
    refused(
        "ic-docker-bridge-shape",
        edit(ic, spec__create__networking=NETWORKING | {"dockerBridgeCidr": "docker0"}),
        "spec.create.networking.dockerBridgeCidr must be a CIDR range",
    ),
    refused(
        "ic-networking-subnet-shape",
        edit(ic, spec__create__networking=NETWORKING | {"subnetId": AKS}),
        "spec.create.networking.subnetId must be an Azure resource id",
    ),
    refused(
        "ac-databricks-forbids-credentials",
        edit(attached("Databricks"), spec__credentialsSecretRef={"name": "ssh"}),
        "spec.credentialsSecretRef is only allowed when spec.type is VirtualMachine or HDInsight",
    ),
    refused(
        "ac-vm-forbids-token",
        edit(vm, spec__accessTokenSecretRef={"name": "token"}),
        "spec.accessTokenSecretRef is only allowed when spec.type is Databricks",
    ),
    refused(
        "ac-datafactory-resource-type",
        edit(attached("DataFactory"), spec__resourceId=VM),
        "spec.resourceId must be the id of a Microsoft.DataFactory/factories resource when spec.type is DataFactory",
    ),
    refused(
        "ac-store-account-shape",
        edit(attached("DataLakeAnalytics"), spec__storeAccountName="ADLS-ml"),
        "spec.storeAccountName must be 3-24 lower-case letters and digits",
    ),
    # --- ComputeInstance idle shutdown, schedules, setup scripts (api-version 2025-09-01) -----------------
    refused("ci-idle-too-short", edit(ci, spec__idleTimeBeforeShutdown="PT14M"), "between 15 minutes"),
    refused("ci-idle-too-long", edit(ci, spec__idleTimeBeforeShutdown="P3DT1M"), "between 15 minutes"),
    refused("ci-idle-not-iso", edit(ci, spec__idleTimeBeforeShutdown="30m"), "spec.idleTimeBeforeShutdown",
            "ISO-8601"),
    refused("ci-schedule-both", edit(ci, spec__schedules=[{"action": "Stop", "cron": "0 18 * * *",
                                                            "recurrence": {"frequency": "Day", "hours": [18],
                                                                           "minutes": [0]}}]),
            "exactly one of cron or recurrence"),
    refused("ci-schedule-cron-fields", edit(ci, spec__schedules=[{"action": "Stop", "cron": "0 18 * *"}]),
            "five fields"),
    refused("ci-schedule-day-needs-hours", edit(ci, spec__schedules=[{"action": "Start",
                                                                       "recurrence": {"frequency": "Day"}}]),
            "hours and minutes are required"),
    refused("ci-schedule-hour-range", edit(ci, spec__schedules=[{"action": "Start", "recurrence": {
        "frequency": "Day", "hours": [24], "minutes": [0]}}]), "spec.schedules[0].recurrence.hours[0]"),
    refused("ci-script-inline-needs-command", edit(ci, spec__setupScripts={"creation": {"source": "inline",
                                                                                         "path": "a.sh"}}),
            "source inline needs command"),
    refused("ci-no-public-ip-needs-subnet", edit(ci, spec__enableNodePublicIp=False), "needs spec.subnetId"),
    refused("ci-setup-scripts-immutable",
            edit(ci, spec__setupScripts={"startup": {"source": "workspace", "path": "b.sh"}}),
            "spec.setupScripts " + IMMUTABLE,
            before=edit(ci, spec__setupScripts={"startup": {"source": "workspace", "path": "a.sh"}})),
    # --- ComputeCluster newer fields ---------------------------------------------------------------------
    refused("cc-no-public-ip-needs-subnet", edit(cc, spec__enableNodePublicIp=False), "needs spec.subnetId"),
    # --- Kubernetes and SynapseSpark attach types ----------------------------------------------------------
    refused("ac-k8s-resource-type", edit(attached("Kubernetes"), spec__resourceId=VM),
            "Microsoft.ContainerService/managedClusters or Microsoft.Kubernetes/connectedClusters"),
    refused("ac-synapse-resource-type",
            edit(attached("SynapseSpark"), spec__resourceId=f"{PREFIX}/Microsoft.Synapse/workspaces/syn-ml"),
            "Microsoft.Synapse/workspaces/bigDataPools"),
    refused("ac-k8s-default-type-unknown", edit(attached("Kubernetes"), spec__defaultInstanceType="cpu"),
            "spec.defaultInstanceType must be one of"),
    refused("ac-k8s-namespace-shape", edit(attached("Kubernetes"), spec__kubernetesNamespace="Azure_ML"),
            "spec.kubernetesNamespace must be a Kubernetes namespace name"),
    refused("ac-k8s-namespace-immutable", edit(attached("Kubernetes"), spec__kubernetesNamespace="other"),
            "spec.kubernetesNamespace " + IMMUTABLE, before=attached("Kubernetes")),
    refused("ac-k8s-fields-only-for-kubernetes", edit(attached("SynapseSpark"), spec__kubernetesNamespace="ml"),
            "spec.kubernetesNamespace is only allowed when spec.type is Kubernetes"),
    refused("cc-public-ip-immutable", edit(cc, spec__enableNodePublicIp=True, spec__subnetId=SUBNET),
            "spec.enableNodePublicIp " + IMMUTABLE,
            before=edit(cc, spec__enableNodePublicIp=False, spec__subnetId=SUBNET)),
]

ACCEPTED = [
    # the valid side of each boundary
    accepted("cc-name-3", edit(cc, spec__computeName="abc")),
    accepted("cc-name-24", edit(cc, spec__computeName="a" * 24)),
    accepted("cc-name-letter-after-dash", edit(cc, spec__computeName="GPU-1a")),
    accepted("ci-metadata-name-3", named(ci, "abc"), keep_name=True),
    accepted("ci-metadata-name-24", named(ci, "a" * 24), keep_name=True),
    accepted(
        "cc-long-metadata-name-with-compute-name", edit(named(cc, "a" * 40), spec__computeName="short"), keep_name=True
    ),
    accepted("ic-name-2", edit(ic, spec__computeName="ab")),
    accepted("ic-name-16", edit(ic, spec__computeName="a" * 16)),
    accepted("cc-min-zero-max-one", edit(cc, spec__scaleSettings={"minNodeCount": 0, "maxNodeCount": 1})),
    accepted("cc-min-equals-max", edit(cc, spec__scaleSettings={"minNodeCount": 2, "maxNodeCount": 2})),
    accepted("cc-idle-time-minutes", edit(cc, spec__scaleSettings__nodeIdleTimeBeforeScaleDown="PT5M")),
    accepted("ic-agent-count-one", edit(ic, spec__create__agentCount=1, spec__create__purpose="DevTest")),
    accepted("ac-ssh-port-bounds", edit(vm, spec__sshPort=65535)),
    accepted("cc-description-1024", edit(cc, spec__description="d" * 1024)),
    accepted("cc-tag-name-512", edit(cc, spec__tags={"k" * 512: "v"})),
    accepted("ic-agent-count-100", edit(ic, spec__create__agentCount=100)),
    accepted(
        "cc-identity-10",
        edit(
            cc,
            spec__identity={"type": "UserAssigned", "userAssignedIdentities": [f"{IDENTITY}{i}" for i in range(10)]},
        ),
    ),
    accepted("cc-50-tags", edit(cc, spec__tags={f"t{i}": "v" * 256 for i in range(50)})),
    accepted(
        "cc-everything",
        edit(
            cc,
            spec__vmPriority="LowPriority",
            spec__osType="Windows",
            spec__subnetId=SUBNET,
            spec__identity={"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": [IDENTITY]},
            spec__adminCredentials={"adminUserName": "azureuser", "passwordSecretRef": {"name": "cc-password"}},
            spec__remoteLoginPortPublicAccess="Disabled",
        ),
    ),
    accepted(
        "ic-networking-and-ssl",
        edit(
            ic,
            spec__create__networking={
                "subnetId": SUBNET,
                "serviceCidr": "10.0.0.0/16",
                "dnsServiceIP": "10.0.0.10",
                "dockerBridgeCidr": "172.17.0.1/16",
            },
            spec__ssl={"status": "Enabled", "cname": "ml.example.com", "certificateSecretRef": {"name": "tls"}},
        ),
    ),
    accepted("ws-operator-identity", edit(ws, spec__credentials={"useOperatorIdentity": True})),
    accepted("ws-workload-identity", edit(ws, spec__credentials={"workloadIdentity": WORKLOAD_IDENTITY})),
    accepted("ac-datafactory", attached("DataFactory")),
    # updates of mutable fields
    accepted(
        "cc-update-scale-settings",
        edit(cc, spec__scaleSettings={"minNodeCount": 1, "maxNodeCount": 8, "nodeIdleTimeBeforeScaleDown": "PT10M"}),
        before=cc,
    ),
    accepted(
        "cc-update-tags", edit(cc, spec__tags={"team": "ml", "cost": "a1"}), before=edit(cc, spec__tags={"x": "y"})
    ),
    accepted("cc-update-description", edit(cc, spec__description="now with a description"), before=cc),
    accepted("cc-update-identity", edit(cc, spec__identity={"type": "SystemAssigned"}), before=cc),
    accepted("cc-update-deletion-policy", edit(cc, spec__deletionPolicy="Orphan"), before=cc),
    accepted(
        "cc-computename-set-to-metadata-name",
        edit(named(cc, "same-name"), spec__computeName="same-name"),
        before=named(cc, "same-name"),
        keep_name=True,
    ),
    accepted("ci-update-state", edit(ci, spec__state="Stopped"), before=ci),
    accepted("ci-update-tags", edit(ci, spec__tags={"owner": "me"}), before=ci),
    accepted("ic-update-agent-count", edit(ic, spec__create__agentCount=5), before=ic),
    accepted("ic-update-ssl", edit(ica, spec__ssl={"status": "Auto"}), before=ica),
    accepted(
        "ac-update-description", edit(attached("DataFactory"), spec__description="adf"), before=attached("DataFactory")
    ),
    accepted("ac-update-address", edit(vm, spec__address="dsvm.example.com"), before=vm),
    accepted("ws-update-credentials", edit(ws, spec__credentials__secretRef={"name": "new-creds"}), before=ws),
    accepted("ws-update-to-workload-identity", edit(ws, spec__credentials={"workloadIdentity": WORKLOAD_IDENTITY}),
             before=ws),
    accepted("ci-idle-bounds-low", edit(ci, spec__idleTimeBeforeShutdown="PT15M")),
    accepted("ci-idle-bounds-high", edit(ci, spec__idleTimeBeforeShutdown="P3D")),
    accepted("ci-idle-hours-minutes", edit(ci, spec__idleTimeBeforeShutdown="PT1H30M")),
    accepted("ci-office-hours", edit(ci, spec__schedules=[
        {"action": "Start", "cron": "0 8 * * 1-5", "timeZone": "W. Europe Standard Time"},
        {"action": "Stop", "recurrence": {"frequency": "Week", "hours": [18], "minutes": [0],
                                          "weekDays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]}}])),
    accepted("ci-update-schedules", edit(ci, spec__schedules=[{"action": "Stop", "cron": "0 19 * * *"}]),
             before=edit(ci, spec__schedules=[{"action": "Stop", "cron": "0 18 * * *"}])),
    accepted("ci-update-idle", edit(ci, spec__idleTimeBeforeShutdown="PT2H"),
             before=edit(ci, spec__idleTimeBeforeShutdown="PT30M")),
    accepted("ac-k8s-aks", edit(attached("Kubernetes"), spec__resourceId=AKS)),
    accepted("ac-k8s-arc", attached("Kubernetes")),
    accepted("ac-synapse", attached("SynapseSpark")),
    accepted("ac-k8s-update-instance-types",
             edit(attached("Kubernetes"), spec__instanceTypes=[GPU_TYPE, {"name": "cpu"}]),
             before=attached("Kubernetes")),
    accepted("cc-no-public-ip-in-vnet", edit(cc, spec__enableNodePublicIp=False, spec__subnetId=SUBNET)),
]


def _object_name(case: Case, index: int, manifest: Manifest) -> Manifest:
    if case.keep_name:
        return manifest
    # A short, valid, unique name per case, so the cases share one namespace without colliding.
    return named(manifest, f"case{index}x")


def _apply(kubectl: Kubectl, namespace: str, manifest: Manifest) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False)


def test_the_table_is_big_enough() -> None:
    assert len(REFUSED) >= 40
    assert len({case.id for case in REFUSED + ACCEPTED}) == len(REFUSED + ACCEPTED)


@pytest.mark.parametrize("case", REFUSED, ids=[case.id for case in REFUSED])
def test_refused(kubectl: Kubectl, shared_namespace: str, case: Case) -> None:
    index = REFUSED.index(case)
    if case.before is not None:
        first = _apply(kubectl, shared_namespace, _object_name(case, index, case.before))
        assert first.returncode == 0, first.stderr
    result = _apply(kubectl, shared_namespace, _object_name(case, index, case.manifest))
    assert result.returncode != 0, f"accepted: {result.stdout}"
    for fragment in case.expect:
        assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize("case", ACCEPTED, ids=[case.id for case in ACCEPTED])
def test_accepted(kubectl: Kubectl, shared_namespace: str, case: Case) -> None:
    index = 1000 + ACCEPTED.index(case)
    manifest = _object_name(case, index, case.manifest)
    if case.before is not None:
        first = _apply(kubectl, shared_namespace, _object_name(case, index, case.before))
        assert first.returncode == 0, first.stderr
    result = _apply(kubectl, shared_namespace, manifest)
    assert result.returncode == 0, result.stderr
    stored = json.loads(
        kubectl(
            "get", "-n", shared_namespace, manifest["kind"].lower(), manifest["metadata"]["name"], "-o", "json"
        ).stdout
    )
    assert _contains(stored["spec"], manifest["spec"]), stored["spec"]


def _contains(stored: Any, expected: Any) -> bool:
    """``stored`` holds everything in ``expected`` (the API server may have added defaults)."""
    if isinstance(expected, dict):
        return isinstance(stored, dict) and all(k in stored and _contains(stored[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(stored, list) and len(stored) == len(expected) and all(
            _contains(s, e) for s, e in zip(stored, expected, strict=True))
    return bool(stored == expected)
