"""Azure ML's wire JSON for the fields the operator reads, as typed models of our own.

The SDK's 1.0.1 models follow api-version 2020-08-01 and drop what later versions added (``clusterPurpose``,
``schedules``, ``idleTimeBeforeShutdown``, the Kubernetes and SynapseSpark types). Every answer the adapter
reads, by GET or in a list, goes through these models instead: one parse for both, keeping exactly the
fields named here and ignoring the rest. A field of the wrong type makes the answer unreadable (the
adapter reports it as Azure's error) instead of surfacing later as a ``KeyError`` in a driver.

Keys are the wire's camelCase; ``dump`` gives back the JSON the reconcile core reads (``Observation``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

JsonDict = dict[str, Any]


class Wire(BaseModel):
    """A wire object: unknown keys ignored, keys kept as Azure spells them."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    def dump(self) -> JsonDict:
        # exclude_unset: a key Azure did not send stays absent (drivers tell "absent" from "null").
        return self.model_dump(by_alias=True, exclude_unset=True)


class ErrorDetail(Wire):
    code: str | None = None
    message: str | None = None


class ErrorItem(Wire):
    """``provisioningErrors[]`` / ``errors[]``: ``{"error": {...}}`` or, in some answers, the detail itself."""

    error: ErrorDetail | None = None
    code: str | None = None
    message: str | None = None


class SubnetRef(Wire):
    id: str | None = None


class ScaleSettings(Wire):
    maxNodeCount: int | None = None
    minNodeCount: int | None = None
    nodeIdleTimeBeforeScaleDown: str | None = None


class UserAccountCredentials(Wire):
    adminUserName: str | None = None
    adminUserSshPublicKey: str | None = None


class AmlComputeProperties(Wire):
    vmSize: str | None = None
    vmPriority: str | None = None
    osType: str | None = None
    subnet: SubnetRef | str | None = None
    scaleSettings: ScaleSettings | None = None
    userAccountCredentials: UserAccountCredentials | None = None
    remoteLoginPortPublicAccess: str | None = None
    enableNodePublicIp: bool | None = None
    allocationState: str | None = None
    allocationStateTransitionTime: str | None = None
    currentNodeCount: int | None = None
    targetNodeCount: int | None = None
    nodeStateCounts: dict[str, int] | None = None
    errors: list[ErrorItem] | None = None


class SshSettings(Wire):
    sshPublicAccess: str | None = None
    adminUserName: str | None = None
    sshPort: int | None = None
    adminPublicKey: str | None = None


class AssignedUser(Wire):
    objectId: str | None = None
    tenantId: str | None = None


class PersonalSettings(Wire):
    assignedUser: AssignedUser | None = None


class Application(Wire):
    displayName: str | None = None
    endpointUri: str | None = None


class ConnectivityEndpoints(Wire):
    publicIpAddress: str | None = None
    privateIpAddress: str | None = None


class LastOperation(Wire):
    operationName: str | None = None
    operationTime: str | None = None
    operationStatus: str | None = None
    operationTrigger: str | None = None
    """User, Schedule or IdleShutdown (2023-04-01 and later): who started or stopped the instance."""


class RecurrenceSchedule(Wire):
    hours: list[int] | None = None
    minutes: list[int] | None = None
    weekDays: list[str] | None = None
    monthDays: list[int] | None = None


class Recurrence(Wire):
    frequency: str | None = None
    interval: int | None = None
    startTime: str | None = None
    timeZone: str | None = None
    schedule: RecurrenceSchedule | None = None


class Cron(Wire):
    expression: str | None = None
    startTime: str | None = None
    timeZone: str | None = None


class StartStopSchedule(Wire):
    id: str | None = None
    provisioningStatus: str | None = None
    status: str | None = None
    action: str | None = None
    triggerType: str | None = None
    recurrence: Recurrence | None = None
    cron: Cron | None = None


class Schedules(Wire):
    computeStartStop: list[StartStopSchedule] | None = None


class ScriptReference(Wire):
    scriptSource: str | None = None
    scriptData: str | None = None
    scriptArguments: str | None = None
    timeout: str | None = None


class Scripts(Wire):
    creationScript: ScriptReference | None = None
    startupScript: ScriptReference | None = None


class SetupScripts(Wire):
    scripts: Scripts | None = None


class ComputeInstanceProperties(Wire):
    vmSize: str | None = None
    subnet: SubnetRef | str | None = None
    applicationSharingPolicy: str | None = None
    sshSettings: SshSettings | None = None
    computeInstanceAuthorizationType: str | None = None
    personalComputeInstanceSettings: PersonalSettings | None = None
    enableNodePublicIp: bool | None = None
    enableSSO: bool | None = None
    enableRootAccess: bool | None = None
    idleTimeBeforeShutdown: str | None = None
    schedules: Schedules | None = None
    setupScripts: SetupScripts | None = None
    state: str | None = None
    applications: list[Application] | None = None
    connectivityEndpoints: ConnectivityEndpoints | None = None
    lastOperation: LastOperation | None = None
    errors: list[ErrorItem] | None = None


class SslConfiguration(Wire):
    status: str | None = None
    cname: str | None = None
    leafDomainLabel: str | None = None
    overwriteExistingDomain: bool | None = None


class AksNetworking(Wire):
    subnetId: str | None = None
    serviceCidr: str | None = None
    dnsServiceIP: str | None = None
    dockerBridgeCidr: str | None = None


class SystemService(Wire):
    systemServiceType: str | None = None
    publicIpAddress: str | None = None
    version: str | None = None


class AksProperties(Wire):
    clusterFqdn: str | None = None
    systemServices: list[SystemService] | None = None
    agentCount: int | None = None
    agentVmSize: str | None = None
    clusterPurpose: str | None = None
    sslConfiguration: SslConfiguration | None = None
    aksNetworkingConfiguration: AksNetworking | None = None
    loadBalancerType: str | None = None
    loadBalancerSubnet: str | None = None


class SshMachineProperties(Wire):
    """VirtualMachine and HDInsight: where Azure ML reaches the machine (credentials never read back)."""

    address: str | None = None
    sshPort: int | None = None


class DataLakeAnalyticsProperties(Wire):
    dataLakeStoreAccountName: str | None = None


class InstanceTypeResources(Wire):
    # Azure lists every resource it knows, unset ones as null (e.g. "nvidia.com/gpu": null).
    requests: dict[str, str | None] | None = None
    limits: dict[str, str | None] | None = None


class InstanceType(Wire):
    nodeSelector: dict[str, str | None] | None = None
    resources: InstanceTypeResources | None = None


class KubernetesProperties(Wire):
    namespace: str | None = None
    defaultInstanceType: str | None = None
    instanceTypes: dict[str, InstanceType] | None = None
    extensionInstanceReleaseTrain: str | None = None
    vcName: str | None = None


class SynapseSparkProperties(Wire):
    nodeSize: str | None = None
    nodeSizeFamily: str | None = None
    nodeCount: int | None = None
    sparkVersion: str | None = None
    poolName: str | None = None
    workspaceName: str | None = None


class NoProperties(Wire):
    """Databricks and DataFactory: nothing the operator reads (the Databricks token is write-only)."""


PROPERTIES_BY_TYPE: dict[str, type[Wire]] = {
    "AmlCompute": AmlComputeProperties,
    "ComputeInstance": ComputeInstanceProperties,
    "AKS": AksProperties,
    "VirtualMachine": SshMachineProperties,
    "HDInsight": SshMachineProperties,
    "DataLakeAnalytics": DataLakeAnalyticsProperties,
    "Databricks": NoProperties,
    "DataFactory": NoProperties,
    "Kubernetes": KubernetesProperties,
    "SynapseSpark": SynapseSparkProperties,
}


class ComputeEnvelope(Wire):
    """``properties`` of a compute resource: what every compute type shares."""

    computeType: str | None = None
    computeLocation: str | None = None
    provisioningState: str | None = None
    description: str | None = None
    resourceId: str | None = None
    isAttachedCompute: bool | None = None
    provisioningErrors: list[ErrorItem] | None = None
    properties: JsonDict | None = Field(None, description="The per-type properties, parsed by PROPERTIES_BY_TYPE.")


class ComputeResource(Wire):
    id: str | None = None
    name: str | None = None
    location: str | None = None
    tags: dict[str, str] | None = None
    identity: JsonDict | None = None
    properties: ComputeEnvelope | None = None


class ComputeList(Wire):
    value: list[JsonDict] = Field(default_factory=list)
    nextLink: str | None = None


def parse_compute(raw: Any) -> JsonDict:
    """A compute as Azure sent it (GET, list item or PUT answer), reduced to the fields the operator reads."""
    resource = ComputeResource.model_validate(raw if isinstance(raw, dict) else {})
    body = resource.dump()
    envelope = resource.properties
    if envelope is not None and envelope.properties is not None:
        model = PROPERTIES_BY_TYPE.get(envelope.computeType or "")
        inner = model.model_validate(envelope.properties).dump() if model is not None else {}
        body["properties"]["properties"] = inner
    return body


class WorkspaceProperties(Wire):
    provisioningState: str | None = None


class Workspace(Wire):
    id: str | None = None
    name: str | None = None
    location: str | None = None
    properties: WorkspaceProperties | None = None


class VmSize(Wire):
    name: str = ""
    family: str = ""
    vCPUs: int = 0
    lowPriorityCapable: bool | None = None
    supportedComputeTypes: list[str] | None = None


class VmSizeList(Wire):
    value: list[VmSize] | None = None
    amlCompute: list[VmSize] | None = None
    """2020-08-01 listed the sizes under ``amlCompute``; later versions under ``value``."""


class UsageName(Wire):
    value: str | None = None
    localizedValue: str | None = None


class Usage(Wire):
    type: str = ""
    name: UsageName | str | None = None
    currentValue: int = 0
    limit: int = 0


class UsageList(Wire):
    value: list[Usage] = Field(default_factory=list)
    nextLink: str | None = None


class AsyncOperationError(Wire):
    code: str | None = None
    message: str | None = None


class AsyncOperation(Wire):
    """The body of an ``Azure-AsyncOperation`` URL."""

    status: str | None = None
    error: AsyncOperationError | None = None
