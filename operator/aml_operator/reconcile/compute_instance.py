"""ComputeInstance: the request body, start/stop to follow ``spec.state``, and the status.

``spec.state`` and Azure's own power management (schedules, idle shutdown, users in the studio) do not fight:
when ``spec.state`` is set the operator starts or stops the instance to match it, whatever a schedule did;
when it is unset the operator never starts or stops the instance and reports what Azure did, including
who did it (``lastOperation.operationTrigger``: User, Schedule or IdleShutdown).

Schedules change in place: the whole body is PUT again (api-version 2025-09-01 has no schedules action; a
PUT is the one way its specification gives). The idle time is set by the creating PUT and changed later with
the ``updateIdleShutdownSetting`` action, the route Azure's documentation gives for existing instances.
Setup scripts, the public IP choice and the personal-instance flags are fixed at creation.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal

from aml_operator.api.common import UNFINISHED, ComputeResource, ComputeStatusBase, LastOperation
from aml_operator.api.compute_instance import (
    Application,
    ComputeInstance,
    ComputeInstanceStatus,
    ConnectivityEndpoints,
    InstanceSchedule,
    ScheduleRecurrence,
    ScheduleStatus,
    SetupScript,
    SetupScriptStatus,
    SshStatus,
)
from aml_operator.reconcile.compute_cluster import azure_errors, same, subnet_differs
from aml_operator.reconcile.computes import DriverDefaults
from aml_operator.reconcile.external import ComputeClient, JsonDict, Observation, WorkspaceTarget
from aml_operator.reconcile.planner import Act
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
        if spec.idle_time_before_shutdown:
            props["idleTimeBeforeShutdown"] = spec.idle_time_before_shutdown
        if spec.schedules is not None:
            props["schedules"] = {"computeStartStop": [wire_schedule(s) for s in spec.schedules]}
        if spec.setup_scripts is not None:
            scripts = {key: wire_script(script) for key, script in (
                ("creationScript", spec.setup_scripts.creation), ("startupScript", spec.setup_scripts.startup))
                if script is not None}
            props["setupScripts"] = {"scripts": scripts}
        for key, value in (("enableNodePublicIp", spec.enable_node_public_ip), ("enableSSO", spec.enable_sso),
                           ("enableRootAccess", spec.enable_root_access)):
            if value is not None:
                props[key] = value
        return props

    def update_needed(self, obj: ComputeResource, observed: Observation) -> str | None:
        assert isinstance(obj, ComputeInstance)
        spec, props = obj.spec, observed.properties
        wanted = [wire_schedule(s) for s in spec.schedules or []]
        azure = ((props.get("schedules") or {}).get("computeStartStop") or [])
        if len(wanted) != len(azure) or any(not _covers(a, w) for a, w in zip(azure, wanted, strict=False)):
            return "spec.schedules"
        return None

    def action_needed(self, obj: ComputeResource, observed: Observation) -> Act | None:
        # Unset leaves Azure's idle time as it is: the action has no "remove" and a PUT cannot change it.
        assert isinstance(obj, ComputeInstance)
        wanted = obj.spec.idle_time_before_shutdown
        if wanted and not _same_duration(wanted, observed.properties.get("idleTimeBeforeShutdown")):
            return Act("updateIdleShutdownSetting", {"idleTimeBeforeShutdown": wanted}, "spec.idleTimeBeforeShutdown")
        return None

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
        public_ip = props.get("enableNodePublicIp")
        if spec.enable_node_public_ip is not None and public_ip is not None and public_ip != spec.enable_node_public_ip:
            mismatches.append(f"spec.enableNodePublicIp ({spec.enable_node_public_ip}; Azure has {public_ip})")
        return mismatches

    def scale_change(self, obj: ComputeResource, observed: Observation) -> JsonDict | None:
        return None

    @staticmethod
    def _state(observed: Observation) -> str:
        return str(observed.properties.get("state") or "")

    def power_action(self, obj: ComputeResource, observed: Observation) -> Literal["Start", "Stop"] | None:
        assert isinstance(obj, ComputeInstance)
        state = self._state(observed).lower()
        if obj.spec.state is None:
            return None  # Azure governs: schedules, idle shutdown and users start and stop it
        if obj.spec.state == "Running" and state in STOPPED_STATES:
            return "Start"
        if obj.spec.state == "Stopped" and state in RUNNING_STATES:
            return "Stop"
        return None

    def settled(self, obj: ComputeResource, observed: Observation) -> str | None:
        assert isinstance(obj, ComputeInstance)
        state = self._state(observed)
        if obj.spec.state is None:
            # Either rest state is fine when Azure governs; a start or stop in flight is still waited for.
            return None if state.lower() in RUNNING_STATES | STOPPED_STATES else (state or "Unknown")
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
        status.ssh = (SshStatus(admin_user_name=ssh.get("adminUserName"), ssh_port=ssh.get("sshPort"),
                                public_access=ssh.get("sshPublicAccess"))
                      if isinstance(ssh, dict) else None)
        status.enable_sso = props.get("enableSSO")
        status.enable_root_access = props.get("enableRootAccess")
        personal = props.get("personalComputeInstanceSettings") or {}
        status.assigned_user_object_id = (personal.get("assignedUser") or {}).get("objectId") or None
        status.errors = azure_errors(observed)
        status.idle_time_before_shutdown = props.get("idleTimeBeforeShutdown")
        status.schedules = [_schedule_status(s) for s in (props.get("schedules") or {}).get("computeStartStop") or []
                            if isinstance(s, dict)]
        status.enable_node_public_ip = props.get("enableNodePublicIp")
        scripts = (props.get("setupScripts") or {}).get("scripts") or {}
        status.setup_scripts = [
            SetupScriptStatus(kind=kind, source=script.get("scriptSource"), arguments=script.get("scriptArguments"),
                              timeout=script.get("timeout"),
                              path=script.get("scriptData") if script.get("scriptSource") == "workspace" else None)
            for kind, script in (("creation", scripts.get("creationScript")), ("startup", scripts.get("startupScript")))
            if isinstance(script, dict)]
        azure_op = props.get("lastOperation")
        ours = status.last_operation
        # Our own operation bookkeeping wins while it runs; at rest, show what Azure last did.
        if isinstance(azure_op, dict) and (ours is None or ours.operation_status not in UNFINISHED):
            status.last_operation = LastOperation(
                operation_name=str(azure_op.get("operationName") or ""),
                operation_status=str(azure_op.get("operationStatus") or ""),
                operation_time=azure_op.get("operationTime"),
                operation_trigger=azure_op.get("operationTrigger"),
            )

    async def prechecks(self, obj: ComputeResource, client: ComputeClient, target: WorkspaceTarget,
                        location: str) -> Refusal | None:
        assert isinstance(obj, ComputeInstance)
        size = check_vm_size(await client.vm_sizes(target, location), obj.spec.vm_size, location,
                             compute_type=self.compute_type)
        if isinstance(size, Refusal):
            return size
        return check_quota(await client.usages(target, location), size, 1, False, location)


def wire_schedule(schedule: InstanceSchedule) -> JsonDict:
    """A spec schedule as 2025-09-01's ComputeStartStopSchedule."""
    body: JsonDict = {"action": schedule.action, "status": "Enabled" if schedule.enabled else "Disabled"}
    if schedule.cron is not None:
        body["triggerType"] = "Cron"
        body["cron"] = {"expression": schedule.cron, "timeZone": schedule.time_zone}
        return body
    rec = schedule.recurrence
    assert rec is not None  # admission requires cron or recurrence
    recurrence: JsonDict = {"frequency": rec.frequency, "interval": rec.interval, "timeZone": schedule.time_zone}
    pattern = {key: value for key, value in (("hours", rec.hours), ("minutes", rec.minutes),
                                             ("weekDays", rec.week_days), ("monthDays", rec.month_days))
               if value is not None}
    if pattern:
        recurrence["schedule"] = pattern
    body["triggerType"] = "Recurrence"
    body["recurrence"] = recurrence
    return body


def wire_script(script: SetupScript) -> JsonDict:
    """A spec setup script as 2025-09-01's ScriptReference (inline scripts travel base64-encoded)."""
    body: JsonDict = {"scriptSource": script.source}
    if script.source == "inline":
        body["scriptData"] = base64.b64encode((script.command or "").encode()).decode()
    else:
        body["scriptData"] = script.path
    if script.arguments:
        body["scriptArguments"] = script.arguments
    if script.timeout_minutes:
        body["timeout"] = f"{script.timeout_minutes}m"
    return body


def _covers(azure: Any, wanted: Any) -> bool:
    """Azure's value holds what we sent (it adds ids and provisioning status, and may change the casing)."""
    if isinstance(wanted, dict):
        return isinstance(azure, dict) and all(_covers(azure.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(azure, list) and len(azure) == len(wanted) and all(
            _covers(a, w) for a, w in zip(azure, wanted, strict=True))
    if isinstance(wanted, str) and isinstance(azure, str):
        return wanted.lower() == azure.lower()
    return bool(azure == wanted)


def _same_duration(a: str | None, b: Any) -> bool:
    return str(a or "").upper() == str(b or "").upper()


def _schedule_status(item: JsonDict) -> ScheduleStatus:
    cron = item.get("cron") if isinstance(item.get("cron"), dict) else None
    rec = item.get("recurrence") if isinstance(item.get("recurrence"), dict) else None
    recurrence = None
    if rec is not None and rec.get("frequency"):
        pattern = rec.get("schedule") or {}
        recurrence = ScheduleRecurrence.model_validate({
            "frequency": rec["frequency"], "interval": rec.get("interval") or 1, "hours": pattern.get("hours"),
            "minutes": pattern.get("minutes"), "weekDays": pattern.get("weekDays"),
            "monthDays": pattern.get("monthDays")})
    return ScheduleStatus(id=item.get("id"), action=item.get("action"), status=item.get("status"),
                          provisioning_status=item.get("provisioningStatus"), trigger_type=item.get("triggerType"),
                          cron=cron.get("expression") if cron else None, recurrence=recurrence,
                          time_zone=(cron or rec or {}).get("timeZone"))
