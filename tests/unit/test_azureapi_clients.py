"""The Azure adapter against the real emulator through the real SDK: one connection pool whatever the CA
setting, and the region's catalogue read once per interval as wire JSON."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aml_emulator.testing import RunningEmulator, run_emulator
from aml_operator.azureapi.clients import SDK_RETRIES, ClientFactory
from aml_operator.azureapi.computes import SdkComputeClient
from aml_operator.azureapi.ratelimit import CURRENT_PRIORITY, Priority
from aml_operator.reconcile.credentials import ServicePrincipal
from aml_operator.reconcile.external import AzureError, Usage, VmSize, WorkspaceTarget
from aml_operator.settings import Settings

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
TARGET = WorkspaceTarget(subscription_id=SUBSCRIPTION, resource_group="rg-ml", workspace_name="ws-ml")


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(timing_scale=0, retry_after=0) as running:
        yield running


def _principal(emu: RunningEmulator) -> ServicePrincipal:
    return ServicePrincipal(emu.tenant_id, emu.client_id, client_secret=emu.client_secret)


def _client_connections_to(port: int) -> int:
    """TCP connections this process holds open to ``port`` (client side only), from /proc."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            established = fields[3] == "01"
            if remote_port == port and established and fields[9] in inodes:
                count += 1
    return count


def _routes(emu: RunningEmulator, word: str) -> int:
    assert emu.emulator is not None
    stats = emu.emulator.stats.report({})
    return sum(count for route, count in stats["by_route"].items() if word in route)


async def test_requests_share_one_pool_when_a_ca_bundle_is_set(emulator: RunningEmulator) -> None:
    assert emulator.ca_file  # the emulator's own CA: exactly the AML_CA_BUNDLE case
    factory = ClientFactory(Settings(arm_endpoint=emulator.url, authority_host=emulator.url,
                                     ca_bundle=emulator.ca_file))
    adapter = SdkComputeClient(lambda subscription: factory.client(subscription, _principal(emulator)))
    port = int(emulator.url.rsplit(":", 1)[1])
    try:
        for round_ in range(20):
            assert await adapter.get(TARGET, f"absent-{round_}") is None
        # A token request and twenty GETs, one after the other: one kept-alive connection serves them all.
        # (azure-core's own CA handling opens a connection per request.)
        assert _client_connections_to(port) == 1
        await asyncio.gather(*(adapter.get(TARGET, f"absent-{i}") for i in range(30)))
        assert 1 <= _client_connections_to(port) <= 30
    finally:
        await factory.close()
    await asyncio.sleep(0)
    assert _client_connections_to(port) == 0, "closing the factory closes the shared pool"


async def test_region_catalogue_is_read_once_and_matches_the_sdk_models(emulator: RunningEmulator) -> None:
    factory = ClientFactory(Settings(arm_endpoint=emulator.url, authority_host=emulator.url,
                                     ca_bundle=emulator.ca_file))
    adapter = SdkComputeClient(lambda subscription: factory.client(subscription, _principal(emulator)))
    try:
        results = await asyncio.gather(*(adapter.vm_sizes(TARGET, emulator.location) for _ in range(10)),
                                       *(adapter.usages(TARGET, "WestEurope") for _ in range(10)))
        sizes, usages = results[0], results[10]
        assert all(r == sizes for r in results[:10]) and all(r == usages for r in results[10:])
        assert (_routes(emulator, "vmSizes"), _routes(emulator, "usages")) == (1, 1)

        # The same facts the SDK's models give, field by field.
        sdk = await factory.client(SUBSCRIPTION, _principal(emulator))
        listed = await sdk.virtual_machine_sizes.list(emulator.location)
        assert list(sizes) == [
            VmSize(name=str(s.name), family=str(s.family), vcpus=int(s.v_cp_us or 0),
                   low_priority_capable=bool(s.low_priority_capable),
                   supported_compute_types=tuple(s.supported_compute_types or ()))
            for s in listed.aml_compute or []]
        assert any(size.name == "Standard_DS3_v2" for size in sizes)
        assert list(usages) == [
            Usage(type=str(u.type), name=str(u.name.value if u.name else ""), current=int(u.current_value or 0),
                  limit=int(u.limit or 0))
            async for u in sdk.usages.list(emulator.location)]
        assert usages

        # Forgetting the region (on demand) reads it again.
        sdk.catalogue.usages.forget(emulator.location.lower())
        await adapter.usages(TARGET, emulator.location)
        assert _routes(emulator, "GET usages.list") == 3  # ours twice, the SDK's comparison once
    finally:
        await factory.close()


async def test_a_refused_create_makes_the_next_check_read_the_region_afresh(emulator: RunningEmulator) -> None:
    factory = ClientFactory(Settings(arm_endpoint=emulator.url, authority_host=emulator.url,
                                     ca_bundle=emulator.ca_file))
    adapter = SdkComputeClient(lambda subscription: factory.client(subscription, _principal(emulator)))
    try:
        await adapter.usages(TARGET, emulator.location)
        too_big = {"location": emulator.location, "properties": {"computeType": "AmlCompute", "properties": {
            "vmSize": "Standard_DS3_v2", "scaleSettings": {"minNodeCount": 100000, "maxNodeCount": 100000}}}}
        with pytest.raises(AzureError) as refused:
            await adapter.put(TARGET, "too-big", too_big)
        assert not refused.value.retryable
        await adapter.usages(TARGET, emulator.location)
        assert _routes(emulator, "GET usages.list") == 2
    finally:
        await factory.close()


async def test_the_sdk_retries_a_failing_call_only_briefly_before_the_core_classifies_it(
        emulator: RunningEmulator) -> None:
    factory = ClientFactory(Settings(arm_endpoint=emulator.url, authority_host=emulator.url,
                                     ca_bundle=emulator.ca_file))
    adapter = SdkComputeClient(lambda subscription: factory.client(subscription, _principal(emulator)))
    await emulator.acontrol("POST", "faults", {"route": "computes.get", "kind": "503", "rate": 1.0})
    try:
        with pytest.raises(AzureError) as refused:
            await adapter.get(TARGET, "unlucky")
        assert refused.value.retryable, "a 503 is the core's to retry soon"
        assert _routes(emulator, "GET computes.get") == 1 + SDK_RETRIES
    finally:
        await emulator.acontrol("DELETE", "faults")
        await factory.close()


async def test_a_pass_marked_in_flight_keeps_its_rank_for_every_call() -> None:
    async def client_for(subscription: str) -> object:
        return object()

    adapter = SdkComputeClient(client_for)  # type: ignore[arg-type]
    async with adapter._ops(TARGET, Priority.LIST):
        assert CURRENT_PRIORITY.get() == Priority.LIST
    token = CURRENT_PRIORITY.set(Priority.IN_FLIGHT)
    try:
        async with adapter._ops(TARGET, Priority.LIST):
            assert CURRENT_PRIORITY.get() == Priority.IN_FLIGHT
        assert CURRENT_PRIORITY.get() == Priority.IN_FLIGHT
    finally:
        CURRENT_PRIORITY.reset(token)
    assert CURRENT_PRIORITY.get() == Priority.OBJECT
