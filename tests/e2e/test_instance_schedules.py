"""A compute instance with idle shutdown and office-hours schedules, end to end at api-version 2025-09-01.

The emulator of this module is its own (live profile, the recorded service's shapes): the test moves its
clock by days, which must not hurry the operations of other tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness import Emulator, Kube, Operator, eventually, ready_workspace, start_emulator, unique

pytestmark = pytest.mark.timeout(300)

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


@pytest.fixture(scope="module")
def clock_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = start_emulator(tmp_path_factory.mktemp("emulator-clock"), "live")
    yield emu
    emu.stop()


def office_hours(stop_hour: int) -> list[dict[str, Any]]:
    return [
        {"action": "Start", "cron": "0 8 * * 1-5", "timeZone": "UTC"},
        {"action": "Stop", "recurrence": {"frequency": "Week", "hours": [stop_hour], "minutes": [0],
                                          "weekDays": WEEKDAYS}},
    ]


def set_clock(emulator: Emulator, moment: dt.datetime) -> None:
    emulator.control("POST", "clock", {"set": moment.isoformat()})


def status_of(kube: Kube, name: str) -> dict[str, Any]:
    return (kube.get("computeinstance", name) or {}).get("status") or {}


def test_office_hours_and_idle_shutdown_reach_azure_change_in_place_and_run_on_the_clock(
        kube: Kube, clock_emulator: Emulator, operator_factory: Callable[..., Operator], namespace: str) -> None:
    emulator = clock_emulator
    operator_factory(namespace, emulator)
    ready_workspace(kube)
    now = dt.datetime.fromtimestamp(emulator.control("POST", "clock", {})["now"], dt.UTC)
    monday = (now + dt.timedelta(days=7 - now.weekday())).replace(hour=7, minute=0, second=0, microsecond=0)
    set_clock(emulator, monday)

    name = unique(namespace, "office")
    # No spec.state: the schedules and idle shutdown govern the instance.
    kube.apply({"apiVersion": "azureml.dev/v1alpha1", "kind": "ComputeInstance", "metadata": {"name": name},
                "spec": {"workspaceRef": {"name": "ws-ml"}, "vmSize": "Standard_DS3_v2",
                         "idleTimeBeforeShutdown": "PT2H", "schedules": office_hours(18)}})
    kube.wait_condition("computeinstance", name, timeout=120)

    received = (emulator.compute(name) or {})["properties"]["properties"]
    assert received["idleTimeBeforeShutdown"] == "PT2H"
    start, stop = received["schedules"]["computeStartStop"]
    assert (start["triggerType"], start["cron"]["expression"]) == ("Cron", "0 8 * * 1-5")
    assert stop["recurrence"]["schedule"] == {"hours": [18], "minutes": [0], "weekDays": WEEKDAYS}
    status = status_of(kube, name)
    assert status["idleTimeBeforeShutdown"] == "PT2H"
    assert [(s["action"], s["status"], s["provisioningStatus"]) for s in status["schedules"]] == [
        ("Start", "Enabled", "Completed"), ("Stop", "Enabled", "Completed")]

    # A later stop is an in-place update: one more PUT, never a second create.
    puts = emulator.writes_of(name).get("PUT", 0)
    kube.patch("computeinstance", name, {"spec": {"schedules": office_hours(19)}})
    eventually(lambda: [s.get("recurrence", {}).get("hours") for s in status_of(kube, name).get("schedules", [])]
               == [None, [19]], 90, what="status.schedules shows the 19:00 stop")
    assert emulator.creates_of(name) == 1
    assert emulator.writes_of(name).get("PUT", 0) == puts + 1

    # The idle time of an existing instance changes through Azure's own action, not a PUT.
    posts = emulator.writes_of(name).get("POST", 0)
    kube.patch("computeinstance", name, {"spec": {"idleTimeBeforeShutdown": "PT3H"}})
    eventually(lambda: status_of(kube, name).get("idleTimeBeforeShutdown") == "PT3H", 90,
               what="status.idleTimeBeforeShutdown shows PT3H")
    assert (emulator.compute(name) or {})["properties"]["properties"]["idleTimeBeforeShutdown"] == "PT3H"
    assert emulator.writes_of(name).get("PUT", 0) == puts + 1
    assert emulator.writes_of(name).get("POST", 0) == posts + 1

    set_clock(emulator, monday.replace(hour=19, minute=1))
    stopped = eventually(lambda: (s := status_of(kube, name)).get("state") == "Stopped" and s, 90,
                         what="the instance stops at 19:00")
    assert stopped["lastOperation"]["operationTrigger"] == "Schedule"
    kube.wait_condition("computeinstance", name)  # Stopped by its schedule is where it should be

    set_clock(emulator, (monday + dt.timedelta(days=1)).replace(hour=8, minute=1))
    started = eventually(lambda: (s := status_of(kube, name)).get("state") == "Running" and s, 90,
                         what="the instance starts at 08:00")
    assert started["lastOperation"]["operationName"] == "Start"
    assert started["lastOperation"]["operationTrigger"] == "Schedule"
    assert emulator.creates_of(name) == 1
