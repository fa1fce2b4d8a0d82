"""Every SDK 1.0.1 operation, sync and aio, against the emulator, with real azure-identity credentials."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.machinelearningservices import models as m

from aml_emulator.testing import RunningEmulator, run_emulator_in_thread

from .conftest import FAST


def _aml(vm_size: str = "Standard_DS3_v2", min_nodes: int = 0, max_nodes: int = 4) -> m.ComputeResource:
    return m.ComputeResource(
        location="westeurope",
        tags={"owner": "tests"},
        properties=m.AmlCompute(
            description="a cluster",
            properties=m.AmlComputeProperties(
                vm_size=vm_size,
                vm_priority="Dedicated",
                scale_settings=m.ScaleSettings(max_node_count=max_nodes, min_node_count=min_nodes),
            ),
        ),
    )


def _instance() -> m.ComputeResource:
    return m.ComputeResource(
        location="westeurope",
        properties=m.ComputeInstance(properties=m.ComputeInstanceProperties(vm_size="Standard_DS3_v2")),
    )


def _aks_attach(resource_id: str) -> m.ComputeResource:
    return m.ComputeResource(location="westeurope", properties=m.AKS(resource_id=resource_id))


# SDK 1.0.1 is generated from the 2020-08-01 spec: its start/stop/restart accept 200 only, so the full
# lifecycle runs against the spec profile (the live 202s are covered by test_emulator_live_profile).
def test_sync_client_runs_every_operation(sync_spec_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    emu = sync_spec_emulator
    rg, ws = emu.resource_group, emu.workspace
    client = emu.client()
    ops = client.machine_learning_compute

    workspace = client.workspaces.get(rg, ws)
    assert (workspace.name, workspace.location) == (ws, "westeurope")

    cluster = unique("cpu")
    created = ops.begin_create_or_update(rg, ws, cluster, _aml(min_nodes=2)).result()
    assert created.properties.provisioning_state == "Succeeded"
    assert created.properties.properties.vm_size == "Standard_DS3_v2"
    assert created.tags == {"owner": "tests"}
    fetched = ops.get(rg, ws, cluster)
    assert fetched.properties.description == "a cluster"
    assert fetched.properties.properties.scale_settings.min_node_count == 2

    names = [c.name for c in ops.list_by_workspace(rg, ws)]
    assert cluster in names

    updated = ops.begin_update(
        rg, ws, cluster, m.ClusterUpdateParameters(scale_settings=m.ScaleSettings(max_node_count=6, min_node_count=1))
    ).result()
    assert updated.properties.provisioning_state == "Succeeded"
    assert updated.properties.properties.scale_settings.max_node_count == 6

    nodes = list(ops.list_nodes(rg, ws, cluster))
    assert all(n.node_state == "idle" for n in nodes)
    assert len(nodes) == ops.get(rg, ws, cluster).properties.properties.current_node_count

    instance = unique("ci")
    ci = ops.begin_create_or_update(rg, ws, instance, _instance()).result()
    assert ci.properties.properties.state == "Running"
    assert ops.stop(rg, ws, instance) is None
    assert ops.get(rg, ws, instance).properties.properties.state in ("Stopping", "Stopped")
    _wait_state(lambda: ops.get(rg, ws, instance), "Stopped")
    ops.start(rg, ws, instance)
    _wait_state(lambda: ops.get(rg, ws, instance), "Running")
    ops.restart(rg, ws, instance)
    after = _wait_state(lambda: ops.get(rg, ws, instance), "Running")
    assert after.properties.properties.last_operation.operation_name == "Restart"

    aks = unique("aks")
    aks_compute = ops.begin_create_or_update(
        rg, ws, aks, m.ComputeResource(location="westeurope", properties=m.AKS())
    ).result()
    assert aks_compute.properties.resource_id
    keys = ops.list_keys(rg, ws, aks)
    assert keys.compute_type == "AKS" and "apiVersion: v1" in keys.admin_kube_config

    sizes = client.virtual_machine_sizes.list("westeurope")
    assert any(s.name == "Standard_DS3_v2" for s in sizes.aml_compute)
    usages = list(client.usages.list("westeurope"))
    assert any(u.name.value == "TotalDedicatedCores" for u in usages)
    quotas = list(client.quotas.list("westeurope"))
    ws_quota_id = next(q.id for q in quotas if f"/workspaces/{ws}/quotas/" in q.id)
    result = client.quotas.update(
        "westeurope",
        m.QuotaUpdateParameters(value=[m.QuotaBaseProperties(id=ws_quota_id, limit=4, unit="Count")]),
    )
    assert [item.status for item in result.value] == ["Success"]

    for name in (cluster, instance, aks):
        assert ops.begin_delete(rg, ws, name, "Delete").result() is None
        with pytest.raises(ResourceNotFoundError):
            ops.get(rg, ws, name)


def _wait_state(get: Callable[[], Any], state: str, timeout: float = 20) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while True:
        current = get()
        if current.properties.properties.state == state:
            return current
        assert time.monotonic() < deadline, f"never reached {state}: {current.properties.properties.state}"
        time.sleep(0.02)


async def test_aio_client_runs_every_operation(spec_emulator: RunningEmulator, unique: Callable[[str], str]) -> None:
    import asyncio

    emu = spec_emulator
    rg, ws = emu.resource_group, emu.workspace
    credential = emu.credential(aio=True)
    async with credential, emu.client(aio=True, credential=credential) as client:
        ops = client.machine_learning_compute
        assert (await client.workspaces.get(rg, ws)).name == ws
        cluster = unique("cpu")
        poller = await ops.begin_create_or_update(rg, ws, cluster, _aml(min_nodes=1))
        created = await poller.result()
        assert created.properties.provisioning_state == "Succeeded"
        assert [c.name async for c in ops.list_by_workspace(rg, ws) if c.name == cluster] == [cluster]
        poller = await ops.begin_update(
            rg,
            ws,
            cluster,
            m.ClusterUpdateParameters(scale_settings=m.ScaleSettings(max_node_count=2, min_node_count=2)),
        )
        assert (await poller.result()).properties.properties.scale_settings.min_node_count == 2
        for _ in range(500):
            if (await ops.get(rg, ws, cluster)).properties.properties.allocation_state == "Steady":
                break
            await asyncio.sleep(0.02)
        nodes = [n async for n in ops.list_nodes(rg, ws, cluster)]
        assert len(nodes) == 2

        instance = unique("ci")
        await (await ops.begin_create_or_update(rg, ws, instance, _instance())).result()
        await ops.stop(rg, ws, instance)
        for _ in range(500):
            if (await ops.get(rg, ws, instance)).properties.properties.state == "Stopped":
                break
            await asyncio.sleep(0.02)
        await ops.start(rg, ws, instance)
        for _ in range(500):
            if (await ops.get(rg, ws, instance)).properties.properties.state == "Running":
                break
            await asyncio.sleep(0.02)
        await ops.restart(rg, ws, instance)
        aks = unique("aks")
        await (await ops.begin_create_or_update(rg, ws, aks, m.ComputeResource(properties=m.AKS()))).result()
        assert (await ops.list_keys(rg, ws, aks)).compute_type == "AKS"

        assert (await client.virtual_machine_sizes.list("westeurope")).aml_compute
        assert [u async for u in client.usages.list("westeurope")]
        assert [q async for q in client.quotas.list("westeurope")]
        result = await client.quotas.update(
            "westeurope",
            m.QuotaUpdateParameters(
                value=[
                    m.QuotaBaseProperties(
                        id=f"/subscriptions/{emu.subscription_id}/resourceGroups/{rg}/providers/"
                        f"Microsoft.MachineLearningServices/workspaces/{ws}/quotas/NotAFamily",
                        limit=1,
                    )
                ]
            ),
        )
        assert result.value[0].status == "InvalidVMFamilyName"
        for name in (cluster, instance, aks):
            await (await ops.begin_delete(rg, ws, name, "Delete")).result()
            with pytest.raises(ResourceNotFoundError):
                await ops.get(rg, ws, name)


def test_list_pages_follow_next_link(unique: Callable[[str], str]) -> None:
    with run_emulator_in_thread({"page_size": 2}, **FAST) as emu:
        client = emu.client()
        ops = client.machine_learning_compute
        names = sorted(unique("p") for _ in range(5))
        # One cluster holds 3 nodes (12 of the DSv2 family's 24 vCPUs); the others hold none.
        pollers = [
            ops.begin_create_or_update(emu.resource_group, emu.workspace, n, _aml(min_nodes=3 if i == 0 else 0))
            for i, n in enumerate(names)
        ]
        for poller in pollers:
            poller.result()
        listed = sorted(c.name for c in ops.list_by_workspace(emu.resource_group, emu.workspace))
        assert listed == names
        pages = emu.control("GET", "stats")["by_route"]
        assert pages["GET computes.list"] == 3  # 5 items in pages of 2
        # listNodes: the first page by POST, the next ones by GET on nextLink (as the SDK does).
        _wait_steady(ops, emu, names[0])
        nodes = list(ops.list_nodes(emu.resource_group, emu.workspace, names[0]))
        assert len({n.node_id for n in nodes}) == 3
        routes = emu.control("GET", "stats")["by_route"]
        assert routes["POST computes.listNodes"] == 1
        assert routes["GET computes.listNodes"] == 1


def _wait_steady(ops: Any, emu: RunningEmulator, name: str) -> None:
    import time

    deadline = time.monotonic() + 20
    while ops.get(emu.resource_group, emu.workspace, name).properties.properties.allocation_state != "Steady":
        assert time.monotonic() < deadline
        time.sleep(0.02)


_RESUME_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from azure.identity import ClientSecretCredential
    from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient
    info = json.loads(sys.argv[1])
    credential = ClientSecretCredential(info["tenant"], info["client_id"], info["secret"], authority=info["url"],
                                        disable_instance_discovery=True, connection_verify=info["ca"])
    client = MachineLearningServicesMgmtClient(credential, info["sub"], base_url=info["url"],
        credential_scopes=["https://management.azure.com/.default"], connection_verify=info["ca"],
        polling_interval=0.05)
    ops = client.machine_learning_compute
    if info["kind"] == "create":
        result = ops.begin_create_or_update(info["rg"], info["ws"], info["name"], None,
                                            continuation_token=info["token"]).result()
        print(json.dumps({"state": result.properties.provisioning_state, "name": result.name}))
    else:
        print(json.dumps({"result": ops.begin_delete(info["rg"], info["ws"], info["name"], "Delete",
                                                     continuation_token=info["token"]).result()}))
    """
)


def _resume_in_new_process(emu: RunningEmulator, kind: str, name: str, token: str) -> dict[str, Any]:
    info = {
        "url": emu.url,
        "ca": emu.ca_file,
        "tenant": emu.tenant_id,
        "client_id": emu.client_id,
        "secret": emu.client_secret,
        "sub": emu.subscription_id,
        "rg": emu.resource_group,
        "ws": emu.workspace,
        "name": name,
        "kind": kind,
        "token": token,
    }
    done = subprocess.run(
        [sys.executable, "-c", _RESUME_SCRIPT, json.dumps(info)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_pollers_resume_from_continuation_tokens_in_a_new_process(unique: Callable[[str], str]) -> None:
    # Long delays, so the operation is still running when the first process stops polling.
    with run_emulator_in_thread(timing_scale=3.0, retry_after=0) as emu:
        ops = emu.client().machine_learning_compute
        name = unique("r")
        poller = ops.begin_create_or_update(emu.resource_group, emu.workspace, name, _aml())
        token = poller.continuation_token()
        assert not poller.done()
        resumed = _resume_in_new_process(emu, "create", name, token)
        assert resumed == {"state": "Succeeded", "name": name}

        poller = ops.begin_delete(emu.resource_group, emu.workspace, name, "Delete")
        token = poller.continuation_token()
        assert _resume_in_new_process(emu, "delete", name, token) == {"result": None}
        with pytest.raises(ResourceNotFoundError):
            ops.get(emu.resource_group, emu.workspace, name)
        assert emu.control("GET", "stats")["creates"] == {
            f"{emu.subscription_id}/{emu.resource_group}/{emu.workspace}/{name}".lower(): 1
        }
