"""The default profile answers as recorded Azure traffic does (tests/emulator/recordings hold the sources)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from aml_emulator.testing import run_emulator

from .conftest import VM_ID, Arm, aml_body, instance_body

NEWER = "2023-08-01-preview"  # what azure-ai-ml sends for computes


@pytest.fixture
async def slow_arm() -> AsyncIterator[Arm]:
    """Operations stay in flight until the test moves the clock; a VM to attach."""
    config: dict[str, Any] = {"timing": {"scale": 1000}, "resources": [{"id": VM_ID}]}
    async with run_emulator(config, retry_after=None) as emu, aiohttp.ClientSession() as session:
        yield Arm(emu, session, emu.ssl_context())


async def _advance(arm: Arm) -> None:
    await arm.running.acontrol("POST", "clock", {"advance_seconds": 1e6})


async def test_put_on_existing_is_201_creating_and_nothing_asks_for_faster_polling(
    slow_arm: Arm, unique: Callable[[str], str]
) -> None:
    arm, name = slow_arm, unique("u")
    created = await arm.call("PUT", arm.compute_path(name), json=aml_body(), api_version=NEWER)
    assert created.status == 201 and "Retry-After" not in created.headers and "Location" not in created.headers
    assert f"api-version={NEWER}" in created.headers["Azure-AsyncOperation"]
    status = await arm.call("GET", created.headers["Azure-AsyncOperation"], api_version=None)
    assert status.body == {"status": "InProgress"} and "Retry-After" not in status.headers
    await _advance(arm)
    done = (await arm.call("GET", arm.compute_path(name), api_version=NEWER)).body
    assert done["properties"]["properties"]["scaleSettings"]["nodeIdleTimeBeforeScaleDown"] == "PT2M"
    assert done["tags"] == {} and done["properties"]["properties"]["subnet"] is None
    again = await arm.call("PUT", arm.compute_path(name), json=aml_body(min_nodes=1), api_version=NEWER)
    assert (again.status, again.body["properties"]["provisioningState"]) == (201, "Creating")
    await arm.running.acontrol("POST", "clock", {"advance_seconds": 500})  # update done, no node allocated yet
    resizing = (await arm.call("GET", arm.compute_path(name))).body["properties"]["properties"]
    assert (resizing["allocationState"], resizing["currentNodeCount"], resizing["targetNodeCount"]) == (
        "Resizing",
        0,
        1,
    )
    assert set(resizing["nodeStateCounts"].values()) == {0}


async def test_patch_is_202_after_2020_08_01_and_takes_the_v1_shape(
    slow_arm: Arm, unique: Callable[[str], str]
) -> None:
    arm, name = slow_arm, unique("p")
    await arm.call("PUT", arm.compute_path(name), json=aml_body())
    await _advance(arm)
    v1_body = {"properties": {"computeType": "AmlCompute", "properties": {"scaleSettings": {"maxNodeCount": 3}}}}
    patch = await arm.call("PATCH", arm.compute_path(name), json=v1_body, api_version="2020-02-02")
    assert (patch.status, patch.body) == (202, None)
    assert "computeOperationsStatus" in patch.headers["Azure-AsyncOperation"]
    await _advance(arm)
    body = (await arm.call("GET", arm.compute_path(name))).body
    assert body["properties"]["properties"]["scaleSettings"]["maxNodeCount"] == 3
    # Clients generated from 2020-08-01 (SDK 1.0.1) accept 200 only: that version keeps the synchronous answer.
    flat = await arm.call("PATCH", arm.compute_path(name), json={"properties": {"scaleSettings": {"maxNodeCount": 4}}})
    assert (flat.status, flat.body["properties"]["provisioningState"]) == (200, "Updating")


async def test_delete_of_a_creating_compute_is_202_and_cancels_the_create(
    slow_arm: Arm, unique: Callable[[str], str]
) -> None:
    arm, name = slow_arm, unique("d")
    created = await arm.call("PUT", arm.compute_path(name), json=aml_body())
    deleted = await arm.call("DELETE", arm.compute_path(name))  # no underlyingResourceAction
    assert (deleted.status, deleted.body) == (202, None) and "Location" not in deleted.headers
    again = await arm.call("DELETE", arm.compute_path(name) + "?underlyingResourceAction=Delete")
    assert again.headers["Azure-AsyncOperation"] == deleted.headers["Azure-AsyncOperation"]
    create_status = await arm.call("GET", created.headers["Azure-AsyncOperation"], api_version=None)
    assert create_status.body["status"] == "Canceled"
    await _advance(arm)
    assert (await arm.call("GET", arm.compute_path(name))).status == 404


async def test_instance_reports_its_ssh_port_and_stop_is_202(slow_arm: Arm, unique: Callable[[str], str]) -> None:
    arm, name = slow_arm, unique("ci")
    await arm.call("PUT", arm.compute_path(name), json=instance_body())
    await _advance(arm)
    ssh = (await arm.call("GET", arm.compute_path(name))).body["properties"]["properties"]["sshSettings"]
    assert ssh["sshPublicAccess"] == "Disabled" and isinstance(ssh["sshPort"], int)
    stop = await arm.call("POST", arm.compute_path(name) + "/stop", api_version=NEWER)
    assert (stop.status, stop.body) == (202, None) and "Azure-AsyncOperation" in stop.headers


async def test_attached_vm_credentials_read_back_null(slow_arm: Arm, unique: Callable[[str], str]) -> None:
    arm, name = slow_arm, unique("vm")
    body = {
        "location": "westeurope",
        "properties": {
            "computeType": "VirtualMachine",
            "resourceId": VM_ID,
            "properties": {
                "sshPort": 22,
                "address": "10.0.0.9",
                "administratorAccount": {"username": "u", "password": "p"},
            },
        },
    }
    assert (await arm.call("PUT", arm.compute_path(name), json=body)).status == 201
    await _advance(arm)
    read = (await arm.call("GET", arm.compute_path(name))).body["properties"]["properties"]
    assert read["administratorAccount"] is None and read["address"] == "10.0.0.9"
    keys = await arm.call("POST", arm.compute_path(name) + "/listKeys")
    assert keys.body["administratorAccount"]["password"] == "p"


async def test_keys_of_later_api_versions_appear_only_from_them(slow_arm: Arm, unique: Callable[[str], str]) -> None:
    arm, name = slow_arm, unique("v")
    await arm.call("PUT", arm.compute_path(name), json=aml_body())
    old = (await arm.call("GET", arm.compute_path(name), api_version="2020-08-01")).body["properties"]
    new = (await arm.call("GET", arm.compute_path(name), api_version="2024-04-01")).body["properties"]
    assert "disableLocalAuth" not in old and "isolatedNetwork" not in old["properties"]
    assert old["properties"]["subnet"] is None  # null-when-unset keys belong to every version
    assert (new["disableLocalAuth"], new["provisioningWarnings"]) == (False, None)
    assert new["properties"]["enableBatchPrivateLink"] is False


async def test_enums_match_case_insensitively(arm: Arm, unique: Callable[[str], str]) -> None:
    name = unique("e")
    reply = await arm.call(
        "PUT", arm.compute_path(name), json=aml_body(vmPriority="dedicated"), api_version="2020-02-02"
    )
    assert reply.status == 201 and reply.body["properties"]["properties"]["vmPriority"] == "Dedicated"
    bad = await arm.call("PUT", arm.compute_path(unique("e")), json=aml_body(vmPriority="cheap"))
    assert (bad.status, bad.body["error"]["target"]) == (400, "properties.properties.vmPriority")
