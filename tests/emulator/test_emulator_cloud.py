"""What a client configured for a custom cloud reads first: metadata, discovery, subscriptions, odd paths."""

from __future__ import annotations

from collections.abc import Callable

from .conftest import Arm, aml_body, instance_body


async def test_cloud_metadata_names_the_emulator_for_every_endpoint(arm: Arm) -> None:
    reply = await arm.raw("GET", "/metadata/endpoints?api-version=2019-05-01")
    assert reply.status == 200 and isinstance(reply.body, list)
    (cloud,) = reply.body
    root = f"{arm.running.url}/"
    assert cloud["resourceManager"] == root and cloud["authentication"]["loginEndpoint"] == root
    assert cloud["authentication"]["audiences"][0] == root and cloud["suffixes"]["storage"]
    single = await arm.raw("GET", "/metadata/endpoints?api-version=2015-01-01")
    assert single.body["name"] == cloud["name"]


async def test_a_token_for_the_emulators_own_url_is_accepted(arm: Arm) -> None:
    r = arm.running
    reply = await arm.raw(
        "POST",
        f"/{r.tenant_id}/oauth2/v2.0/token",
        form={
            "grant_type": "client_credentials",
            "client_id": r.client_id,
            "client_secret": r.client_secret,
            "scope": f"{r.url}/.default",  # what azure-ai-ml asks for: resource manager URL + /.default
        },
    )
    assert reply.status == 200
    workspace = await arm.call("GET", arm.compute_path("x").rsplit("/computes", 1)[0], token=reply.body["access_token"])
    assert workspace.status == 200


async def test_workspace_discovery_and_the_v1_data_plane_prefix(arm: Arm, unique: Callable[[str], str]) -> None:
    r = arm.running
    workspace = await arm.call("GET", arm.compute_path("x").rsplit("/computes", 1)[0], api_version="2022-05-01")
    discovery_url = workspace.body["properties"]["discoveryUrl"]
    assert discovery_url.startswith(r.url)
    services = (await arm.raw("GET", discovery_url)).body
    assert services["api"] == r.url
    name = unique("rp")
    await arm.call("PUT", arm.compute_path(name), json=aml_body(), api_version="2020-02-02")
    through_rp = await arm.call(
        "GET", f"{services['api']}/rp/workspaces{arm.compute_path(name)}", api_version="2020-02-02"
    )
    doubled = await arm.call("GET", f"{r.url}/{arm.compute_path(name)}", api_version="2020-02-02")  # //subscriptions
    assert through_rp.status == doubled.status == 200
    assert through_rp.body["name"] == doubled.body["name"] == name


async def test_subscriptions_list_what_the_caller_holds_a_role_in(arm: Arm) -> None:
    reply = await arm.call("GET", "/subscriptions", api_version="2022-12-01")
    assert reply.status == 200
    assert [s["subscriptionId"] for s in reply.body["value"]] == [arm.running.subscription_id]
    one = await arm.call("GET", f"/subscriptions/{arm.running.subscription_id}", api_version="2022-12-01")
    assert one.body["state"] == "Enabled" and one.body["tenantId"] == arm.running.tenant_id
    wrong_version = await arm.call("GET", "/subscriptions", api_version="2020-08-01")
    assert (wrong_version.status, wrong_version.body["error"]["code"]) == (400, "NoRegisteredProviderFound")


async def test_compute_name_availability(arm: Arm, unique: Callable[[str], str]) -> None:
    name = unique("ci")
    path = arm.compute_path("x").rsplit("/computes", 1)[0] + "/checkComputeNameAvailability"
    body = {"Name": name, "Type": "Microsoft.BatchAI/DataScienceInstance"}
    free = await arm.call("POST", path, json=body, api_version="2020-02-02")
    assert free.body == {"nameAvailable": True, "reason": None, "message": None}
    await arm.call("PUT", arm.compute_path(name), json=instance_body())
    taken = await arm.call("POST", path, json=body, api_version="2020-02-02")
    assert (taken.body["nameAvailable"], taken.body["reason"]) == (False, "AlreadyExists")


async def test_unknown_paths_get_an_arm_error_body(arm: Arm) -> None:
    for path in ("/nothing/here", "/subscriptions/x/resourceGroups/y/providers/Microsoft.Foo/bars"):
        reply = await arm.call("GET", path)
        assert reply.status == 404
        assert set(reply.body["error"]) >= {"code", "message"}
