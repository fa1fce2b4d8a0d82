"""Fidelity: each real 2020-08-01 example about computes, workspaces, VM sizes, usages and quotas is sent to
the emulator, and the answer is compared with the example's: same status code, the example's keys present
with the same JSON types, the same enum values, the example's headers; keys the example lacks must be
properties of the 2020-08-01 schema (taken from the SDK's models). Ids, names, times and numbers may differ.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aml_emulator.testing import RunningEmulator, run_emulator

from .conftest import Arm

EXAMPLES = Path(__file__).parent / "examples" / "2020-08-01"
EX_SUB = "34adfa4f-cedf-4dc0-ba29-b6d1a69ab345"
AKS_RESOURCE = (
    f"/subscriptions/{EX_SUB}/resourcegroups/testrg123/providers/Microsoft.ContainerService/managedClusters/"
    "compute123-56826-c9b00420020b2"
)
ENUM_KEYS = {
    "computeType", "provisioningState", "allocationState", "vmPriority", "remoteLoginPortPublicAccess",
    "applicationSharingPolicy", "sshPublicAccess", "state", "operationName", "operationStatus", "nodeState",
    "osType", "vmTier", "billingCurrency", "unitOfMeasure", "unit", "status", "type",
}  # fmt: skip
# Shapes that depend on the state an example was captured in, not on the emulator (see docs/emulator.md).
STATE_DEPENDENT = {
    "nextLink",  # the examples show a placeholder; the emulator omits it on the last page, or the SDK follows it
    "runId",  # set on nodes that run a job; no jobs run in the emulator
    "notebookPreparationError",  # only when the workspace's notebook preparation failed
}
EMPTY_OK = {"privateEndpointConnections", "sharedPrivateLinkResources"}  # a workspace without private links
NULL_OK = {"imageBuildCompute"}  # unset on a workspace that never chose one
MAP_KEYS = {"userAssignedIdentities"}  # objects keyed by ARM ids: compare values, not keys


def _schema_keys() -> set[str]:
    from azure.mgmt.machinelearningservices import models

    keys: set[str] = set()
    for value in vars(models).values():
        for attribute in getattr(value, "_attribute_map", {}).values():
            keys.update(part.replace("\\", "") for part in re.split(r"(?<!\\)\.", attribute["key"]))
    return keys


SCHEMA_KEYS = _schema_keys()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def compare(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Problems of `actual` against the example's `expected` (empty when it matches)."""
    if expected is None:
        return []
    if path.rsplit(".", 1)[-1] in NULL_OK and actual is None:
        return []
    if isinstance(expected, dict) and path.rsplit(".", 1)[-1] in MAP_KEYS:
        if not isinstance(actual, dict) or (expected and not actual):
            return [f"{path}: expected a non-empty map, got {actual!r}"]
        samples = list(expected.values())
        return [p for key, value in actual.items() for p in compare(samples[0], value, f"{path}[{key}]")]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {_kind(actual)}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                if key not in STATE_DEPENDENT:
                    problems.append(f"{path}.{key}: missing")
                continue
            if key in ENUM_KEYS and isinstance(value, str):
                if not isinstance(actual[key], str) or value.replace(" ", "") != actual[key].replace(" ", ""):
                    problems.append(f"{path}.{key}: expected {value!r}, got {actual[key]!r}")
                continue
            problems.extend(compare(value, actual[key], f"{path}.{key}"))
        for key in actual:
            if key not in expected and key not in SCHEMA_KEYS:
                problems.append(f"{path}.{key}: not a property of the 2020-08-01 schema")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {_kind(actual)}"]
        if expected and not actual and path.rsplit(".", 1)[-1] not in EMPTY_OK:
            return [f"{path}: expected items, got none"]
        problems = []
        for index, item in enumerate(actual):
            candidates = [compare(example, item, f"{path}[{index}]") for example in expected]
            if candidates and all(candidates):
                problems.append(f"{path}[{index}] matches no example item: {min(candidates, key=len)}")
        return problems
    if _kind(expected) != _kind(actual):
        return [f"{path}: expected {_kind(expected)}, got {_kind(actual)} ({actual!r})"]
    return []


def test_the_comparison_notices_differences() -> None:
    example = {"a": 1, "computeType": "AKS", "items": [{"b": "x"}], "nested": {"c": True}}
    assert compare(example, {"a": 2, "computeType": "AKS", "items": [{"b": "y"}], "nested": {"c": False}}) == []
    assert compare(example, {"a": "1", "computeType": "AKS", "items": [{"b": "y"}], "nested": {"c": True}})
    assert compare(example, {"a": 1, "computeType": "AmlCompute", "items": [{"b": "y"}], "nested": {"c": True}})
    assert compare(example, {"a": 1, "computeType": "AKS", "items": [], "nested": {"c": True}})
    assert compare(example, {"a": 1, "computeType": "AKS", "items": [{"b": "y"}], "nested": {}})
    assert compare(example, {**example, "inventedKey": 1})


FIDELITY_CONFIG: dict[str, Any] = {
    "subscriptions": [
        {"id": EX_SUB},
        {"id": "00000000-1111-2222-3333-444444444444"},
    ],
    "workspaces": [
        {"subscription_id": EX_SUB, "resource_group": "testrg123", "name": "workspaces123", "location": "eastus"},
        {
            "subscription_id": "00000000-1111-2222-3333-444444444444",
            "resource_group": "workspace-1234",
            "name": "testworkspace",
            "location": "eastus2euap",
            "sku": "Enterprise",
            # A workspace with a customer-managed key, as the example's is.
            "properties": {
                "encryption": {
                    "status": "Enabled",
                    "keyVaultProperties": {
                        "keyVaultArmId": "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/"
                        "workspace-1234/providers/Microsoft.KeyVault/vaults/testkv",
                        "keyIdentifier": "https://testkv.vault.azure.net/keys/testkey/aabbccddee112233445566778899aabb",
                        "identityClientId": "",
                    },
                }
            },
        },
        {"resource_group": "rg", "name": "demo_workspace1", "location": "eastus"},
        {"resource_group": "rg", "name": "demo_workspace2", "location": "eastus"},
    ],
    "role_assignments": [
        {"principal": "22222222-2222-2222-2222-222222222222", "scope": f"/subscriptions/{EX_SUB}"},
        {
            "principal": "22222222-2222-2222-2222-222222222222",
            "scope": "/subscriptions/00000000-1111-2222-3333-444444444444",
        },
    ],
    "resources": [
        {"id": AKS_RESOURCE, "location": "eastus"},
        {"id": AKS_RESOURCE.replace("compute123-", "compute1234-"), "location": "eastus"},
    ],
    "regions": {
        "eastus": {"quotas": {"dedicated_cores_per_family": {"standardDSv2Family": 300, "standardNCFamily": 48}}}
    },
    # Operations finish only when a test moves the clock, so each example sees a known state.
    "timing": {"scale": 1000, "node_allocation": 1.0},
    "lro": {"retry_after_seconds": 0},
    "page_size": 20,
}


class Fidelity:
    def __init__(self, emu: RunningEmulator, arm: Arm) -> None:
        self.emu, self.arm = emu, arm

    async def put(self, name: str, body: dict[str, Any]) -> None:
        reply = await self.arm.call("PUT", _compute_path(EX_SUB, "testrg123", "workspaces123", name), json=body)
        assert reply.status in (200, 201), reply.body
        await self.settle()

    async def settle(self) -> None:
        await self.emu.acontrol("POST", "clock", {"advance_seconds": 1e5})

    async def patch_behind(self, name: str, patch: dict[str, Any]) -> None:
        await self.emu.acontrol("PATCH", f"computes/{EX_SUB}/testrg123/workspaces123/{name}", patch)


def _workspace_path(sub: str, rg: str, ws: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"


def _compute_path(sub: str, rg: str, ws: str, name: str) -> str:
    return f"{_workspace_path(sub, rg, ws)}/computes/{name}"


def _example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())  # type: ignore[no-any-return]


def _request_body(example: str) -> dict[str, Any]:
    return _example(example)["parameters"]["parameters"]  # type: ignore[no-any-return]


async def _aml_resizing(f: Fidelity) -> None:
    body = _request_body("createBasicAmlCompute.json")
    body["properties"]["description"] = "some compute"
    body["properties"]["properties"]["subnet"] = "test-subnet-resource-id"
    # Behind a VNet, NotSpecified resolves to Disabled (spec); the example's cluster asked for Enabled.
    body["properties"]["properties"]["remoteLoginPortPublicAccess"] = "Enabled"
    await f.put("compute123", body)
    await f.patch_behind("compute123", {"properties": {"properties": {"scaleSettings": {"minNodeCount": 1}}}})
    await f.emu.acontrol("PATCH", "settings", {"timing": {"node_allocation": 1000.0}})


async def _aml_two_nodes(f: Fidelity) -> None:
    body = _request_body("createBasicAmlCompute.json")
    body["properties"]["properties"]["scaleSettings"] = {"minNodeCount": 2, "maxNodeCount": 2}
    await f.put("compute123", body)
    await f.settle()


async def _aml(f: Fidelity) -> None:
    body = _request_body("createBasicAmlCompute.json")
    body["properties"]["description"] = "some compute"
    await f.put("compute123", body)


async def _instance_started(f: Fidelity) -> None:
    body = {
        "location": "eastus",
        "properties": {
            "computeType": "ComputeInstance",
            "description": "some compute",
            "properties": {
                "vmSize": "STANDARD_NC6",
                "subnet": "test-subnet-resource-id",
                "sshSettings": {"sshPublicAccess": "Enabled"},
            },
        },
    }
    await f.put("compute123", body)
    path = _compute_path(EX_SUB, "testrg123", "workspaces123", "compute123")
    for action in ("stop", "start"):
        assert (await f.arm.call("POST", f"{path}/{action}")).status == 200
        await f.settle()


async def _instance(f: Fidelity) -> None:
    await f.put("compute123", _request_body("createComputeInstanceMinimal.json"))


async def _aks_attached(f: Fidelity) -> None:
    await f.put("compute123", _request_body("updateAKSCompute.json"))


async def _two_aks(f: Fidelity) -> None:
    await f.put("compute123", _request_body("updateAKSCompute.json"))
    body = _request_body("updateAKSCompute.json")
    body["properties"]["resourceId"] = AKS_RESOURCE.replace("compute123-", "compute1234-")
    await f.put("compute1234", body)


async def _usage(f: Fidelity) -> None:
    body = _request_body("createBasicAmlCompute.json")
    body["properties"]["properties"]["scaleSettings"] = {"minNodeCount": 1, "maxNodeCount": 2}
    body["properties"]["properties"]["vmSize"] = "Standard_DS2_v2"
    path = _compute_path("00000000-0000-0000-0000-000000000000", "rg", "demo_workspace1", "democluster1")
    assert (await f.arm.call("PUT", path, json=body)).status == 201
    await f.settle()
    await f.settle()


Setup = Callable[[Fidelity], Awaitable[None]]
# example file → (HTTP method, path suffix after the resource, setup, profile)
CASES: dict[str, tuple[str, str, Setup | None, str]] = {
    "createBasicAmlCompute.json": ("PUT", "", None, "spec"),
    "createComputeInstance.json": ("PUT", "", None, "spec"),
    "createComputeInstanceMinimal.json": ("PUT", "", None, "spec"),
    "createBasicAKSCompute.json": ("PUT", "", None, "spec"),
    "createBasicDataFactoryCompute.json": ("PUT", "", None, "spec"),
    "updateAKSCompute.json": ("PUT", "", _aks_attached, "spec"),
    "updateAmlCompute.json": ("PUT", "", _aml, "spec"),
    "patchAmlCompute.json": ("PATCH", "", _aml, "spec"),
    "getAmlCompute.json": ("GET", "", _aml_resizing, "spec"),
    "getComputeInstance.json": ("GET", "", _instance_started, "spec"),
    "getAKSCompute.json": ("GET", "", _aks_attached, "spec"),
    "getComputes.json": ("GET", "", _two_aks, "spec"),
    "deleteCompute.json": ("DELETE", "", _aml, "spec"),
    "amlComputeListNodes.json": ("POST", "/listNodes", _aml_two_nodes, "spec"),
    "listKeysAKSCompute.json": ("POST", "/listKeys", _aks_attached, "spec"),
    "restartComputeInstance.json": ("POST", "/restart", _instance, "spec"),
    # The example says 202: what the live service sends; the 2020-08-01 spec and SDK want 200 (profile spec).
    "stopComputeInstance.json": ("POST", "/stop", _instance, "live"),
    "getWorkspace.json": ("GET", "", None, "spec"),
    "ListVMSizesResult.json": ("GET", "", None, "spec"),
    "ListUsages.json": ("GET", "", _usage, "spec"),
    "ListWorkspaceQuotasByVMFamily.json": ("GET", "", None, "spec"),
    "updateQuota.json": ("POST", "", None, "spec"),
}


def _path(example: str, parameters: dict[str, Any], suffix: str) -> str:
    p = parameters
    sub = p["subscriptionId"]
    if "location" in p:
        leaf = {"ListVMSizesResult.json": "vmSizes", "ListUsages.json": "usages", "updateQuota.json": "updateQuotas"}
        name = leaf.get(example, "Quotas")
        path = f"/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/locations/{p['location']}/{name}"
        if example == "ListVMSizesResult.json":
            path += f"?compute-type={p['computeType']}&recommended={str(p['recommended']).lower()}"
        return path
    ws = _workspace_path(sub, p["resourceGroupName"], p["workspaceName"])
    if example == "getComputes.json":
        return f"{ws}/computes"
    if "computeName" in p:
        path = f"{ws}/computes/{p['computeName']}{suffix}"
        if "underlyingResourceAction" in p:
            path += f"?underlyingResourceAction={p['underlyingResourceAction']}"
        return path
    return ws


def test_the_copied_examples_are_the_ones_the_cases_name() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(CASES)


@pytest.fixture
async def fidelity_emulator(request: pytest.FixtureRequest) -> AsyncIterator[Fidelity]:
    profile = CASES[request.param][3]
    async with run_emulator(FIDELITY_CONFIG, profile=profile) as emu, aiohttp.ClientSession() as session:
        yield Fidelity(emu, Arm(emu, session, emu.ssl_context()))


@pytest.mark.parametrize("fidelity_emulator", sorted(CASES), indirect=True)
async def test_example(fidelity_emulator: Fidelity, request: pytest.FixtureRequest) -> None:
    example_name = request.node.callspec.params["fidelity_emulator"]
    example = _example(example_name)
    method, suffix, setup, _ = CASES[example_name]
    if setup is not None:
        await setup(fidelity_emulator)
    parameters = example["parameters"]
    body = parameters.get("parameters")
    reply = await fidelity_emulator.arm.call(method, _path(example_name, parameters, suffix), json=body)
    responses = example["responses"]
    assert str(reply.status) in responses, f"{reply.status} not in {sorted(responses)}: {reply.body}"
    expected = responses[str(reply.status)]
    for header in expected.get("headers", {}):
        assert header in reply.headers, f"missing header {header}"
    if "body" in expected:
        problems = compare(expected["body"], reply.body)
        assert problems == [], "\n".join(problems)
    else:
        assert reply.body in (None, {}), reply.body
