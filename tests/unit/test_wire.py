"""Wire JSON through our own models: the fields the operator reads survive GET and list alike, at the
configured api-version, against the real emulator through the SDK client's pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from aml_emulator.testing import RunningEmulator, run_emulator
from aml_operator.azureapi import wire
from aml_operator.azureapi.clients import ClientFactory
from aml_operator.azureapi.computes import SdkComputeClient
from aml_operator.reconcile.credentials import ServicePrincipal
from aml_operator.reconcile.external import AzureError, WorkspaceTarget
from aml_operator.settings import AML_API_VERSION, Settings

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
TARGET = WorkspaceTarget(subscription_id=SUBSCRIPTION, resource_group="rg-ml", workspace_name="ws-ml")
SCHEDULES = {"computeStartStop": [
    {"action": "Start", "status": "Enabled", "triggerType": "Cron",
     "cron": {"expression": "0 8 * * 1-5", "timeZone": "UTC", "startTime": "2026-01-01T00:00:00"}},
    {"action": "Stop", "status": "Enabled", "triggerType": "Recurrence",
     "recurrence": {"frequency": "Week", "interval": 1, "timeZone": "UTC", "startTime": "2026-01-01T00:00:00",
                    "schedule": {"hours": [18], "minutes": [0],
                                 "weekDays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]}}},
]}


def test_fields_of_later_versions_are_kept_and_unknown_ones_dropped() -> None:
    body = wire.parse_compute({
        "id": "/x", "name": "aks", "location": "westeurope", "tags": {"a": "b"}, "systemData": {"createdBy": "me"},
        "properties": {"computeType": "AKS", "provisioningState": "Succeeded", "disableLocalAuth": True,
                       "properties": {"clusterPurpose": "DevTest", "agentCount": 3, "somethingNew": 1}},
    })
    assert body["properties"]["properties"] == {"clusterPurpose": "DevTest", "agentCount": 3}
    assert "systemData" not in body and "disableLocalAuth" not in body["properties"]
    assert body["tags"] == {"a": "b"}


def test_a_key_azure_did_not_send_stays_absent_and_null_stays_null() -> None:
    body = wire.parse_compute({"properties": {"computeType": "ComputeInstance",
                                              "properties": {"state": "Running", "subnet": None}}})
    assert body["properties"]["properties"] == {"state": "Running", "subnet": None}


def test_an_answer_of_the_wrong_shape_is_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="agentCount"):
        wire.parse_compute({"properties": {"computeType": "AKS", "properties": {"agentCount": "many"}}})


def test_settings_default_to_the_newest_stable_version_and_refuse_a_malformed_one() -> None:
    assert Settings.from_env({}).api_version == AML_API_VERSION == "2025-09-01"
    assert Settings.from_env({"AML_API_VERSION": "2020-08-01"}).api_version == "2020-08-01"
    with pytest.raises(ValueError, match="AML_API_VERSION"):
        Settings.from_env({"AML_API_VERSION": "latest"})


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(timing_scale=0, retry_after=0, profile="live") as running:
        yield running


def _adapter(emu: RunningEmulator, **settings: Any) -> tuple[ClientFactory, SdkComputeClient]:
    factory = ClientFactory(Settings(arm_endpoint=emu.url, authority_host=emu.url, ca_bundle=emu.ca_file,
                                     **settings))
    principal = ServicePrincipal(emu.tenant_id, emu.client_id, client_secret=emu.client_secret)
    return factory, SdkComputeClient(lambda subscription: factory.client(subscription, principal))


def _versions(emu: RunningEmulator) -> dict[str, int]:
    assert emu.emulator is not None
    return dict(emu.emulator.stats.report({})["api_versions"])


async def test_get_and_list_read_the_same_fields_at_the_new_version(emulator: RunningEmulator) -> None:
    factory, adapter = _adapter(emulator)
    try:
        put = await adapter.put(TARGET, "ci-wire", {
            "location": emulator.location, "tags": {"owner": "me"},
            "properties": {"computeType": "ComputeInstance", "properties": {
                "vmSize": "Standard_DS3_v2", "idleTimeBeforeShutdown": "PT30M", "schedules": SCHEDULES}}})
        assert put.name == "Create" and put.status_url
        assert put.tags == {"owner": "me"}  # the PUT answer's tags reach the core
        got = await adapter.get(TARGET, "ci-wire")
        listed = {o.name: o for o in await adapter.list(TARGET)}
        assert got is not None and listed["ci-wire"].resource == got.resource
        inner = got.properties
        assert inner["idleTimeBeforeShutdown"] == "PT30M"
        assert [s["action"] for s in inner["schedules"]["computeStartStop"]] == ["Start", "Stop"]
        assert await adapter.get(TARGET, "no-such-compute") is None
        assert set(_versions(emulator)) == {"2025-09-01"}
    finally:
        await factory.close()


async def test_a_pinned_version_is_sent_on_every_call(emulator: RunningEmulator) -> None:
    factory, adapter = _adapter(emulator, api_version="2020-08-01")
    try:
        await adapter.workspace(TARGET)
        await adapter.vm_sizes(TARGET, emulator.location)
        await adapter.usages(TARGET, emulator.location)
        await adapter.list(TARGET)
        with pytest.raises(AzureError):
            await adapter.power(TARGET, "no-such-compute", "Start")
        assert set(_versions(emulator)) == {"2020-08-01"}
    finally:
        await factory.close()


async def test_a_scale_patch_is_accepted_as_202_with_an_operation_or_as_200(emulator: RunningEmulator) -> None:
    cluster = {"location": emulator.location, "properties": {"computeType": "AmlCompute", "properties": {
        "vmSize": "Standard_DS3_v2", "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 2}}}}
    for version, name in (("2025-09-01", "cc-new"), ("2020-08-01", "cc-old")):
        factory, adapter = _adapter(emulator, api_version=version)
        try:
            await adapter.put(TARGET, name, cluster)
            assert emulator.emulator is not None
            emulator.emulator.clock.offset += 3600  # the create finishes
            patched = await adapter.patch_scale(TARGET, name, {"minNodeCount": 0, "maxNodeCount": 3})
            # 2025-09-01 answers 202 and no body; 2020-08-01 answers 200 with the compute. Both name an operation.
            assert patched.name == "Update" and patched.status_url
            status = await adapter.operation_status(TARGET, patched.status_url)
            assert status.status in ("InProgress", "Succeeded")
            got = await adapter.get(TARGET, name)
            assert got is not None and got.properties["scaleSettings"]["maxNodeCount"] == 3
        finally:
            await factory.close()


async def test_start_stop_and_delete_answered_202_without_a_body_are_accepted(emulator: RunningEmulator) -> None:
    factory, adapter = _adapter(emulator)
    try:
        await adapter.put(TARGET, "ci-power", {"location": emulator.location, "properties": {
            "computeType": "ComputeInstance", "properties": {"vmSize": "Standard_DS3_v2"}}})
        assert emulator.emulator is not None
        emulator.emulator.clock.offset += 3600
        stop = await adapter.power(TARGET, "ci-power", "Stop")
        assert stop.name == "Stop" and stop.status_url
        emulator.emulator.clock.offset += 3600
        deleted = await adapter.delete(TARGET, "ci-power", "Delete")
        assert deleted.name == "Delete" and deleted.status_url
    finally:
        await factory.close()
