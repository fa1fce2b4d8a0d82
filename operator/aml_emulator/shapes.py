"""Keys the live service always sends on a compute, null when unset, as of the request's api-version.

Recorded responses carry every property of a compute type, unset ones as null, and clients rely on
their presence (azureml-core indexes `tags`, AmlCompute `subnet` and the AKS network keys directly).
Keys later api-versions added appear from the first version a recording shows them in, so a
2020-08-01 client sees no property its models lack. The 2020-08-01 examples omit unset keys, so the
spec profile leaves bodies as stored.
"""

from __future__ import annotations

from typing import Any

_ALWAYS_PRESENT: dict[str, tuple[str, ...]] = {
    "AmlCompute": (
        # As recorded (azure-cli-extensions test_compute_aml.yaml); userAccountCredentials stays absent when
        # unset: azureml-core tests for the key, then indexes into it.
        "vmPriority",
        "subnet",
        "currentNodeCount",
        "targetNodeCount",
        "nodeStateCounts",
        "allocationState",
        "errors",
        "virtualMachineImage",
    ),
    "ComputeInstance": ("subnet", "personalComputeInstanceSettings", "setupScripts", "schedules", "errors"),
    "AKS": (
        "clusterFqdn",
        "systemServices",
        "agentCount",
        "agentVmSize",
        "clusterPurpose",
        "sslConfiguration",
        "aksNetworkingConfiguration",
        "loadBalancerType",
        "loadBalancerSubnet",
    ),
    "VirtualMachine": ("virtualMachineSize", "sshPort", "address", "administratorAccount"),
    "HDInsight": ("sshPort", "address", "administratorAccount"),
    "Databricks": ("databricksAccessToken", "workspaceUrl"),
}
# (first recorded api-version, where, key, value when unset): tests/emulator/recordings name the sources.
_ADDED_LATER: tuple[tuple[str, str, str, Any], ...] = (
    ("2022-10-01-preview", "properties", "disableLocalAuth", False),
    ("2022-10-01-preview", "AmlCompute", "isolatedNetwork", False),
    ("2022-10-01-preview", "AmlCompute", "enableNodePublicIp", True),
    ("2022-10-01-preview", "AmlCompute", "propertyBag", {}),
    ("2022-10-01-preview", "ComputeInstance", "computeInstanceAuthorizationType", "personal"),
    ("2022-10-01-preview", "ComputeInstance", "autologgerSettings", None),
    ("2022-10-01-preview", "ComputeInstance", "dataMounts", None),
    ("2022-10-01-preview", "ComputeInstance", "customServices", []),
    ("2024-04-01", "properties", "provisioningWarnings", None),
    ("2024-04-01", "AmlCompute", "enableBatchPrivateLink", False),
)
# Credentials of attached machines are write-only on read in recorded traffic (the whole account, not
# only the password); listKeys returns them.
_HIDDEN_ON_READ: dict[str, tuple[str, ...]] = {
    "VirtualMachine": ("administratorAccount",),
    "HDInsight": ("administratorAccount",),
    "Databricks": ("databricksAccessToken",),
}


def _at_least(api_version: str, since: str) -> bool:
    # A preview sorts after the stable version of the same date, as its features do.
    return (api_version[:10], api_version[10:] != "") >= (since[:10], since[10:] != "")


def complete(body: dict[str, Any], api_version: str) -> dict[str, Any]:
    """The body as the live service renders it for `api_version`: every key of its compute type present."""
    body.setdefault("tags", {})
    props = body.get("properties")
    if not isinstance(props, dict):
        return body
    for key in ("description", "resourceId", "provisioningErrors"):
        props.setdefault(key, None)
    inner = props.get("properties")
    compute_type = str(props.get("computeType", ""))
    for since, where, key, value in _ADDED_LATER:
        if not _at_least(api_version, since):
            continue
        if where == "properties":
            props.setdefault(key, value)
        elif where == compute_type and isinstance(inner, dict):
            inner.setdefault(key, value)
    if not isinstance(inner, dict):
        return body
    for key in _ALWAYS_PRESENT.get(compute_type, ()):
        inner.setdefault(key, None)
    for key in _HIDDEN_ON_READ.get(compute_type, ()):
        inner[key] = None
    return body
