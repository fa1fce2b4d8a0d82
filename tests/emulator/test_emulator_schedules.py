"""Compute instance schedules and idle shutdown at api-version 2025-09-01: validated like the service, kept
through an in-place PUT, and carried out on the emulator's simulated clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from aml_emulator.testing import run_emulator

from .conftest import FAST, Arm

VERSION = "2025-09-01"
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
OFFICE_HOURS = {"computeStartStop": [
    {"action": "Start", "triggerType": "Cron", "cron": {"expression": "0 8 * * 1-5", "timeZone": "UTC"}},
    {"action": "Stop", "triggerType": "Recurrence",
     "recurrence": {"frequency": "Week", "interval": 1, "timeZone": "UTC",
                    "schedule": {"hours": [18], "minutes": [0], "weekDays": WEEKDAYS}}},
]}


@pytest.fixture
async def arm() -> AsyncIterator[Arm]:
    # An emulator of its own: these tests move its clock by days.
    async with run_emulator(**FAST) as running, aiohttp.ClientSession() as session:
        yield Arm(running, session, running.ssl_context())


def _instance(**extra: Any) -> dict[str, Any]:
    return {"location": "westeurope",
            "properties": {"computeType": "ComputeInstance", "properties": {"vmSize": "Standard_DS3_v2", **extra}}}


async def _clock(arm: Arm, **body: Any) -> dict[str, Any]:
    reply = await arm.raw("POST", "/_emulator/clock", json=body)
    assert reply.status == 200, reply.body
    return reply.body  # type: ignore[no-any-return]


async def _jump_to_next_monday(arm: Arm, hour: int, minute: int = 0) -> dt.datetime:
    now = dt.datetime.fromtimestamp((await _clock(arm))["now"], dt.UTC)
    monday = (now + dt.timedelta(days=7 - now.weekday())).replace(hour=hour, minute=minute, second=0, microsecond=0)
    await _clock(arm, set=monday.isoformat())
    return monday


async def _state(arm: Arm, name: str, state: str) -> dict[str, Any]:
    body = await arm.wait(name, lambda b: b["properties"]["properties"].get("state") == state)
    return body["properties"]["properties"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("extra", "target"), [
    ({"idleTimeBeforeShutdown": "PT10M"}, "idleTimeBeforeShutdown"),
    ({"idleTimeBeforeShutdown": "P4D"}, "idleTimeBeforeShutdown"),
    ({"idleTimeBeforeShutdown": "30 minutes"}, "idleTimeBeforeShutdown"),
    ({"schedules": {"computeStartStop": [{"action": "Stop", "triggerType": "Cron",
                                          "cron": {"expression": "0 18 * *"}}]}}, "cron.expression"),
    ({"schedules": {"computeStartStop": [{"action": "Pause", "triggerType": "Cron",
                                          "cron": {"expression": "0 18 * * *"}}]}}, "action"),
    ({"schedules": {"computeStartStop": [{"action": "Stop", "triggerType": "Cron",
                                          "cron": {"expression": "0 18 * * *", "timeZone": "Mars/Olympus"}}]}},
     "cron.timeZone"),
    ({"setupScripts": {"scripts": {"creationScript": {"scriptSource": "ftp", "scriptData": "x"}}}}, "scriptSource"),
])
async def test_invalid_instance_settings_are_refused_naming_the_property(
        arm: Arm, extra: dict[str, Any], target: str) -> None:
    reply = await arm.call("PUT", arm.compute_path("ci-bad"), json=_instance(**extra), api_version=VERSION)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["target"].endswith(target)


async def test_schedules_stop_and_start_the_instance_on_the_simulated_clock(arm: Arm) -> None:
    await _jump_to_next_monday(arm, 7)
    created = await arm.call("PUT", arm.compute_path("ci-office"), json=_instance(schedules=OFFICE_HOURS),
                             api_version=VERSION)
    assert created.status == 201, created.body
    props = await _state(arm, "ci-office", "Running")
    stored = props["schedules"]["computeStartStop"]
    assert all(s["id"] and s["provisioningStatus"] == "Completed" and s["status"] == "Enabled" for s in stored)

    await _clock(arm, advance_seconds=11 * 3600 + 60)  # Monday 18:01
    props = await _state(arm, "ci-office", "Stopped")
    assert props["lastOperation"]["operationName"] == "Stop"
    assert props["lastOperation"]["operationTrigger"] == "Schedule"

    await _clock(arm, advance_seconds=14 * 3600)  # Tuesday 08:01
    props = await _state(arm, "ci-office", "Running")
    assert props["lastOperation"]["operationName"] == "Start"
    assert props["lastOperation"]["operationTrigger"] == "Schedule"


async def test_an_idle_instance_stops_after_its_idle_time(arm: Arm) -> None:
    await arm.call("PUT", arm.compute_path("ci-idle"), json=_instance(idleTimeBeforeShutdown="PT15M"),
                   api_version=VERSION)
    await _state(arm, "ci-idle", "Running")
    await _clock(arm, advance_seconds=10 * 60)
    assert (await _state(arm, "ci-idle", "Running"))["idleTimeBeforeShutdown"] == "PT15M"
    await _clock(arm, advance_seconds=6 * 60)
    props = await _state(arm, "ci-idle", "Stopped")
    assert props["lastOperation"]["operationTrigger"] == "IdleShutdown"


async def test_schedules_and_idle_time_change_in_place(arm: Arm) -> None:
    path = arm.compute_path("ci-change")
    await arm.call("PUT", path, json=_instance(schedules=OFFICE_HOURS), api_version=VERSION)
    first = (await _state(arm, "ci-change", "Running"))["schedules"]["computeStartStop"]
    later = {"computeStartStop": [OFFICE_HOURS["computeStartStop"][0],
                                  {**OFFICE_HOURS["computeStartStop"][1], "status": "Disabled"}]}
    updated = await arm.call("PUT", path, json=_instance(schedules=later), api_version=VERSION)
    assert updated.status in (200, 201), updated.body
    body = await arm.wait("ci-change", lambda b: b["properties"]["provisioningState"] == "Succeeded")
    now = body["properties"]["properties"]["schedules"]["computeStartStop"]
    assert now[0]["id"] == first[0]["id"] and now[1]["status"] == "Disabled"
    idle = await arm.call("POST", f"{path}/updateIdleShutdownSetting", json={"idleTimeBeforeShutdown": "PT1H"},
                          api_version=VERSION)
    assert idle.status == 200, idle.body
    assert (await arm.wait("ci-change", lambda b: True))["properties"]["properties"]["idleTimeBeforeShutdown"] == "PT1H"
    stats = (await arm.raw("GET", "/_emulator/stats")).body
    assert stats["creates_by_name"]["ci-change"] == 1


async def test_nodes_without_a_public_ip_need_a_virtual_network(arm: Arm) -> None:
    body = {"location": "westeurope", "properties": {"computeType": "AmlCompute", "properties": {
        "vmSize": "Standard_DS3_v2", "scaleSettings": {"maxNodeCount": 1}, "enableNodePublicIp": False}}}
    reply = await arm.call("PUT", arm.compute_path("cc-nopip"), json=body, api_version=VERSION)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["target"] == "properties.properties.enableNodePublicIp"
