"""Replays request sequences distilled from public recordings of live Azure ML traffic (tests/emulator/recordings,
each naming its source) against a default emulator, comparing status codes, headers and body shapes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aml_emulator.testing import run_emulator

from .conftest import Arm, Reply

RECORDINGS = {
    path.stem: json.loads(path.read_text()) for path in sorted((Path(__file__).parent / "recordings").glob("*.json"))
}
_MISSING = object()


def _at(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(body, dict) or part not in body:
            return _MISSING
        body = body[part]
    return body


def _url(arm: Arm, target: str, name: str, api_version: str, operation: str | None, step: dict[str, Any]) -> str:
    compute = arm.compute_path(name)
    paths = {
        "workspace": compute.rsplit("/computes/", 1)[0],
        "computes": compute.rsplit("/", 1)[0],
        "compute": compute + (f"/{step['action']}" if "action" in step else ""),
    }
    if target == "operation":
        assert operation is not None, "no operation to poll yet"
        return operation
    query = f"api-version={api_version}" + (f"&{step['query']}" if "query" in step else "")
    return f"{paths[target]}?{query}"


async def _send(arm: Arm, url: str, method: str, body: Any) -> Reply:
    return await arm.raw(method, url, json=body, headers={"Authorization": f"Bearer {await arm.token()}"})


def _compare(step: str, expected: dict[str, Any], reply: Reply) -> list[str]:
    problems = []
    if reply.status != expected["status"]:
        problems.append(f"{step}: status {reply.status}, recorded {expected['status']}: {reply.body}")
    headers = {key.lower() for key in reply.headers}
    problems += [f"{step}: header {h} missing" for h in expected.get("headers", []) if h.lower() not in headers]
    problems += [f"{step}: header {h} sent" for h in expected.get("absent_headers", []) if h.lower() in headers]
    if expected.get("empty_body") and reply.body is not None:
        problems.append(f"{step}: body {reply.body!r}, recorded empty")
    problems += [
        f"{step}: key {key} missing" for key in expected.get("body_keys", []) if _at(reply.body, key) is _MISSING
    ]
    for key, value in expected.get("body_values", {}).items():
        found = _at(reply.body, key)
        if found != value:
            problems.append(f"{step}: {key} = {'(missing)' if found is _MISSING else repr(found)}, recorded {value!r}")
    return problems


@pytest.mark.parametrize("recording", sorted(RECORDINGS))
async def test_recorded_sequence_replays(recording: str) -> None:
    fixture = RECORDINGS[recording]
    assert fixture["source"]["repo"] and fixture["source"]["path"] and fixture["source"]["commit"]
    api_version = fixture["api_version"]
    name = f"r{uuid.uuid4().hex[:8]}"
    async with run_emulator(fixture.get("emulator"), retry_after=None) as emu, aiohttp.ClientSession() as session:
        arm = Arm(emu, session, emu.ssl_context())
        for request in fixture.get("setup", []):
            url = _url(arm, request["target"], name, api_version, None, request)
            assert (await _send(arm, url, request["method"], request.get("body"))).status < 300
        operation = None
        problems: list[str] = []
        for step in fixture["steps"]:
            request = step["request"]
            url = _url(arm, request["target"], name, api_version, operation, request)
            reply = await _send(arm, url, request["method"], request.get("body"))
            operation = reply.headers.get("Azure-AsyncOperation", operation)
            problems += _compare(step["name"], step["response"], reply)
            if operation is not None and "Azure-AsyncOperation" in reply.headers:
                region = f"/locations/{emu.location}/computeOperationsStatus/"
                assert region in operation and f"api-version={api_version}" in operation, operation
    assert not problems, "\n".join(problems)
