"""ComputeInstance: the request body, start/stop to follow ``spec.state``, and the status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from aml_operator.api.common import ComputeResource, ComputeStatusBase, LastOperation
from aml_operator.api.compute_instance import (
    Application,
    ComputeInstance,
    ComputeInstanceStatus,
    ConnectivityEndpoints,
    SshStatus,
)
from aml_operator.reconcile.compute_cluster import azure_errors, same, subnet_differs
from aml_operator.reconcile.computes import DriverDefaults
from aml_operator.reconcile.external import ComputeClient, JsonDict, Observation, WorkspaceTarget
from aml_operator.reconcile.prechecks import Refusal, check_quota, check_vm_size

RUNNING_STATES = {"running", "jobrunning"}
STOPPED_STATES = {"stopped"}


class ComputeInstanceDriver(DriverDefaults):
    compute_type = "ComputeInstance"

    def desired_properties(self, obj: ComputeResource, secrets: Mapping[str, str]) -> JsonDict:
        assert isinstance(obj, ComputeInstance)
        spec = obj.spec
        ssh: JsonDict = {"sshPublicAccess": spec.ssh.public_access}
        if spec.ssh.admin_public_key:
            ssh["adminPublicKey"] = spec.ssh.admin_public_key
        props: JsonDict = {
            "vmSize": spec.vm_size,
            "applicationSharingPolicy": spec.application_sharing_policy,
            "sshSettings": ssh,
        }
        if spec.subnet_id:
            props["subnet"] = {"id": spec.subnet_id}
        if spec.assigned_user is not None:
            props["computeInstanceAuthorizationType"] = "personal"
            props["personalComputeInstanceSettings"] = {
                "assignedUser": {"objectId": spec.assigned_user.object_id, "tenantId": spec.assigned_user.tenant_id}
            }
        return props

    def identity(self, obj: ComputeResource) -> JsonDict | None:
        return None

    def immutable_mismatches(self, obj: ComputeResource, observed: Observation) -> list[str]:
        assert isinstance(obj, ComputeInstance)
        spec, props = obj.spec, observed.properties
        mismatches = []
        if props.get("vmSize") and not same(props["vmSize"], spec.vm_size):
            mismatches.append(f"spec.vmSize ({spec.vm_size}; Azure has {props['vmSize']})")
        ssh = props.get("sshSettings") or {}
        if ssh.get("sshPublicAccess") and not same(ssh["sshPublicAccess"], spec.ssh.public_access):
            mismatches.append(f"spec.ssh.publicAccess ({spec.ssh.public_access}; Azure has {ssh['sshPublicAccess']})")
        if subnet_differs(props, spec.subnet_id):
            mismatches.append("spec.subnetId")
        return mismatches

    def scale_change(self, obj: ComputeResource, observed: Observation) -> JsonDict | None:
        return None

    @staticmethod
    def _state(observed: Observation) -> str:
        return str(observed.properties.get("state") or "")

    def power_action(self, obj: ComputeResource, observed: Observation) -> Literal["Start", "Stop"] | None:
        assert isinstance(obj, ComputeInstance)
        state = self._state(observed).lower()
        if obj.spec.state == "Running" and state in STOPPED_STATES:
            return "Start"
        if obj.spec.state == "Stopped" and state in RUNNING_STATES:
            return "Stop"
        return None

    def settled(self, obj: ComputeResource, observed: Observation) -> str | None:
        assert isinstance(obj, ComputeInstance)
        state = self._state(observed)
        wanted = RUNNING_STATES if obj.spec.state == "Running" else STOPPED_STATES
        return None if state.lower() in wanted else (state or "Unknown")

    def fill_status(self, status: ComputeStatusBase, observed: Observation) -> None:
        assert isinstance(status, ComputeInstanceStatus)
        props = observed.properties
        status.state = props.get("state")
        status.applications = [Application.model_validate(a) for a in props.get("applications") or []
                               if isinstance(a, dict)]
        endpoints = props.get("connectivityEndpoints")
        status.connectivity_endpoints = (ConnectivityEndpoints.model_validate(endpoints)
                                         if isinstance(endpoints, dict) else None)
        ssh = props.get("sshSettings")
        status.ssh = (SshStatus(admin_user_name=ssh.get("adminUserName"), ssh_port=ssh.get("sshPort"))
                      if isinstance(ssh, dict) else None)
        status.errors = azure_errors(observed)
        azure_op = props.get("lastOperation")
        ours = status.last_operation
        # Our own operation bookkeeping wins while it runs; at rest, show what Azure last did.
        if isinstance(azure_op, dict) and (ours is None or ours.operation_status not in ("Pending", "InProgress")):
            status.last_operation = LastOperation(
                operation_name=str(azure_op.get("operationName") or ""),
                operation_status=str(azure_op.get("operationStatus") or ""),
                operation_time=azure_op.get("operationTime"),
            )

    async def prechecks(self, obj: ComputeResource, client: ComputeClient, target: WorkspaceTarget,
                        location: str) -> Refusal | None:
        assert isinstance(obj, ComputeInstance)
        size = check_vm_size(await client.vm_sizes(target, location), obj.spec.vm_size, location,
                             compute_type=self.compute_type)
        if isinstance(size, Refusal):
            return size
        return check_quota(await client.usages(target, location), size, 1, False, location)
