"""Faults on demand, throttling, stats: deterministic under a seed, and ridden out by the SDK's retries."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import pytest
from azure.core.exceptions import HttpResponseError

from aml_emulator.testing import RunningEmulator, run_emulator, run_emulator_in_thread

from .conftest import FAST, Arm, aml_body


async def _statuses(emu: RunningEmulator, count: int) -> list[int]:
    async with aiohttp.ClientSession() as session:
        arm = Arm(emu, session, emu.ssl_context())
        path = (
            f"/subscriptions/{emu.subscription_id}/resourceGroups/{emu.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{emu.workspace}"
        )
        return [(await arm.call("GET", path)).status for _ in range(count)]


@pytest.mark.parametrize("kind", ["500", "503", "429"])
async def test_faults_fire_at_the_configured_rate_and_repeat_under_a_seed(kind: str) -> None:
    rules = [{"route": "workspaces.get", "kind": kind, "rate": 0.3, "retry_after_seconds": 1}]
    runs = []
    for _ in range(2):
        async with run_emulator({"faults": rules}, seed=7, **FAST) as emu:
            statuses = await _statuses(emu, 200)
            stats = await emu.acontrol("GET", "stats")
        runs.append(statuses)
        fired = statuses.count(int(kind))
        assert fired + statuses.count(200) == 200
        # Binomial(200, 0.3): mean 60, sd 6.5; eight sd either side.
        assert 8 <= fired <= 112 and 60 - 52 <= fired <= 60 + 52
        assert stats["faults_fired"] == fired
    assert runs[0] == runs[1]
    async with run_emulator({"faults": rules}, seed=8, **FAST) as emu:
        assert await _statuses(emu, 200) != runs[0]


async def test_rates_of_zero_and_one() -> None:
    rules = [{"route": "workspaces.get", "kind": "500", "rate": 1.0, "count": 3}]
    async with run_emulator({"faults": rules}, **FAST) as emu:
        assert await _statuses(emu, 5) == [500, 500, 500, 200, 200]
        await emu.acontrol("PUT", "faults", {"rules": [{"route": "workspaces.get", "kind": "503", "rate": 0.0}]})
        assert await _statuses(emu, 5) == [200] * 5


def test_sdk_retries_ride_out_5xx_429_and_dropped_connections(unique: Callable[[str], str]) -> None:
    with run_emulator_in_thread(**FAST) as emu:
        client = emu.client(retry_backoff_factor=0.01)
        ops = client.machine_learning_compute
        name = unique("r")
        emu.control(
            "POST",
            "faults",
            {
                "rules": [
                    {"route": "computes.createOrUpdate", "kind": "503", "count": 1},
                    {"route": "operations.status", "kind": "500", "count": 1},
                    {"route": "computes.get", "kind": "429", "count": 1, "retry_after_seconds": 1},
                    {"route": "computes.get", "kind": "drop", "count": 1},
                    {"route": "computes.list", "kind": "drop", "count": 1, "when": "after"},
                ]
            },
        )
        body = aml_body()
        import json

        created = ops.begin_create_or_update(
            emu.resource_group, emu.workspace, name, json.dumps(body).encode()
        ).result()
        assert created.properties.provisioning_state == "Succeeded"
        assert ops.get(emu.resource_group, emu.workspace, name).name == name
        assert name in [c.name for c in ops.list_by_workspace(emu.resource_group, emu.workspace)]
        stats = emu.control("GET", "stats")
        statuses = {(r["route"], r["status"]) for r in stats["requests"]}
        for expected in (
            ("computes.createOrUpdate", 503),
            ("operations.status", 500),
            ("computes.get", 429),
            ("computes.get", 0),
            ("computes.list", 0),
        ):
            assert expected in statuses
        assert [rule["fired"] for rule in emu.control("GET", "faults")["rules"]] == [1, 1, 1, 1, 1]
        # The 503 was refused before it created anything: the compute was created once.
        assert stats["creates_by_name"][name] == 1


def test_slow_responses_are_slow() -> None:
    with run_emulator_in_thread(
        {"faults": [{"route": "workspaces.get", "kind": "slow", "delay_seconds": 0.4}]}, **FAST
    ) as emu:
        client = emu.client()
        client.workspaces.get(emu.resource_group, emu.workspace)  # token and connection warm-up
        started = time.monotonic()
        client.workspaces.get(emu.resource_group, emu.workspace)
        assert time.monotonic() - started >= 0.4


def test_throttling_answers_429_with_retry_after_and_the_sdk_waits() -> None:
    config = {"throttling": {"reads_burst": 3, "reads_per_second": 1, "global_multiplier": 15}}
    with run_emulator_in_thread(config, **FAST) as emu:
        no_retry = emu.client(retry_total=0)
        seen = []
        for _ in range(4):
            try:
                no_retry.workspaces.get(emu.resource_group, emu.workspace)
                seen.append(200)
            except HttpResponseError as error:
                seen.append(error.status_code)
                assert error.error.code == "SubscriptionRequestsThrottled"
                assert int(error.response.headers["Retry-After"]) >= 1
        assert seen == [200, 200, 200, 429]
        started = time.monotonic()
        emu.client().workspaces.get(emu.resource_group, emu.workspace)
        assert time.monotonic() - started >= 0.5
        assert emu.control("GET", "stats")["throttled"] >= 2


def test_global_bucket_is_shared_by_principals() -> None:
    config = {
        "principals": [{"client_id": "12121212-1212-1212-1212-121212121212", "secrets": ["s2"]}],
        "role_assignments": [
            {
                "principal": "12121212-1212-1212-1212-121212121212",
                "scope": "/subscriptions/00000000-0000-0000-0000-000000000000",
            }
        ],
        "throttling": {"reads_burst": 2, "reads_per_second": 0.01, "global_multiplier": 1.5},
    }
    with run_emulator_in_thread(config, **FAST) as emu:
        first = emu.client(retry_total=0)
        second = emu.client(
            retry_total=0,
            credential=emu.credential(client_id="12121212-1212-1212-1212-121212121212", client_secret="s2"),
        )
        first.workspaces.get(emu.resource_group, emu.workspace)
        first.workspaces.get(emu.resource_group, emu.workspace)
        second.workspaces.get(emu.resource_group, emu.workspace)  # its own bucket is full, the global one has 1 left
        with pytest.raises(HttpResponseError) as caught:
            second.workspaces.get(emu.resource_group, emu.workspace)
        assert caught.value.status_code == 429


def test_stats_count_creates_and_writes_per_compute(unique: Callable[[str], str]) -> None:
    with run_emulator_in_thread(**FAST) as emu:
        ops = emu.client().machine_learning_compute
        import json

        name = unique("s")
        for max_nodes in (2, 3):
            ops.begin_create_or_update(
                emu.resource_group, emu.workspace, name, json.dumps(aml_body(max_nodes=max_nodes)).encode()
            ).result()
        stats = emu.control("GET", "stats")
        key = f"{emu.subscription_id}/{emu.resource_group}/{emu.workspace}/{name}".lower()
        assert stats["creates"][key] == 1
        assert stats["writes"][key] == {"PUT": 2}
        assert stats["by_route"]["PUT computes.createOrUpdate"] == 2
        emu.control("POST", "reset")
        assert emu.control("GET", "stats")["total"] == 0
        assert [c.name for c in ops.list_by_workspace(emu.resource_group, emu.workspace)] == []
