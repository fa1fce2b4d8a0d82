"""State across restarts (`--state`), the CLI's readiness line, plain http for debugging."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import aiohttp

from aml_emulator.testing import run_emulator, start_emulator_process

from .conftest import FAST, Arm, aml_body


async def test_state_survives_a_restart_with_operations_in_flight(tmp_path: Path, unique: Callable[[str], str]) -> None:
    state, ca = tmp_path / "state.json", tmp_path / "ca.pem"
    done, pending = unique("done"), unique("pend")
    async with run_emulator(state_path=state, ca_file=ca, **FAST) as emu, aiohttp.ClientSession() as session:
        arm = Arm(emu, session, emu.ssl_context())
        token = await arm.token()
        await arm.call("PUT", arm.compute_path(done), json=aml_body() | {"tags": {"k": "v"}})
        await arm.wait(done, lambda b: b["properties"]["provisioningState"] == "Succeeded")
        await emu.acontrol("PATCH", "settings", {"timing": {"scale": 1000}})
        put = await arm.call("PUT", arm.compute_path(pending), json=aml_body())
        status_url = put.headers["Azure-AsyncOperation"]
    assert state.stat().st_mode & 0o077 == 0  # holds the signing key: private to its owner
    async with run_emulator(state_path=state, ca_file=ca, **FAST) as emu, aiohttp.ClientSession() as session:
        arm = Arm(emu, session, emu.ssl_context())
        # The token issued before the restart is still valid, the CA still trusted.
        kept = await arm.call("GET", arm.compute_path(done), token=token)
        assert kept.status == 200 and kept.body["tags"] == {"k": "v"}
        in_flight = await arm.call(
            "GET", status_url.replace(status_url.split("/subscriptions")[0], emu.url), token=token, api_version=None
        )
        assert in_flight.body["status"] == "InProgress"
        await emu.acontrol("POST", "clock", {"advance_seconds": 10000})
        finished = await arm.call("GET", arm.compute_path(pending), token=token)
        assert finished.body["properties"]["provisioningState"] == "Succeeded"
        assert (await emu.acontrol("GET", "stats"))["creates_by_name"] == {done: 1, pending: 1}


def test_cli_prints_readiness_and_keeps_state(tmp_path: Path, unique: Callable[[str], str]) -> None:
    state = tmp_path / "state.json"
    args = ["--state", str(state), "--ca-file", str(tmp_path / "ca.pem"), "--timing-scale", "0.05"]
    name = unique("cli")
    first = start_emulator_process(args)
    try:
        assert first.info.url.startswith("https://127.0.0.1:")
        client = first.info.client()
        client.machine_learning_compute.begin_create_or_update(
            first.info.resource_group, first.info.workspace, name, json.dumps(aml_body()).encode()
        ).result()
    finally:
        assert first.stop() == 0
    second = start_emulator_process(args)
    try:
        compute = second.info.client().machine_learning_compute.get(
            second.info.resource_group, second.info.workspace, name
        )
        assert compute.properties.provisioning_state == "Succeeded"
    finally:
        second.stop()


def test_cli_serves_plain_http_when_asked(tmp_path: Path) -> None:
    process = start_emulator_process(["--insecure-http", "--config", str(_config(tmp_path))])
    try:
        assert process.info.url.startswith("http://") and process.info.ca_file is None
        with urllib.request.urlopen(f"{process.info.url}/_emulator/health", timeout=10) as reply:  # noqa: S310
            assert json.load(reply) == {"status": "ok", "profile": "live"}
    finally:
        process.stop()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "emulator.yaml"
    path.write_text("profile: live\ntiming:\n  scale: 0.1\n")
    return path
