"""ComputeInstance: a personal Azure ML development VM that the operator starts and stops."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from .base import ApiModel, PrinterColumn, age_column, ready_column, reason_column, state_column
from .common import (
    DELETION_POLICY_TEXT,
    MAX_SSH_PUBLIC_KEY,
    AzureError,
    ComputeResource,
    ComputeSpecBase,
    ComputeStatusBase,
    DeletionPolicy,
    compute_name_field,
    ssh_public_key_rule,
    subnet_id_field,
    vm_size_field,
)
from .names import COMPUTE_NAME, NameLength
from .references import GUID_PATTERN
from .schema import immutable_optional, immutable_value, rule, validations

SshPublicAccess = Literal["Enabled", "Disabled"]
ApplicationSharingPolicy = Literal["Personal", "Shared"]
InstanceState = Literal["Running", "Stopped"]
WeekDay = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
Frequency = Literal["Minute", "Hour", "Day", "Week", "Month"]
ScriptSource = Literal["workspace", "inline"]
Hour = Annotated[int, Field(ge=0, le=23)]
Minute = Annotated[int, Field(ge=0, le=59)]
MonthDay = Annotated[int, Field(ge=1, le=31)]

IDLE_MIN = "PT15M"
IDLE_MAX = "P3D"
# An ISO-8601 duration in days, hours, minutes and seconds (months and years are not durations Azure accepts here).
_DURATION_PATTERN = "^P([0-9]+D)?(T([0-9]+H)?([0-9]+M)?([0-9]+S)?)?$"


def _duration_part(unit: str, seconds: int) -> str:
    return f"(self.matches('[0-9]+{unit}') ? int(self.find('[0-9]+{unit}').replace('{unit}', '')) * {seconds} : 0)"


# The bounds are the service's: "Minimum is 15 min, maximum is 3 days" (ComputeInstanceProperties.
# idleTimeBeforeShutdown in the 2025-09-01 specification, machineLearningServices.json).
_IDLE_SECONDS = " + ".join(_duration_part(u, s) for u, s in (("D", 86400), ("H", 3600), ("M", 60), ("S", 1)))
IDLE_RULES = (
    rule(
        f"self.matches('{_DURATION_PATTERN}') && self != 'P' && !self.endsWith('T')",
        "spec.idleTimeBeforeShutdown must be an ISO-8601 duration in days, hours, minutes or seconds, e.g. PT30M",
        reason="FieldValueInvalid",
    ),
    rule(
        f"!self.matches('{_DURATION_PATTERN}') || ({_IDLE_SECONDS} >= 900 && {_IDLE_SECONDS} <= 259200)",
        f"spec.idleTimeBeforeShutdown must be between 15 minutes ({IDLE_MIN}) and 3 days ({IDLE_MAX}), "
        "the service's bounds",
        reason="FieldValueInvalid",
    ),
)


def _guid_field(shown_as: str, description: str) -> Any:
    return Field(
        max_length=36,
        description=description,
        json_schema_extra=validations(
            rule(
                f"self.matches('^{GUID_PATTERN}$')",
                f"{shown_as} must be a GUID such as 00000000-0000-0000-0000-000000000000",
                reason="FieldValueInvalid",
            )
        ),
    )


class SshSettings(ApiModel):
    """SSH access to the instance: off by default and fixed when the instance is created."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.publicAccess != 'Enabled' || has(self.adminPublicKey)",
                "spec.ssh.adminPublicKey is required when spec.ssh.publicAccess is Enabled",
                reason="FieldValueRequired",
                field_path=".adminPublicKey",
            )
        )
    )

    public_access: SshPublicAccess = Field(
        "Disabled",
        description="Enabled opens SSH (needed for VS Code Remote); default Disabled. Immutable: "
        "Azure cannot change it after creation.",
        json_schema_extra=validations(immutable_value("spec.ssh.publicAccess")),
    )
    admin_public_key: str | None = Field(
        None,
        max_length=MAX_SSH_PUBLIC_KEY,
        description="OpenSSH public key of the azureuser account; required when publicAccess is Enabled.",
        json_schema_extra=validations(ssh_public_key_rule("spec.ssh.adminPublicKey")),
    )


class AssignedUser(ApiModel):
    """The Azure AD user the instance is created for (only that user can use it)."""

    object_id: str = _guid_field("spec.assignedUser.objectId", "Azure AD object id of the user.")
    tenant_id: str = _guid_field("spec.assignedUser.tenantId", "Azure AD tenant id of the user.")


class ScheduleRecurrence(ApiModel):
    """When a recurring schedule fires: every interval minutes/hours, or at hours:minutes on some days."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.frequency in ['Minute', 'Hour'] || (has(self.hours) && has(self.minutes))",
                "spec.schedules[].recurrence.hours and minutes are required for a Day, Week or Month frequency",
                reason="FieldValueRequired",
            ),
        )
    )

    frequency: Frequency = Field(description="Minute, Hour, Day, Week or Month.")
    interval: int = Field(1, ge=1, le=1000, description="Every how many frequency units it fires. Default 1.")
    hours: list[Hour] | None = Field(None, max_length=24, description="Hours of the day (0-23) it fires at.")
    minutes: list[Minute] | None = Field(None, max_length=60, description="Minutes of the hour (0-59) it fires at.")
    week_days: list[WeekDay] | None = Field(
        None, max_length=7, description="Days of the week (Week frequency), e.g. Monday ... Friday."
    )
    month_days: list[MonthDay] | None = Field(None, max_length=31, description="Days of the month (Month frequency).")


class InstanceSchedule(ApiModel):
    """Start or stop the instance at set times (Azure's computeStartStop schedule)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.cron) != has(self.recurrence)",
                "spec.schedules[] needs exactly one of cron or recurrence",
                reason="FieldValueInvalid",
            ),
        )
    )

    action: Literal["Start", "Stop"] = Field(description="Start or Stop.")
    enabled: bool = Field(True, description="false keeps the schedule in Azure but disabled. Default true.")
    cron: str | None = Field(
        None,
        max_length=128,
        description="NCrontab expression of five fields (minute hour day-of-month month day-of-week), e.g. "
        "'0 18 * * 1-5' for 18:00 on weekdays.",
        json_schema_extra=validations(
            rule(
                "self.matches('^[^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+$')",
                "spec.schedules[].cron must have five fields: minute hour day-of-month month day-of-week",
                reason="FieldValueInvalid",
            )
        ),
    )
    recurrence: ScheduleRecurrence | None = Field(None, description="A recurrence instead of a cron expression.")
    time_zone: str = Field(
        "UTC",
        min_length=1,
        max_length=64,
        description="Time zone the times are in, as Azure names them: UTC, an IANA name (Europe/Berlin) or a "
        "Windows name (W. Europe Standard Time). Default UTC.",
    )


class SetupScript(ApiModel):
    """A script the instance runs: from the workspace's file share, or given inline."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.source == 'workspace' ? (has(self.path) && !has(self.command)) "
                ": (has(self.command) && !has(self.path))",
                "spec.setupScripts: source workspace needs path (and no command); source inline needs command "
                "(and no path)",
                reason="FieldValueInvalid",
            ),
        )
    )

    source: ScriptSource = Field(description="workspace (a file in the workspace file share) or inline.")
    path: str | None = Field(
        None, max_length=1024, description="Path of the script in the workspace file share, e.g. Users/me/setup.sh."
    )
    command: str | None = Field(
        None, max_length=16384, description="The script itself (inline); the operator sends it base64-encoded."
    )
    arguments: str | None = Field(None, max_length=1024, description="Arguments passed to the script.")
    timeout_minutes: int | None = Field(
        None, ge=1, le=1440, description="Minutes the script may run before it is stopped."
    )


class SetupScripts(ApiModel):
    """Scripts that customise the instance. Immutable: Azure runs them only as set at creation."""

    creation: SetupScript | None = Field(None, description="Runs once, when the instance is created.")
    startup: SetupScript | None = Field(None, description="Runs every time the instance starts.")


class ComputeInstanceSpec(ComputeSpecBase):
    """The compute instance as it should be in Azure."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            immutable_optional("subnetId", "spec.subnetId"),
            immutable_optional("assignedUser", "spec.assignedUser"),
            immutable_optional("enableNodePublicIp", "spec.enableNodePublicIp"),
            immutable_optional("setupScripts", "spec.setupScripts"),
            immutable_optional("enableSSO", "spec.enableSSO"),
            immutable_optional("enableRootAccess", "spec.enableRootAccess"),
            rule(
                "!has(self.enableNodePublicIp) || self.enableNodePublicIp || has(self.subnetId)",
                "spec.enableNodePublicIp false needs spec.subnetId: an instance without a public IP is reached "
                "through its virtual network",
                reason="FieldValueRequired",
                field_path=".subnetId",
            ),
        )
    )

    compute_name: str | None = compute_name_field(COMPUTE_NAME)
    deletion_policy: DeletionPolicy = Field("Delete", description=f"{DELETION_POLICY_TEXT} Default Delete.")
    vm_size: str = vm_size_field(
        "spec.vmSize", "Azure VM size, e.g. Standard_DS3_v2 (CPU) or Standard_NC6 (GPU). Immutable."
    )
    subnet_id: str | None = subnet_id_field("spec.subnetId", "Subnet of a virtual network to join. Immutable.")
    application_sharing_policy: ApplicationSharingPolicy = Field(
        "Shared",
        description="Shared: every workspace user may use the applications; Personal: only the creator. "
        "Default Shared. Immutable.",
        json_schema_extra=validations(immutable_value("spec.applicationSharingPolicy")),
    )
    ssh: SshSettings = Field(
        default_factory=SshSettings,
        description="SSH access (default: disabled).",
        # The whole default object, not {}: the API server checks defaults against the CEL rules,
        # and those read publicAccess.
        json_schema_extra=validations(default=SshSettings().to_json()),
    )
    assigned_user: AssignedUser | None = Field(
        None, description="Create the instance on behalf of this Azure AD user. Immutable."
    )
    state: InstanceState | None = Field(
        None,
        description="Running or Stopped: the operator starts or stops the instance to match, whatever schedules "
        "or idle shutdown did. Leave it unset to let Azure govern (spec.schedules, idle shutdown, users in the "
        "studio); status.lastOperation.operationTrigger then says who last started or stopped it. Can be changed.",
    )
    idle_time_before_shutdown: str | None = Field(
        None,
        max_length=32,
        description=f"Azure stops the instance after this much inactivity: an ISO-8601 duration from {IDLE_MIN} to "
        f"{IDLE_MAX}, e.g. PT30M. Can be changed.",
        json_schema_extra=validations(*IDLE_RULES),
    )
    schedules: list[InstanceSchedule] | None = Field(
        None,
        max_length=50,
        description="Start and stop the instance at set times (cron or recurrence, in a time zone). Can be changed: "
        "Azure updates them in place.",
    )
    setup_scripts: SetupScripts | None = Field(
        None, description="Creation and startup scripts. Immutable."
    )
    enable_node_public_ip: bool | None = Field(
        None,
        description="false: no public IP (needs spec.subnetId; reached through the virtual network). Azure's default "
        "is true. Immutable.",
    )
    enable_sso: bool | None = Field(
        None, alias="enableSSO", description="Single sign-on for the assigned user (Azure's default true). Immutable."
    )
    enable_root_access: bool | None = Field(
        None, description="sudo for users of the instance (Azure's default true). Immutable."
    )


class Application(ApiModel):
    """An application the instance serves."""

    display_name: str = Field("", description="Jupyter, JupyterLab, RStudio, ...")
    endpoint_uri: str = Field("", description="URL of the application.")


class ConnectivityEndpoints(ApiModel):
    """How to reach the instance on the network."""

    public_ip_address: str | None = Field(None, description="Public IP address, if any.")
    private_ip_address: str | None = Field(None, description="Private IP address in the virtual network.")


class SshStatus(ApiModel):
    """How to SSH to the instance when public access is enabled (no secret here)."""

    admin_user_name: str | None = Field(None, description="Administrator user name, e.g. azureuser.")
    ssh_port: int | None = Field(None, description="SSH port.")
    public_access: str | None = Field(None, description="Enabled or Disabled, as Azure reports it.")


class ScheduleStatus(ApiModel):
    """A schedule as Azure reports it."""

    id: str | None = Field(None, description="Azure's id of the schedule.")
    action: str | None = Field(None, description="Start or Stop.")
    status: str | None = Field(None, description="Enabled or Disabled.")
    provisioning_status: str | None = Field(None, description="Completed, Provisioning or Failed.")
    trigger_type: str | None = Field(None, description="Cron or Recurrence.")
    cron: str | None = Field(None, description="The cron expression.")
    recurrence: ScheduleRecurrence | None = Field(None, description="The recurrence.")
    time_zone: str | None = Field(None, description="The time zone.")


class SetupScriptStatus(ApiModel):
    """A setup script as Azure reports it."""

    kind: str = Field(description="creation or startup.")
    source: str | None = Field(None, description="workspace or inline.")
    path: str | None = Field(None, description="The path in the workspace file share (workspace scripts).")
    arguments: str | None = Field(None, description="Arguments.")
    timeout: str | None = Field(None, description="Timeout, as Azure reports it.")


class ComputeInstanceStatus(ComputeStatusBase):
    """Observed state of the instance in Azure."""

    state: str | None = Field(
        None,
        description="Azure state: Creating, Starting, Running, Stopping, Stopped, Restarting, "
        "JobRunning, Deleting, CreateFailed, Unusable, ...",
    )
    applications: list[Application] = Field(default_factory=list, description="Applications and their URLs.")
    connectivity_endpoints: ConnectivityEndpoints | None = Field(None, description="Network addresses.")
    ssh: SshStatus | None = Field(None, description="SSH user and port.")
    idle_time_before_shutdown: str | None = Field(None, description="Idle shutdown time as Azure reports it.")
    schedules: list[ScheduleStatus] = Field(default_factory=list, description="Schedules as Azure reports them.")
    enable_node_public_ip: bool | None = Field(None, description="Whether the instance has a public IP, per Azure.")
    enable_sso: bool | None = Field(None, alias="enableSSO", description="Single sign-on, per Azure.")
    enable_root_access: bool | None = Field(None, description="sudo for the instance's users, per Azure.")
    assigned_user_object_id: str | None = Field(
        None, description="Object id of the user a personal instance belongs to, per Azure."
    )
    setup_scripts: list[SetupScriptStatus] = Field(
        default_factory=list, description="Setup scripts as Azure reports them (without the inline script's text)."
    )
    errors: list[AzureError] = Field(default_factory=list, description="Errors Azure reports for the instance.")


class ComputeInstance(ComputeResource):
    """An Azure ML compute instance: a managed development VM with Jupyter, started and stopped by spec.state."""

    KIND: ClassVar[str] = "ComputeInstance"
    PLURAL: ClassVar[str] = "computeinstances"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("amlci",)
    NAME_LENGTH: ClassVar[NameLength] = COMPUTE_NAME
    DESCRIPTION: ClassVar[str] = (
        "ComputeInstance is an Azure ML compute instance: a managed development VM with Jupyter, "
        "JupyterLab and RStudio. spec.state starts and stops it."
    )
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        ready_column(),
        state_column(),
        PrinterColumn(name="Instance", type="string", json_path=".status.state", description="Running, Stopped, ..."),
        PrinterColumn(name="VM Size", type="string", json_path=".spec.vmSize", description="VM size."),
        PrinterColumn(name="Desired", type="string", json_path=".spec.state", description="Desired state.", priority=1),
        reason_column(),
        age_column(),
    )

    kind: Literal["ComputeInstance"] = Field("ComputeInstance", description="ComputeInstance.")
    spec: ComputeInstanceSpec = Field(description="The instance as it should be in Azure.")
    status: ComputeInstanceStatus = Field(
        default_factory=ComputeInstanceStatus, description="Observed state, written by the operator."
    )
