"""ComputeCluster ↔ AmlCompute: the request body, what changes in place, and the status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from aml_operator.api.common import AzureError as StatusError
from aml_operator.api.common import ComputeResource, ComputeStatusBase
from aml_operator.api.compute_cluster import ComputeCluster, ComputeClusterStatus, IdentityStatus, NodeStateCounts
from aml_operator.reconcile.computes import DriverDefaults
from aml_operator.reconcile.external import ComputeClient, JsonDict, Observation, WorkspaceTarget
from aml_operator.reconcile.prechecks import Refusal, check_low_priority, check_quota, check_vm_size
from aml_operator.reconcile.secret_refs import SecretNeed

PASSWORD_KEY = "password"
TIMESTAMP = TypeAdapter(datetime)


def same(a: Any, b: Any) -> bool:
    """Azure echoes names in its own casing (STANDARD_DS2_V2 for Standard_DS2_v2)."""
    return str(a or "").lower() == str(b or "").lower()


def subnet_differs(props: JsonDict, subnet_id: str | None) -> bool:
    """Azure answers the subnet as ``{"id": ...}`` or, in some examples, as the bare id."""
    subnet = props.get("subnet")
    azure_subnet = subnet.get("id") if isinstance(subnet, dict) else subnet
    return bool(azure_subnet or subnet_id) and not same(azure_subnet, subnet_id)


def managed_identity(obj: ComputeResource) -> JsonDict | None:
    identity = getattr(obj.spec, "identity", None)
    if identity is None:
        return None
    body: JsonDict = {"type": identity.type}
    if identity.user_assigned_identities:
        body["userAssignedIdentities"] = {arm_id: {} for arm_id in identity.user_assigned_identities}
    return body


def azure_errors(observed: Observation) -> list[StatusError]:
    return [StatusError(code=str((e.get("error") or e).get("code") or ""),
                        message=str((e.get("error") or e).get("message") or ""))
            for e in observed.properties.get("errors") or [] if isinstance(e, dict)]


def _time(value: Any) -> datetime | None:
    """Azure's timestamps as datetimes (attribute assignment skips the model's own parsing)."""
    try:
        return TIMESTAMP.validate_python(value) if value else None
    except ValidationError:
        return None


class ComputeClusterDriver(DriverDefaults):
    compute_type = "AmlCompute"

    def secret_needs(self, obj: ComputeResource) -> Sequence[SecretNeed]:
        assert isinstance(obj, ComputeCluster)
        creds = obj.spec.admin_credentials
        if creds is None or creds.password_secret_ref is None:
            return ()
        return (SecretNeed(creds.password_secret_ref.name, "spec.adminCredentials.passwordSecretRef",
                           (PASSWORD_KEY,)),)

    def desired_properties(self, obj: ComputeResource, secrets: Mapping[str, str]) -> JsonDict:
        assert isinstance(obj, ComputeCluster)
        spec = obj.spec
        props: JsonDict = {
            "vmSize": spec.vm_size,
            "vmPriority": spec.vm_priority,
            "osType": spec.os_type,
            "scaleSettings": self._scale(obj),
            "remoteLoginPortPublicAccess": spec.remote_login_port_public_access,
        }
        if spec.subnet_id:
            props["subnet"] = {"id": spec.subnet_id}
        if spec.enable_node_public_ip is not None:
            props["enableNodePublicIp"] = spec.enable_node_public_ip
        if spec.admin_credentials is not None:
            creds: JsonDict = {"adminUserName": spec.admin_credentials.admin_user_name}
            if spec.admin_credentials.ssh_public_key:
                creds["adminUserSshPublicKey"] = spec.admin_credentials.ssh_public_key
            if spec.admin_credentials.password_secret_ref is not None and secrets.get(PASSWORD_KEY):
                creds["adminUserPassword"] = secrets[PASSWORD_KEY]
            props["userAccountCredentials"] = creds
        return props

    def identity(self, obj: ComputeResource) -> JsonDict | None:
        return managed_identity(obj)

    @staticmethod
    def _scale(obj: ComputeCluster) -> JsonDict:
        scale = obj.spec.scale_settings
        body: JsonDict = {"maxNodeCount": scale.max_node_count, "minNodeCount": scale.min_node_count}
        if scale.node_idle_time_before_scale_down:
            body["nodeIdleTimeBeforeScaleDown"] = scale.node_idle_time_before_scale_down
        return body

    def immutable_mismatches(self, obj: ComputeResource, observed: Observation) -> list[str]:
        assert isinstance(obj, ComputeCluster)
        spec, props = obj.spec, observed.properties
        mismatches = []
        if props.get("vmSize") and not same(props["vmSize"], spec.vm_size):
            mismatches.append(f"spec.vmSize ({spec.vm_size}; Azure has {props['vmSize']})")
        if props.get("vmPriority") and not same(props["vmPriority"], spec.vm_priority):
            mismatches.append(f"spec.vmPriority ({spec.vm_priority}; Azure has {props['vmPriority']})")
        if props.get("osType") and not same(props["osType"], spec.os_type):
            mismatches.append(f"spec.osType ({spec.os_type}; Azure has {props['osType']})")
        if subnet_differs(props, spec.subnet_id):
            mismatches.append("spec.subnetId")
        public_ip = props.get("enableNodePublicIp")
        if spec.enable_node_public_ip is not None and public_ip is not None and public_ip != spec.enable_node_public_ip:
            mismatches.append(f"spec.enableNodePublicIp ({spec.enable_node_public_ip}; Azure has {public_ip})")
        return mismatches

    def update_needed(self, obj: ComputeResource, observed: Observation) -> str | None:
        """The identity changes with a PUT of the whole cluster (2025-09-01 PATCHes scale settings only)."""
        assert isinstance(obj, ComputeCluster)
        wanted = managed_identity(obj)
        if wanted is None:
            return None  # an identity set outside the operator is left alone
        azure = observed.resource.get("identity") or {}
        azure_type = str(azure.get("type") or "None").replace(" ", "").lower()
        azure_ids = {i.lower() for i in (azure.get("userAssignedIdentities") or {})}
        wanted_ids = {i.lower() for i in (wanted.get("userAssignedIdentities") or {})}
        if azure_type != str(wanted["type"]).lower() or azure_ids != wanted_ids:
            return "spec.identity"
        return None

    def scale_change(self, obj: ComputeResource, observed: Observation) -> JsonDict | None:
        assert isinstance(obj, ComputeCluster)
        wanted = self._scale(obj)
        actual = observed.properties.get("scaleSettings") or {}
        for key, value in wanted.items():
            if key == "nodeIdleTimeBeforeScaleDown":
                if str(actual.get(key) or "").upper() != str(value).upper():
                    return wanted
            elif actual.get(key) != value:
                return wanted
        return None

    def power_action(self, obj: ComputeResource, observed: Observation) -> Literal["Start", "Stop"] | None:
        return None

    def settled(self, obj: ComputeResource, observed: Observation) -> str | None:
        return None  # Resizing is normal life for a cluster that follows its job queue

    def fill_status(self, status: ComputeStatusBase, observed: Observation) -> None:
        assert isinstance(status, ComputeClusterStatus)
        props = observed.properties
        status.allocation_state = props.get("allocationState")
        status.allocation_state_transition_time = _time(props.get("allocationStateTransitionTime"))
        status.current_node_count = props.get("currentNodeCount")
        status.target_node_count = props.get("targetNodeCount")
        counts = props.get("nodeStateCounts")
        status.node_state_counts = NodeStateCounts.model_validate(counts) if isinstance(counts, dict) else None
        status.errors = azure_errors(observed)
        status.enable_node_public_ip = props.get("enableNodePublicIp")
        status.remote_login_port_public_access = props.get("remoteLoginPortPublicAccess")
        identity = observed.resource.get("identity")
        status.identity = IdentityStatus(
            type=identity.get("type"), principal_id=identity.get("principalId"), tenant_id=identity.get("tenantId"),
            user_assigned_identities=sorted(identity.get("userAssignedIdentities") or {}),
        ) if isinstance(identity, dict) else None

    async def prechecks(self, obj: ComputeResource, client: ComputeClient, target: WorkspaceTarget,
                        location: str) -> Refusal | None:
        assert isinstance(obj, ComputeCluster)
        spec = obj.spec
        size = check_vm_size(await client.vm_sizes(target, location), spec.vm_size, location,
                             compute_type=self.compute_type)
        if isinstance(size, Refusal):
            return size
        low_priority = spec.vm_priority == "LowPriority"
        if low_priority and (refusal := check_low_priority(size, location)) is not None:
            return refusal
        scale = spec.scale_settings
        return check_quota(await client.usages(target, location), size, max(scale.min_node_count, 1),
                           low_priority, location, max_nodes=scale.max_node_count)
