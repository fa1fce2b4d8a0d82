"""Keys the live service always sends on a compute, null when unset.

Recorded responses carry every property of a compute type, unset ones as null, and clients rely on
their presence (azureml-core indexes `tags`, AmlCompute `subnet` and the AKS network keys directly).
The 2020-08-01 examples omit them, so the spec profile leaves bodies as stored.
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
# Credentials of attached machines are write-only on read in recorded traffic (the whole account, not
# only the password); listKeys returns them.
_HIDDEN_ON_READ: dict[str, tuple[str, ...]] = {
    "VirtualMachine": ("administratorAccount",),
    "HDInsight": ("administratorAccount",),
    "Databricks": ("databricksAccessToken",),
}


def complete(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the live service renders it: every key of its compute type present."""
    body.setdefault("tags", {})
    props = body.get("properties")
    if not isinstance(props, dict):
        return body
    for key in ("description", "resourceId", "provisioningErrors", "disableLocalAuth"):
        props.setdefault(key, False if key == "disableLocalAuth" else None)
    inner = props.get("properties")
    compute_type = str(props.get("computeType", ""))
    if not isinstance(inner, dict):
        return body
    for key in _ALWAYS_PRESENT.get(compute_type, ()):
        inner.setdefault(key, None)
    for key in _HIDDEN_ON_READ.get(compute_type, ()):
        inner[key] = None
    return body
