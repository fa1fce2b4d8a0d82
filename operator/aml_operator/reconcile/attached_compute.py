"""AttachedCompute ↔ VirtualMachine, HDInsight, Databricks, DataLakeAnalytics, DataFactory, SynapseSpark and
Kubernetes computes.

Attaching is a PUT naming the existing resource (``properties.resourceId``) plus what Azure ML needs to
reach it: SSH address and credentials, a Databricks token, a Data Lake Store account. Credentials come
from Secrets; a new Secret version sends them again (see ``secret_refs``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aml_operator.api.attached_compute import SSH_TYPES, AttachedCompute, AttachedComputeStatus
from aml_operator.api.common import ComputeResource, ComputeStatusBase
from aml_operator.reconcile.compute_cluster import same
from aml_operator.reconcile.computes import DriverDefaults
from aml_operator.reconcile.external import ComputeClient, JsonDict, Observation, WorkspaceTarget
from aml_operator.reconcile.outcome import Event
from aml_operator.reconcile.prechecks import Refusal
from aml_operator.reconcile.secret_refs import SecretNeed

USERNAME_KEY = "username"
PRIVATE_KEY_KEY = "privateKey"
PASSWORD_KEY = "password"
ACCESS_TOKEN_KEY = "accessToken"
DEFAULT_SSH_PORT = 22


def _ac(obj: ComputeResource) -> AttachedCompute:
    assert isinstance(obj, AttachedCompute)
    return obj


class AttachedComputeDriver(DriverDefaults):
    """One driver for the five types; ``compute_type`` is the object's ``spec.type``."""

    def __init__(self, compute_type: str) -> None:
        self.compute_type = compute_type

    def desired_properties(self, obj: ComputeResource, secrets: Mapping[str, str]) -> JsonDict:
        spec = _ac(obj).spec
        if spec.type in SSH_TYPES:
            account: JsonDict = {"username": secrets.get(USERNAME_KEY, "")}
            # A key when there is one: Azure ML then never holds a password for the machine.
            if secrets.get(PRIVATE_KEY_KEY):
                account["privateKeyData"] = secrets[PRIVATE_KEY_KEY]
            elif secrets.get(PASSWORD_KEY):
                account["password"] = secrets[PASSWORD_KEY]
            return {"address": spec.address, "sshPort": spec.ssh_port or DEFAULT_SSH_PORT,
                    "administratorAccount": account}
        if spec.type == "Databricks":
            return {"databricksAccessToken": secrets.get(ACCESS_TOKEN_KEY, "")}
        if spec.type == "DataLakeAnalytics":
            return {"dataLakeStoreAccountName": spec.store_account_name}
        if spec.type == "Kubernetes":
            return kubernetes_properties(_ac(obj))
        return {}  # DataFactory, SynapseSpark: the resource id says it all

    def identity(self, obj: ComputeResource) -> JsonDict | None:
        return None

    def resource_id(self, obj: ComputeResource) -> str | None:
        return _ac(obj).spec.resource_id

    def secret_needs(self, obj: ComputeResource) -> Sequence[SecretNeed]:
        spec = _ac(obj).spec
        if spec.type in SSH_TYPES and spec.credentials_secret_ref is not None:
            return (SecretNeed(spec.credentials_secret_ref.name, "spec.credentialsSecretRef", (USERNAME_KEY,),
                               any_of=(PRIVATE_KEY_KEY, PASSWORD_KEY)),)
        if spec.type == "Databricks" and spec.access_token_secret_ref is not None:
            return (SecretNeed(spec.access_token_secret_ref.name, "spec.accessTokenSecretRef", (ACCESS_TOKEN_KEY,)),)
        return ()

    def put_events(self, obj: ComputeResource, secrets: Mapping[str, str]) -> Sequence[Event]:
        spec = _ac(obj).spec
        if spec.type in SSH_TYPES and not secrets.get(PRIVATE_KEY_KEY) and secrets.get(PASSWORD_KEY):
            ref = spec.credentials_secret_ref.name if spec.credentials_secret_ref else ""
            return (Event("Warning", "PasswordCredentials",
                          f"Secret {ref!r} gives Azure ML a password for {spec.address}; an SSH private key "
                          f"(key {PRIVATE_KEY_KEY!r}) is recommended instead"),)
        return ()

    def immutable_mismatches(self, obj: ComputeResource, observed: Observation) -> list[str]:
        spec = _ac(obj).spec
        azure_id = observed.envelope_properties.get("resourceId")
        if azure_id and not same(azure_id, spec.resource_id):
            return [f"spec.resourceId (Azure has {azure_id})"]
        namespace, wanted = observed.properties.get("namespace"), spec.kubernetes_namespace
        if spec.type == "Kubernetes" and wanted and namespace and namespace != wanted:
            return [f"spec.kubernetesNamespace ({spec.kubernetes_namespace}; Azure has {namespace})"]
        return []

    def scale_change(self, obj: ComputeResource, observed: Observation) -> JsonDict | None:
        return None

    def update_needed(self, obj: ComputeResource, observed: Observation) -> str | None:
        spec, props = _ac(obj).spec, observed.properties
        changed = []
        if spec.type in SSH_TYPES:
            if props.get("address") is not None and props.get("address") != spec.address:
                changed.append("spec.address")
            if props.get("sshPort") is not None and props.get("sshPort") != (spec.ssh_port or DEFAULT_SSH_PORT):
                changed.append("spec.sshPort")
        if spec.type == "DataLakeAnalytics" and props.get("dataLakeStoreAccountName") not in (
                None, spec.store_account_name):
            changed.append("spec.storeAccountName")
        if spec.type == "Kubernetes":
            wanted = kubernetes_properties(_ac(obj))
            if "defaultInstanceType" in wanted and props.get("defaultInstanceType") != wanted["defaultInstanceType"]:
                changed.append("spec.defaultInstanceType")
            if "instanceTypes" in wanted and _without_nulls(props.get("instanceTypes")) != _without_nulls(
                    wanted["instanceTypes"]):
                changed.append("spec.instanceTypes")
        return ", ".join(changed) or None

    def power_action(self, obj: ComputeResource, observed: Observation) -> None:
        return None

    def settled(self, obj: ComputeResource, observed: Observation) -> str | None:
        return None

    def fill_status(self, status: ComputeStatusBase, observed: Observation) -> None:
        assert isinstance(status, AttachedComputeStatus)
        status.compute_location = (observed.envelope_properties.get("computeLocation")
                                   or observed.resource.get("location"))
        props = observed.properties
        if observed.compute_type == "Kubernetes":
            status.namespace = props.get("namespace")
            status.default_instance_type = props.get("defaultInstanceType")
            status.instance_types = sorted(props.get("instanceTypes") or {})
        elif observed.compute_type == "SynapseSpark":
            status.spark_version = props.get("sparkVersion")
            status.node_size = props.get("nodeSize")
            status.node_count = props.get("nodeCount")

    async def prechecks(self, obj: ComputeResource, client: ComputeClient, target: WorkspaceTarget,
                        location: str) -> Refusal | None:
        return None  # the resource exists outside Azure ML: only Azure's answer to the PUT can tell


DRIVERS = {compute_type: AttachedComputeDriver(compute_type)
           for compute_type in ("VirtualMachine", "HDInsight", "Databricks", "DataLakeAnalytics", "DataFactory",
                                "SynapseSpark", "Kubernetes")}


def driver_for(obj: ComputeResource) -> AttachedComputeDriver:
    """The driver of the object's ``spec.type`` (Azure's computeType)."""
    return DRIVERS[_ac(obj).spec.type]


def kubernetes_properties(obj: AttachedCompute) -> JsonDict:
    """2025-09-01 KubernetesProperties: namespace, default instance type, instance types (wire camelCase)."""
    spec = obj.spec
    props: JsonDict = {}
    if spec.kubernetes_namespace:
        props["namespace"] = spec.kubernetes_namespace
    if spec.default_instance_type:
        props["defaultInstanceType"] = spec.default_instance_type
    if spec.instance_types is not None:
        # Azure keys instance types by name; the spec lists them (a Kubernetes list-map keyed by name).
        props["instanceTypes"] = {instance.name: instance.model_dump(mode="json", by_alias=True, exclude_none=True,
                                                                     exclude={"name"})
                                  for instance in spec.instance_types}
    return props


def _without_nulls(value: Any) -> Any:
    """Azure's rendering of instance types with its null placeholders removed, to compare with the spec's."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value
