"""Each refusal the issue lists, seen through the SDK as the typed error a client handles."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from aml_emulator.testing import RunningEmulator

from .conftest import AKS_ID, HDI_ID, VM_ID, aml_body, instance_body, settle


def _put(emu: RunningEmulator, name: str, body: dict[str, Any], workspace: str | None = None) -> Any:
    ops = emu.client().machine_learning_compute
    raw = json.dumps(body).encode()
    return ops.begin_create_or_update(emu.resource_group, workspace or emu.workspace, name, raw)


def _refused(emu: RunningEmulator, name: str, body: dict[str, Any], workspace: str | None = None) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as caught:
        _put(emu, name, body, workspace)
    return caught.value


@pytest.mark.parametrize(
    ("name", "body", "why"),
    [
        ("ab", aml_body(), "between 3 and 24"),
        ("a" * 25, aml_body(), "between 3 and 24"),
        ("1cluster", aml_body(), "start with a letter"),
        ("my_cluster", aml_body(), "Valid characters"),
        ("cluster-1", aml_body(), "followed by at least one letter"),
        ("aks-cluster-number-1", {"properties": {"computeType": "AKS"}}, "between 2 and 16"),
        ("ci-2", instance_body(), "followed by at least one letter"),
    ],
)
def test_invalid_names_are_refused_with_the_rule_broken(
    strict_emulator: RunningEmulator, name: str, body: dict[str, Any], why: str
) -> None:
    error = _refused(strict_emulator, name, body)
    assert error.status_code == 400
    assert error.error.code == "InvalidComputeName"
    assert why in error.error.message
    assert error.error.target == "computeName"


def test_valid_names_with_hyphens_followed_by_letters_are_accepted(
    strict_emulator: RunningEmulator, unique: Callable[[str], str]
) -> None:
    name = f"gpu-{unique('x')}-a"
    poller = _put(strict_emulator, name, aml_body())
    assert poller.status() in ("InProgress", "Succeeded")


def test_vm_size_not_offered_in_the_region(strict_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    error = _refused(strict_emulator, unique("c"), aml_body("Standard_NC6", location="northeurope"), "ws-north")
    assert (error.status_code, error.error.code) == (400, "InvalidPropertyValue")
    assert "Standard_NC6" in error.error.message
    assert error.error.details[0].code == "SupportedVMSizes"
    assert "STANDARD_DS3_V2" in error.error.details[0].message.split(",")


def test_vm_size_unknown_for_compute_instance(strict_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    # Standard_D1_v2 supports AmlCompute only in the real catalogue.
    error = _refused(strict_emulator, unique("c"), instance_body("Standard_D1_v2"))
    assert error.error.code == "InvalidPropertyValue"


def test_low_priority_on_a_size_that_cannot(strict_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    body = aml_body("Standard_NoLowPri_v1", location="northeurope", vmPriority="LowPriority")
    error = _refused(strict_emulator, unique("c"), body, "ws-north")
    assert (error.error.code, error.error.target) == ("InvalidPropertyValue", "properties.properties.vmPriority")


def test_immutable_property_change_on_put(strict_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    name = unique("c")
    _put(strict_emulator, name, aml_body("Standard_DS3_v2"))
    settle(strict_emulator)
    error = _refused(strict_emulator, name, aml_body("Standard_DS4_v2"))
    assert (error.error.code, error.error.target) == ("PropertyChangeNotAllowed", "properties.properties.vmSize")
    # The same size in other casing, and a scale change, are an ordinary update.
    poller = _put(strict_emulator, name, aml_body("STANDARD_DS3_V2", max_nodes=8))
    settle(strict_emulator)
    assert poller.result().properties.properties.scale_settings.max_node_count == 8


@pytest.mark.parametrize(("compute_type", "resource_id"), [("VirtualMachine", VM_ID), ("HDInsight", HDI_ID)])
def test_attach_without_credentials(
    strict_emulator: RunningEmulator, unique: Callable[[str], str], compute_type: str, resource_id: str
) -> None:
    body = {
        "properties": {
            "computeType": compute_type,
            "resourceId": resource_id,
            "properties": {"address": "10.0.0.4", "sshPort": 22, "administratorAccount": {"username": "azureuser"}},
        }
    }
    error = _refused(strict_emulator, unique("c"), body)
    assert error.error.code == "MissingRequiredProperty"
    assert "password" in error.error.target


def test_attach_a_resource_that_does_not_exist(strict_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    missing = AKS_ID.replace("aks-existing", "aks-missing")
    error = _refused(strict_emulator, unique("c"), {"properties": {"computeType": "AKS", "resourceId": missing}})
    assert (error.error.code, error.error.target) == ("InvalidResourceReference", "properties.resourceId")


def test_attach_only_types_need_a_resource_id(strict_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    error = _refused(strict_emulator, unique("c"), {"properties": {"computeType": "Databricks"}})
    assert error.error.code == "MissingRequiredProperty"


def test_quota_exceeded_per_family_with_the_live_wording(
    strict_emulator: RunningEmulator, unique: Callable[[str], str]
) -> None:
    # NCSv3 has no default quota (as NCv3 in the real ListUsages example).
    error = _refused(strict_emulator, unique("c"), aml_body("Standard_NC6s_v3"))
    assert (error.status_code, error.error.code) == (400, "BadRequest")
    assert error.error.message.startswith(
        "The specified subscription has a Standard NCSv3 family vCPU quota of 0 and cannot accomodate for at least "
        "1 requested managed compute nodes which maps to 6 vCPUs."
    )


def test_quota_counts_nodes_already_held(strict_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    emu = strict_emulator
    # Standard NV family: 24 vCPUs by default; NV12 has 12. Two clusters of one node fit, the third does not.
    first, second = unique("c"), unique("c")
    _put(emu, first, aml_body("Standard_NV12", min_nodes=1))
    _put(emu, second, aml_body("Standard_NV12", min_nodes=1))
    settle(emu)
    error = _refused(emu, unique("c"), aml_body("Standard_NV12", min_nodes=1))
    assert "Standard NV family vCPU quota of 24" in error.error.message
    usages = {u.name.value: u for u in emu.client().usages.list("westeurope") if "vmFamily/dedicatedCores" in u.type}
    assert usages["StandardNVFamily"].current_value == 24


def test_aks_below_12_vcpus_needs_dev_test_purpose(
    strict_emulator: RunningEmulator, unique: Callable[[str], str]
) -> None:
    small = {"properties": {"computeType": "AKS", "properties": {"agentCount": 2, "agentVmSize": "Standard_D3_v2"}}}
    error = _refused(strict_emulator, unique("k"), small)
    assert (error.error.code, error.error.target) == ("InvalidPropertyValue", "properties.properties.agentCount")
    small["properties"]["properties"]["clusterPurpose"] = "DevTest"  # type: ignore[index]
    assert _put(strict_emulator, unique("k"), small).status() == "InProgress"


def test_missing_compute_is_resource_not_found(strict_emulator: RunningEmulator) -> None:
    ops = strict_emulator.client().machine_learning_compute
    with pytest.raises(ResourceNotFoundError) as caught:
        ops.get(strict_emulator.resource_group, strict_emulator.workspace, "nothere")
    assert caught.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError):
        ops.get(strict_emulator.resource_group, "no-such-ws", "nothere")


def test_operations_on_a_busy_compute_conflict(strict_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    emu = strict_emulator
    ops = emu.client().machine_learning_compute
    name = unique("c")
    _put(emu, name, aml_body())  # stays Creating until the clock moves
    with pytest.raises(ResourceExistsError) as caught:
        _put(emu, name, aml_body(max_nodes=5))
    assert caught.value.status_code == 409 and caught.value.error.code == "Conflict"
    settle(emu)
    assert ops.get(emu.resource_group, emu.workspace, name).properties.provisioning_state == "Succeeded"


def test_instance_actions_need_the_right_state(strict_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    emu = strict_emulator
    ops = emu.client().machine_learning_compute
    name = unique("ci")
    _put(emu, name, instance_body())
    with pytest.raises(ResourceExistsError):
        ops.stop(emu.resource_group, emu.workspace, name)  # still Creating
    settle(emu)
    with pytest.raises(HttpResponseError) as caught:
        ops.start(emu.resource_group, emu.workspace, name)
    assert caught.value.error.code == "StartComputeInstanceOnlyAllowedInStoppedState"
    with pytest.raises(HttpResponseError) as caught:
        ops.list_nodes(emu.resource_group, emu.workspace, name).next()
    assert caught.value.error.code == "UserError"
    assert caught.value.error.message == "ComputeListNodes with computeType ComputeInstance is not supported."


def test_instance_names_are_unique_in_a_region(strict_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    name = unique("ci")
    _put(strict_emulator, name, instance_body())
    error = _refused(strict_emulator, name, instance_body(), "ws-other")
    assert "is not available. Reason: AlreadyExists" in error.error.message


def test_failed_compute_keeps_its_name_until_deleted(
    strict_emulator: RunningEmulator, unique: Callable[[str], str]
) -> None:
    emu = strict_emulator
    name = unique("f")
    emu.control("POST", "faults", {"route": "computes.createOrUpdate", "compute": name, "kind": "fail_operation"})
    try:
        poller = _put(emu, name, aml_body())
        settle(emu)
        with pytest.raises(HttpResponseError) as failed:
            poller.result()
        assert failed.value.error.code == "InternalServerError"
        compute = emu.client().machine_learning_compute.get(emu.resource_group, emu.workspace, name)
        assert compute.properties.provisioning_state == "Failed"
        assert compute.properties.provisioning_errors[0].error.code == "InternalServerError"
        error = _refused(emu, name, aml_body())
        assert "state Failed" in error.error.message
    finally:
        emu.control("DELETE", "faults")
