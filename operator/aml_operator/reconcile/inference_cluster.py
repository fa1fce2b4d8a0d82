"""InferenceCluster ↔ AKS compute: created by Azure ML or attached, the 12-vCPU rule, SSL, and the status.

The purpose reaches Azure as ``clusterPurpose`` (``FastProd`` | ``DevTest``), a property of api-versions
newer than 2020-08-01 that the SDK's model lacks; the body goes out as raw JSON, so it is simply there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aml_operator.api.common import ComputeResource, ComputeStatusBase
from aml_operator.api.inference_cluster import (
    PRODUCTION_MIN_VCPUS,
    InferenceCluster,
    InferenceClusterStatus,
    SystemService,
)
from aml_operator.reconcile.compute_cluster import same
from aml_operator.reconcile.computes import DriverDefaults
from aml_operator.reconcile.external import ComputeClient, JsonDict, Observation, VmSize, WorkspaceTarget
from aml_operator.reconcile.prechecks import Refusal, check_vm_size
from aml_operator.reconcile.secret_refs import SecretNeed

TLS_CERT_KEY = "tls.crt"
TLS_KEY_KEY = "tls.key"
TLS_SECRET_TYPE = "kubernetes.io/tls"
PURPOSES = {"Production": "FastProd", "DevTest": "DevTest"}
PRODUCTION_PURPOSES = {"fastprod", "denseprod"}


def _ic(obj: ComputeResource) -> InferenceCluster:
    assert isinstance(obj, InferenceCluster)
    return obj


def check_production_vcpus(size: VmSize, agent_count: int) -> Refusal | None:
    """The seeds' rule: a Production cluster needs agentCount x vCPUs(agentVmSize) >= 12."""
    total = agent_count * size.vcpus
    if total >= PRODUCTION_MIN_VCPUS:
        return None
    return Refusal(
        "InsufficientVCpus",
        f"a Production inference cluster needs at least {PRODUCTION_MIN_VCPUS} vCPUs across its agents, but "
        f"spec.create.agentCount {agent_count} x {size.vcpus} vCPUs of {size.name} is {total}; raise agentCount "
        "or use a larger agentVmSize, or set spec.create.purpose to DevTest",
    )


class InferenceClusterDriver(DriverDefaults):
    compute_type = "AKS"

    def desired_properties(self, obj: ComputeResource, secrets: Mapping[str, str]) -> JsonDict:
        spec = _ic(obj).spec
        props: JsonDict = {}
        if spec.create is not None:
            create = spec.create
            props.update(agentCount=create.agent_count, agentVmSize=create.agent_vm_size,
                         clusterPurpose=PURPOSES[create.purpose])
            if create.networking is not None:
                net = create.networking
                props["aksNetworkingConfiguration"] = {
                    "subnetId": net.subnet_id, "serviceCidr": net.service_cidr,
                    "dnsServiceIP": net.dns_service_ip, "dockerBridgeCidr": net.docker_bridge_cidr,
                }
        if spec.ssl is not None:
            ssl: JsonDict = {"status": spec.ssl.status}
            if spec.ssl.status == "Enabled":
                ssl.update(cert=secrets.get(TLS_CERT_KEY, ""), key=secrets.get(TLS_KEY_KEY, ""),
                           cname=spec.ssl.cname)
            props["sslConfiguration"] = ssl
        return props

    def identity(self, obj: ComputeResource) -> JsonDict | None:
        return None

    def location(self, obj: ComputeResource, workspace_location: str) -> str:
        create = _ic(obj).spec.create
        return create.location if create is not None else workspace_location

    def resource_id(self, obj: ComputeResource) -> str | None:
        attach = _ic(obj).spec.attach
        return attach.aks_resource_id if attach is not None else None

    def secret_needs(self, obj: ComputeResource) -> Sequence[SecretNeed]:
        ssl = _ic(obj).spec.ssl
        if ssl is None or ssl.status != "Enabled" or ssl.certificate_secret_ref is None:
            return ()
        return (SecretNeed(ssl.certificate_secret_ref.name, "spec.ssl.certificateSecretRef",
                           (TLS_CERT_KEY, TLS_KEY_KEY), secret_type=TLS_SECRET_TYPE),)

    def immutable_mismatches(self, obj: ComputeResource, observed: Observation) -> list[str]:
        spec, props = _ic(obj).spec, observed.properties
        mismatches = []
        if spec.attach is not None:
            azure_id = observed.envelope_properties.get("resourceId")
            if azure_id and not same(azure_id, spec.attach.aks_resource_id):
                mismatches.append(f"spec.attach.aksResourceId (Azure has {azure_id})")
            return mismatches
        create = spec.create
        assert create is not None
        if props.get("agentVmSize") and not same(props["agentVmSize"], create.agent_vm_size):
            mismatches.append(f"spec.create.agentVmSize ({create.agent_vm_size}; Azure has {props['agentVmSize']})")
        purpose = props.get("clusterPurpose")
        if purpose and (str(purpose).lower() in PRODUCTION_PURPOSES) != (create.purpose == "Production"):
            mismatches.append(f"spec.create.purpose ({create.purpose}; Azure has {purpose})")
        location = observed.envelope_properties.get("computeLocation") or observed.resource.get("location")
        if location and not same(location, create.location):
            mismatches.append(f"spec.create.location ({create.location}; Azure has {location})")
        networking = props.get("aksNetworkingConfiguration") or {}
        azure_subnet = networking.get("subnetId") if isinstance(networking, dict) else None
        wanted_subnet = create.networking.subnet_id if create.networking is not None else None
        if (azure_subnet or wanted_subnet) and not same(azure_subnet, wanted_subnet):
            mismatches.append("spec.create.networking")
        return mismatches

    def scale_change(self, obj: ComputeResource, observed: Observation) -> JsonDict | None:
        return None  # 2020-08-01 PATCHes AmlCompute scale settings only; agentCount goes with a PUT

    def update_needed(self, obj: ComputeResource, observed: Observation) -> str | None:
        spec, props = _ic(obj).spec, observed.properties
        changed = []
        if spec.create is not None and props.get("agentCount") not in (None, spec.create.agent_count):
            changed.append("spec.create.agentCount")
        if spec.ssl is not None:
            azure_ssl = props.get("sslConfiguration") or {}
            wanted_cname = spec.ssl.cname if spec.ssl.status == "Enabled" else None
            if not same(azure_ssl.get("status") or "Disabled", spec.ssl.status) or (
                    wanted_cname is not None and not same(azure_ssl.get("cname"), wanted_cname)):
                changed.append("spec.ssl")
        return ", ".join(changed) or None

    def power_action(self, obj: ComputeResource, observed: Observation) -> None:
        return None

    def settled(self, obj: ComputeResource, observed: Observation) -> str | None:
        return None

    def fill_status(self, status: ComputeStatusBase, observed: Observation) -> None:
        assert isinstance(status, InferenceClusterStatus)
        props = observed.properties
        status.cluster_fqdn = props.get("clusterFqdn")
        status.system_services = [SystemService.model_validate(s) for s in props.get("systemServices") or []
                                  if isinstance(s, dict)]
        status.agent_count = props.get("agentCount")
        status.agent_vm_size = props.get("agentVmSize")
        status.compute_location = (observed.envelope_properties.get("computeLocation")
                                   or observed.resource.get("location"))

    async def prechecks(self, obj: ComputeResource, client: ComputeClient, target: WorkspaceTarget,
                        location: str) -> Refusal | None:
        create = _ic(obj).spec.create
        if create is None:
            return None  # an attach: only Azure knows whether the cluster exists and where
        size = check_vm_size(await client.vm_sizes(target, create.location), create.agent_vm_size,
                             create.location, field="spec.create.agentVmSize")
        if isinstance(size, Refusal):
            return size
        if create.purpose == "Production":
            return check_production_vcpus(size, create.agent_count)
        return None
