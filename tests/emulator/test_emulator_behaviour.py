"""What a client observes on the wire: status codes, headers, operation bodies, state transitions."""

from __future__ import annotations

from collections.abc import Callable

from aml_emulator.testing import run_emulator

from .conftest import AKS_ID, FAST, Arm, aml_body, instance_body


async def test_every_response_carries_request_id_and_rate_limit_headers(arm: Arm, unique: Callable[[str], str]) -> None:
    name = unique("h")
    read = await arm.call("GET", arm.compute_path(name))
    assert read.status == 404
    assert read.headers["x-ms-request-id"]
    assert int(read.headers["x-ms-ratelimit-remaining-subscription-reads"]) >= 0
    assert int(read.headers["x-ms-ratelimit-remaining-subscription-global-reads"]) > 0
    write = await arm.call("PUT", arm.compute_path(name), json=aml_body())
    assert write.status == 201
    assert "x-ms-ratelimit-remaining-subscription-writes" in write.headers
    await arm.wait(name, lambda body: body["properties"]["provisioningState"] == "Succeeded")
    delete = await arm.call("DELETE", arm.compute_path(name) + "?underlyingResourceAction=Delete")
    assert "x-ms-ratelimit-remaining-subscription-deletes" in delete.headers
    assert read.headers["x-ms-request-id"] != write.headers["x-ms-request-id"]


async def test_put_answers_201_creating_with_an_operation_that_succeeds(arm: Arm, unique: Callable[[str], str]) -> None:
    name = unique("l")
    reply = await arm.call("PUT", arm.compute_path(name), json=aml_body(min_nodes=2))
    assert reply.status == 201
    assert reply.body["properties"]["provisioningState"] == "Creating"
    assert reply.body["properties"]["properties"]["allocationState"] is None
    status_url = reply.headers["Azure-AsyncOperation"]
    assert "/locations/westeurope/computeOperationsStatus/" in status_url
    assert "Location" not in reply.headers
    seen = []
    while True:
        status = await arm.call("GET", status_url, api_version=None)
        assert status.status == 200
        seen.append(status.body["status"])
        if status.body["status"] != "InProgress":
            break
    assert seen[-1] == "Succeeded" and status.body["percentComplete"] == 100.0
    # Right after creation the cluster resizes toward minNodeCount, then settles.
    body = await arm.wait(name, lambda b: b["properties"]["properties"]["allocationState"] == "Steady")
    props = body["properties"]["properties"]
    assert (props["currentNodeCount"], props["targetNodeCount"]) == (2, 2)
    assert props["nodeStateCounts"]["idleNodeCount"] == 2


async def test_spec_profile_put_on_existing_is_200_updating_and_patch_is_200(
    spec_arm: Arm, unique: Callable[[str], str]
) -> None:
    arm = spec_arm
    name = unique("u")
    await arm.call("PUT", arm.compute_path(name), json=aml_body())
    await arm.wait(name, lambda b: b["properties"]["provisioningState"] == "Succeeded")
    again = await arm.call("PUT", arm.compute_path(name), json=aml_body(max_nodes=6))
    assert (again.status, again.body["properties"]["provisioningState"]) == (200, "Updating")
    await arm.wait(name, lambda b: b["properties"]["provisioningState"] == "Succeeded")
    patch = await arm.call("PATCH", arm.compute_path(name), json={"properties": {"scaleSettings": {"maxNodeCount": 3}}})
    assert (patch.status, patch.body["properties"]["provisioningState"]) == (200, "Updating")
    assert "Azure-AsyncOperation" in patch.headers
    body = await arm.wait(name, lambda b: b["properties"]["provisioningState"] == "Succeeded")
    assert body["properties"]["properties"]["scaleSettings"]["maxNodeCount"] == 3
    flat = await arm.call("PATCH", arm.compute_path(name), json={"properties": {"description": "x"}})
    assert (flat.status, flat.body["error"]["code"]) == (400, "MissingRequiredProperty")


async def test_spec_profile_delete_is_202_with_operation_and_location(
    spec_arm: Arm, unique: Callable[[str], str]
) -> None:
    arm = spec_arm
    name = unique("d")
    await arm.call("PUT", arm.compute_path(name), json=aml_body())
    await arm.wait(name, lambda b: b["properties"]["provisioningState"] == "Succeeded")
    missing = await arm.call("DELETE", arm.compute_path(name))
    assert (missing.status, missing.body["error"]["target"]) == (400, "underlyingResourceAction")
    reply = await arm.call("DELETE", arm.compute_path(name) + "?underlyingResourceAction=Delete")
    assert reply.status == 202 and reply.body is None
    assert reply.headers["Content-Length"] == "0"
    assert "computeOperationsResult" in reply.headers["Location"]
    during = await arm.call("GET", arm.compute_path(name))
    assert during.status == 404 or during.body["properties"]["provisioningState"] == "Deleting"
    while (await arm.call("GET", reply.headers["Location"], api_version=None)).status == 202:
        pass
    assert (await arm.call("GET", arm.compute_path(name))).status == 404


async def test_tags_are_kept(arm: Arm, unique: Callable[[str], str]) -> None:
    name = unique("t")
    body = aml_body() | {"tags": {"team": "ml", "managed-by": "operator"}}
    await arm.call("PUT", arm.compute_path(name), json=body)
    fetched = await arm.wait(name, lambda b: b["properties"]["provisioningState"] == "Succeeded")
    assert fetched["tags"] == {"team": "ml", "managed-by": "operator"}


async def test_compute_instance_states_and_last_operation(arm: Arm, unique: Callable[[str], str]) -> None:
    name = unique("ci")
    created = await arm.call("PUT", arm.compute_path(name), json=instance_body())
    assert created.body["properties"]["properties"]["state"] == "Creating"
    running = await arm.wait(name, lambda b: b["properties"]["properties"]["state"] == "Running")
    assert running["properties"]["properties"]["lastOperation"]["operationName"] == "Create"
    stop = await arm.call("POST", arm.compute_path(name) + "/stop")
    assert (stop.status, stop.body) == (202, None)
    assert "computeOperationsStatus" in stop.headers["Azure-AsyncOperation"]
    stopping = await arm.call("GET", arm.compute_path(name))
    assert stopping.body["properties"]["properties"]["state"] in ("Stopping", "Stopped")
    busy = await arm.call("POST", arm.compute_path(name) + "/start")
    assert busy.status in (409, 202)
    if busy.status == 409:
        await arm.wait(name, lambda b: b["properties"]["properties"]["state"] == "Stopped")
        assert (await arm.call("POST", arm.compute_path(name) + "/start")).status == 202
    started = await arm.wait(name, lambda b: b["properties"]["properties"]["state"] == "Running")
    assert started["properties"]["properties"]["lastOperation"]["operationName"] == "Start"
    assert started["properties"]["properties"]["lastOperation"]["operationStatus"] == "Succeeded"


async def test_api_version_is_required_and_checked(arm: Arm) -> None:
    path = arm.compute_path("x")
    missing = await arm.call("GET", path, api_version=None)
    assert (missing.status, missing.body["error"]["code"]) == (400, "MissingApiVersionParameter")
    for served in ("2020-02-02", "2023-08-01-preview", "2025-09-01"):
        assert (await arm.call("GET", path, api_version=served)).status == 404  # served: the compute is missing
    unknown = await arm.call("GET", path, api_version="2031-01-01")
    assert (unknown.status, unknown.body["error"]["code"]) == (400, "NoRegisteredProviderFound")
    assert "2025-09-01" in unknown.body["error"]["message"]
    malformed = await arm.call("GET", path, api_version="latest")
    assert (malformed.status, malformed.body["error"]["code"]) == (400, "InvalidApiVersionParameter")


async def test_paths_are_case_insensitive_and_unknown_types_404(arm: Arm) -> None:
    r = arm.running
    quotas = await arm.call(
        "GET",
        f"/subscriptions/{r.subscription_id}/providers/microsoft.machinelearningservices/locations/westeurope/Quotas",
    )
    assert quotas.status == 200 and quotas.body["value"]
    unknown = await arm.call(
        "GET", f"/subscriptions/{r.subscription_id}/providers/Microsoft.MachineLearningServices/things"
    )
    assert (unknown.status, unknown.body["error"]["code"]) == (404, "InvalidResourceType")


async def test_vm_sizes_answer_both_keys_and_filter_by_type(arm: Arm) -> None:
    r = arm.running
    reply = await arm.call(
        "GET",
        f"/subscriptions/{r.subscription_id}/providers/Microsoft.MachineLearningServices/locations/westeurope/vmSizes",
    )
    assert reply.body["amlCompute"] == reply.body["value"] and len(reply.body["value"]) == 72
    instance_sizes = await arm.call(
        "GET",
        f"/subscriptions/{r.subscription_id}/providers/Microsoft.MachineLearningServices/locations/westeurope/vmSizes?compute-type=ComputeInstance",
    )
    assert len(instance_sizes.body["value"]) == 70


async def test_detach_leaves_the_underlying_resource_and_delete_removes_it() -> None:
    config = {"resources": [{"id": AKS_ID}, {"id": AKS_ID.replace("aks-existing", "aks-two")}]}
    async with run_emulator(config, **FAST) as emu:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            arm = Arm(emu, session, emu.ssl_context())
            for name, rid in (("kdetach", AKS_ID), ("kdelete", AKS_ID.replace("aks-existing", "aks-two"))):
                reply = await arm.call(
                    "PUT", arm.compute_path(name), json={"properties": {"computeType": "AKS", "resourceId": rid}}
                )
                assert reply.status == 201 and reply.body["properties"]["isAttachedCompute"] is True
                await arm.wait(name, lambda b: b["properties"]["provisioningState"] == "Succeeded")
            created = await arm.call("PUT", arm.compute_path("kcreated"), json={"properties": {"computeType": "AKS"}})
            created_id = created.body["properties"]["resourceId"]
            await arm.wait("kcreated", lambda b: b["properties"]["provisioningState"] == "Succeeded")
            ids = {r["id"].lower() for r in (await emu.acontrol("GET", "resources"))["resources"]}
            assert created_id.lower() in ids
            for name, action in (("kdetach", "Detach"), ("kdelete", "Delete"), ("kcreated", "Delete")):
                await arm.call("DELETE", arm.compute_path(name) + f"?underlyingResourceAction={action}")
            for name in ("kdetach", "kdelete", "kcreated"):
                for _ in range(1000):
                    if (await arm.call("GET", arm.compute_path(name))).status == 404:
                        break
            remaining = {r["id"].lower() for r in (await emu.acontrol("GET", "resources"))["resources"]}
            assert remaining == {AKS_ID.lower()}


async def test_retry_after_on_operations_when_configured(unique: Callable[[str], str]) -> None:
    async with run_emulator(timing_scale=0.05, retry_after=1) as emu:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            arm = Arm(emu, session, emu.ssl_context())
            reply = await arm.call("PUT", arm.compute_path(unique("r")), json=aml_body())
            assert reply.headers["Retry-After"] == "1"


async def test_changes_behind_the_operators_back(arm: Arm, unique: Callable[[str], str]) -> None:
    emu = arm.running
    name = unique("b")
    await arm.call("PUT", arm.compute_path(name), json=aml_body())
    await arm.wait(name, lambda b: b["properties"]["provisioningState"] == "Succeeded")
    path = f"computes/{emu.subscription_id}/{emu.resource_group}/{emu.workspace}/{name}"
    await emu.acontrol("PATCH", path, {"properties": {"properties": {"scaleSettings": {"minNodeCount": 1}}}})
    body = await arm.wait(name, lambda b: b["properties"]["properties"]["currentNodeCount"] == 1)
    assert body["properties"]["properties"]["scaleSettings"]["minNodeCount"] == 1
    await emu.acontrol("DELETE", path)
    assert (await arm.call("GET", arm.compute_path(name))).status == 404
