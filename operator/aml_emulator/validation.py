"""The refusals of a compute PUT/PATCH: names, bodies, sizes, priorities, immutables, attach targets, quota."""

from __future__ import annotations

import re
from typing import Any

from . import schedules
from .catalog import Catalogue, VmSize, family_display
from .errors import ArmError, bad_request
from .state import ComputeRecord, Store, resource_type_of

COMPUTE_TYPES = (
    "AKS",
    "AmlCompute",
    "ComputeInstance",
    "DataFactory",
    "VirtualMachine",
    "HDInsight",
    "Databricks",
    "DataLakeAnalytics",
    "Kubernetes",  # 2021-04-01 and later: an AKS or Arc-enabled cluster with the Azure ML extension
    "SynapseSpark",  # 2021-04-01 and later: a Spark pool of a Synapse workspace
)
# The ARM resource type an attached compute's resourceId must point at.
UNDERLYING_TYPES = {
    "AKS": "microsoft.containerservice/managedclusters",
    "VirtualMachine": "microsoft.compute/virtualmachines",
    "HDInsight": "microsoft.hdinsight/clusters",
    "Databricks": "microsoft.databricks/workspaces",
    "DataLakeAnalytics": "microsoft.datalakeanalytics/accounts",
    "DataFactory": "microsoft.datafactory/factories",
    "Kubernetes": ("microsoft.containerservice/managedclusters", "microsoft.kubernetes/connectedclusters"),
    "SynapseSpark": "microsoft.synapse/workspaces/bigdatapools",
}
ATTACH_ONLY = {"VirtualMachine", "HDInsight", "Databricks", "DataLakeAnalytics", "Kubernetes", "SynapseSpark"}
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
AKS_PRODUCTION_MIN_VCPUS = 12
AKS_DEFAULT_AGENT_COUNT = 3
AKS_DEFAULT_AGENT_VM_SIZE = "Standard_D3_v2"
_NAME_CHARS = re.compile(r"^[A-Za-z0-9-]+$")
_QUOTA_HELP = (
    "Talk to your Subscription Admin or refer to "
    "https://docs.microsoft.com/azure/machine-learning/how-to-manage-quotas#request-quota-increases "
    "to increase the family quota"
)
_ENUMS: dict[str, tuple[str, tuple[str, ...]]] = {
    # inner property → (path shown in messages, allowed values)
    "vmPriority": ("properties.properties.vmPriority", ("Dedicated", "LowPriority")),
    "osType": ("properties.properties.osType", ("Linux", "Windows")),
    "remoteLoginPortPublicAccess": (
        "properties.properties.remoteLoginPortPublicAccess",
        ("Enabled", "Disabled", "NotSpecified"),
    ),
    "applicationSharingPolicy": ("properties.properties.applicationSharingPolicy", ("Personal", "Shared")),
}


def name_limits(compute_type: str) -> tuple[int, int]:
    return (2, 16) if compute_type == "AKS" else (3, 24)


def check_name(name: str, compute_type: str) -> None:
    low, high = name_limits(compute_type)
    problem = None
    if not low <= len(name) <= high:
        problem = f"The name must be between {low} and {high} characters long."
    elif not _NAME_CHARS.match(name):
        problem = "Valid characters are upper and lower case letters, digits, and the - character."
    elif not name[0].isalpha():
        problem = "The name must start with a letter."
    elif "-" in name and not any(ch.isalpha() for ch in name[name.rindex("-") + 1 :]):
        problem = "Each - character must be followed by at least one letter later in the name."
    if problem:
        raise bad_request(
            "InvalidComputeName",
            f"Compute name '{name}' is invalid for computeType {compute_type}. {problem}",
            target="computeName",
        )


def _missing(path: str, what: str) -> ArmError:
    return bad_request("MissingRequiredProperty", f"The property '{path}' is required: {what}.", target=path)


def _invalid(path: str, message: str, **kwargs: Any) -> ArmError:
    return bad_request("InvalidPropertyValue", message, target=path, **kwargs)


def check_body(body: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The compute type, `properties` and inner `properties.properties` of a PUT body."""
    if not isinstance(body, dict):
        raise bad_request("InvalidRequestContent", "The request content was invalid and could not be deserialized.")
    props = body.get("properties")
    if not isinstance(props, dict):
        raise _missing("properties", "a compute needs its properties")
    compute_type = props.get("computeType")
    if not isinstance(compute_type, str) or not compute_type:
        raise _missing("properties.computeType", "one of " + ", ".join(COMPUTE_TYPES))
    if compute_type not in COMPUTE_TYPES:
        raise bad_request(
            "InvalidRequestContent",
            f"The value '{compute_type}' of property 'properties.computeType' is not one of "
            + ", ".join(COMPUTE_TYPES)
            + ".",
            target="properties.computeType",
        )
    inner = props.get("properties")
    if inner is None:
        inner = {}
    if not isinstance(inner, dict):
        raise bad_request(
            "InvalidRequestContent",
            "The property 'properties.properties' must be an object.",
            target="properties.properties",
        )
    for key, (path, allowed) in _ENUMS.items():
        value = inner.get(key)
        if value is None:
            continue
        # Azure matches enum values case-insensitively (azureml-core sends vmPriority "dedicated") and
        # stores the canonical spelling.
        canonical = next((a for a in allowed if isinstance(value, str) and a.lower() == value.lower()), None)
        if canonical is None:
            raise _invalid(path, f"The value '{value}' of property '{path}' is not one of {', '.join(allowed)}.")
        inner[key] = canonical
    return compute_type, props, inner


def _size_for(catalogue: Catalogue, location: str, vm_size: str, compute_type: str, path: str) -> VmSize:
    size = catalogue.find(location, vm_size)
    if size is None or compute_type not in size.supported_compute_types:
        offered = [s.name.upper() for s in catalogue.sizes_in(location) if compute_type in s.supported_compute_types]
        # The live service's wording (Azure/MachineLearningNotebooks#1169), with the region made explicit.
        raise _invalid(
            path,
            f"The specified value {vm_size} for property Cluster.Properties.VMSize is not a supported VM size "
            f"for {compute_type} in region {location}. See additional details for supported VM sizes.",
            details=[{"code": "SupportedVMSizes", "message": ",".join(offered)}],
        )
    return size


def check_scale_settings(scale: Any, path: str) -> None:
    if not isinstance(scale, dict):
        raise _missing(path, "scaleSettings with maxNodeCount")
    maximum = scale.get("maxNodeCount")
    minimum = scale.get("minNodeCount", 0)
    if not isinstance(maximum, int) or isinstance(maximum, bool):
        raise _missing(f"{path}.maxNodeCount", "the maximum number of nodes")
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 0:
        raise _invalid(f"{path}.minNodeCount", f"minNodeCount must be a non-negative integer, not {minimum!r}.")
    if maximum < minimum:
        raise _invalid(
            f"{path}.maxNodeCount",
            f"maxNodeCount ({maximum}) must be greater than or equal to minNodeCount ({minimum}).",
        )


def check_aml_compute(catalogue: Catalogue, location: str, inner: dict[str, Any]) -> VmSize:
    vm_size = inner.get("vmSize")
    if not isinstance(vm_size, str) or not vm_size:
        raise _missing("properties.properties.vmSize", "the VM size of the cluster nodes")
    size = _size_for(catalogue, location, vm_size, "AmlCompute", "properties.properties.vmSize")
    check_scale_settings(inner.get("scaleSettings"), "properties.properties.scaleSettings")
    check_node_public_ip(inner)
    if inner.get("vmPriority") == "LowPriority" and not size.low_priority_capable:
        raise _invalid(
            "properties.properties.vmPriority",
            f"The specified VM size {vm_size} does not support low priority VMs "
            "(property Cluster.Properties.VmPriority). Use Dedicated or a low priority capable VM size.",
        )
    return size


def check_node_public_ip(inner: dict[str, Any]) -> None:
    """Nodes without a public IP are reached through their virtual network only, so one is required."""
    value = inner.get("enableNodePublicIp")
    if value is not None and not isinstance(value, bool):
        raise _invalid(
            "properties.properties.enableNodePublicIp", f"enableNodePublicIp must be true or false, not {value!r}."
        )
    if value is False and not inner.get("subnet"):
        raise _invalid(
            "properties.properties.enableNodePublicIp",
            "A compute without a public IP (enableNodePublicIp false) must be in a virtual network: set "
            "properties.properties.subnet.",
        )


def check_kubernetes(inner: dict[str, Any]) -> None:
    """A Kubernetes compute's namespace and instance types (2025-09-01 KubernetesProperties)."""
    base = "properties.properties"
    namespace = inner.get("namespace", "default")
    if not isinstance(namespace, str) or len(namespace) > 63 or not _K8S_NAME.match(namespace):
        raise _invalid(f"{base}.namespace", f"namespace must be a Kubernetes namespace name, not {namespace!r}.")
    types = inner.get("instanceTypes")
    if types is not None and not isinstance(types, dict):
        raise _invalid(f"{base}.instanceTypes", "instanceTypes must be an object keyed by instance type name.")
    for name, spec in (types or {}).items():
        if not _K8S_NAME.match(str(name)) or not isinstance(spec, dict):
            raise _invalid(f"{base}.instanceTypes.{name}", f"The instance type {name!r} is not valid.")
        resources = spec.get("resources") or {}
        for kind in ("requests", "limits"):
            if not isinstance(resources.get(kind) or {}, dict):
                raise _invalid(f"{base}.instanceTypes.{name}.resources.{kind}", f"{kind} must be an object.")
    default = inner.get("defaultInstanceType")
    if default is not None and types and default not in types:
        raise _invalid(f"{base}.defaultInstanceType",
                       f"defaultInstanceType {default!r} is not one of the instanceTypes ({', '.join(types)}).")


def check_compute_instance(catalogue: Catalogue, location: str, inner: dict[str, Any]) -> VmSize:
    vm_size = inner.get("vmSize")
    if not isinstance(vm_size, str) or not vm_size:
        raise _missing("properties.properties.vmSize", "the VM size of the compute instance")
    schedules.check_instance(inner)
    check_node_public_ip(inner)
    return _size_for(catalogue, location, vm_size, "ComputeInstance", "properties.properties.vmSize")


def check_aks_create(catalogue: Catalogue, inner: dict[str, Any]) -> None:
    agent_count = inner.get("agentCount", AKS_DEFAULT_AGENT_COUNT)
    if not isinstance(agent_count, int) or isinstance(agent_count, bool) or agent_count < 1:
        raise _invalid("properties.properties.agentCount", f"agentCount must be at least 1, not {agent_count!r}.")
    vm_size = str(inner.get("agentVmSize") or AKS_DEFAULT_AGENT_VM_SIZE)
    size = catalogue.any_region(vm_size)
    if size is None:
        raise _invalid("properties.properties.agentVmSize", f"The agent VM size '{vm_size}' is not known.")
    # clusterPurpose belongs to later api-versions; accepted here, absent meaning production.
    purpose = inner.get("clusterPurpose") or "FastProd"
    if purpose not in ("DevTest", "FastProd", "DenseProd"):
        raise _invalid(
            "properties.properties.clusterPurpose",
            f"The value '{purpose}' of property 'clusterPurpose' is not one of DevTest, FastProd, DenseProd.",
        )
    total = agent_count * size.vcpus
    if purpose != "DevTest" and total < AKS_PRODUCTION_MIN_VCPUS:
        raise _invalid(
            "properties.properties.agentCount",
            f"An AKS cluster for production ({purpose}) needs at least {AKS_PRODUCTION_MIN_VCPUS} vCPUs across "
            f"its agents; agentCount {agent_count} x {size.vcpus} vCPUs of {size.name} is {total}. Increase "
            "agentCount or agentVmSize, or set clusterPurpose to DevTest.",
        )


def check_attach(store: Store, compute_type: str, props: dict[str, Any], inner: dict[str, Any]) -> str | None:
    """The underlying resource id when this PUT attaches one, after checking it exists and has credentials."""
    resource_id = props.get("resourceId")
    if resource_id is None:
        if compute_type in ATTACH_ONLY:
            raise _missing("properties.resourceId", f"a {compute_type} compute can only be attached")
        return None
    if not isinstance(resource_id, str) or not resource_id.startswith("/subscriptions/"):
        raise _invalid("properties.resourceId", f"The resource id '{resource_id}' is not a valid ARM resource id.")
    expected = UNDERLYING_TYPES.get(compute_type)
    if expected is None:
        raise _invalid("properties.resourceId", f"A {compute_type} compute cannot attach an existing resource.")
    allowed = (expected,) if isinstance(expected, str) else expected
    if resource_type_of(resource_id) not in allowed:
        raise _invalid(
            "properties.resourceId",
            f"The resource '{resource_id}' is not of type '{' or '.join(allowed)}', which a {compute_type} compute "
            "attaches.",
        )
    if compute_type == "Kubernetes":
        check_kubernetes(inner)
    if resource_id.lower() not in store.resources:
        raise bad_request(
            "InvalidResourceReference",
            f"The resource '{resource_id}' referenced by property 'properties.resourceId' was not found.",
            target="properties.resourceId",
        )
    if compute_type in ("VirtualMachine", "HDInsight"):
        account = inner.get("administratorAccount")
        if not isinstance(account, dict) or not account.get("username"):
            raise _missing(
                "properties.properties.administratorAccount.username",
                f"attaching a {compute_type} needs the administrator account's username",
            )
        if not account.get("password") and not account.get("privateKeyData"):
            raise _missing(
                "properties.properties.administratorAccount.password",
                f"attaching a {compute_type} needs the administrator account's password or privateKeyData",
            )
    return resource_id


# Properties that only a create sets (assumption: the 2020-08-01 spec lets PATCH change scaleSettings only).
_IMMUTABLE_INNER = {
    "AmlCompute": ("vmSize", "vmPriority", "osType", "subnet", "userAccountCredentials", "enableNodePublicIp"),
    "ComputeInstance": (
        "vmSize",
        "subnet",
        "applicationSharingPolicy",
        "sshSettings",
        "personalComputeInstanceSettings",
        "computeInstanceAuthorizationType",
        # Network placement and what runs at creation are fixed once the VM exists (2025-09-01).
        "enableNodePublicIp",
        "setupScripts",
    ),
    "AKS": ("agentVmSize", "clusterPurpose", "aksNetworkingConfiguration"),
    "VirtualMachine": ("virtualMachineSize",),
    "Kubernetes": ("namespace",),
}


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, str) and isinstance(new, str):
        return old.lower() == new.lower()
    if isinstance(old, dict) and isinstance(new, dict):
        return all(_same(old.get(k), v) for k, v in new.items() if k not in ("adminUserName", "sshPort"))
    return bool(old == new)


def check_immutables(record: ComputeRecord, body: dict[str, Any], props: dict[str, Any], inner: dict[str, Any]) -> None:
    def refuse(path: str, old: Any, new: Any) -> ArmError:
        return bad_request(
            "PropertyChangeNotAllowed",
            f"Changing property '{path}' is not allowed: the compute '{record.name}' has {old!r}, the request has "
            f"{new!r}. Delete the compute and create it again to change it.",
            target=path,
        )

    if props.get("computeType") != record.compute_type:
        raise refuse("properties.computeType", record.compute_type, props.get("computeType"))
    location = body.get("location")
    if location is not None and not _same(record.resource.get("location"), location):
        raise refuse("location", record.resource.get("location"), location)
    resource_id = props.get("resourceId")
    if resource_id is not None and not _same(record.props.get("resourceId"), resource_id):
        raise refuse("properties.resourceId", record.props.get("resourceId"), resource_id)
    for key in _IMMUTABLE_INNER.get(record.compute_type, ()):
        new = inner.get(key)
        if new is None:
            continue  # absent means unchanged: updateAmlCompute.json sends only scaleSettings
        old = record.inner.get(key)
        if key == "vmPriority" and old is None:
            old = "Dedicated"
        if not _same(old, new):
            raise refuse(f"properties.properties.{key}", old, new)


def check_quota(
    store: Store,
    usage: dict[tuple[str, bool], int],
    total_usage: dict[bool, int],
    location: str,
    size: VmSize,
    nodes: int,
    low_priority: bool,
    workspace_limit: int | None,
    workspace_usage: int,
) -> None:
    """Refuse with the live service's wording when even `nodes` nodes do not fit the regional quota."""
    quotas = store.config.quotas_for(location)
    needed = nodes * size.vcpus
    if low_priority:
        total_limit = quotas.total_low_priority_cores
        if total_usage.get(True, 0) + needed > total_limit:
            raise _quota_error(
                f"The specified subscription has a total low priority vCPU quota of {total_limit} and cannot "
                f"accomodate for at least {nodes} requested managed compute node which maps to {needed} vCPUs. "
                + _QUOTA_HELP
            )
        return
    family_limit = _family_limit(quotas.dedicated_cores_per_family, quotas.default_family_dedicated_cores, size.family)
    if workspace_limit is not None:
        family_limit = min(family_limit, workspace_limit)
    family_used = max(usage.get((size.family.lower(), False), 0), workspace_usage if workspace_limit else 0)
    if family_used + needed > family_limit:
        raise _quota_error(
            f"The specified subscription has a {family_display(size.family)} family vCPU quota of {family_limit} "
            f"and cannot accomodate for at least {nodes} requested managed compute nodes which maps to {needed} "
            "vCPUs. " + _QUOTA_HELP
        )
    total_limit = quotas.total_dedicated_cores
    if total_usage.get(False, 0) + needed > total_limit:
        raise _quota_error(
            f"The specified subscription has a total vCPU quota of {total_limit} and cannot accomodate for at "
            f"least {nodes} requested managed compute node which maps to {needed} vCPUs. " + _QUOTA_HELP
        )


def _family_limit(limits: dict[str, int], default: int, family: str) -> int:
    for name, limit in limits.items():
        if name.lower() == family.lower():
            return limit
    return default


def family_limit(store: Store, location: str, family: str) -> int:
    quotas = store.config.quotas_for(location)
    return _family_limit(quotas.dedicated_cores_per_family, quotas.default_family_dedicated_cores, family)


def _quota_error(message: str) -> ArmError:
    # The service reports quota refusals of a create as 400 BadRequest with this text (see docs/emulator.md).
    return bad_request("BadRequest", message)
