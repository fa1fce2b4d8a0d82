"""The workspace-wide list behind drift passes: one list per interval, refreshed by single reads."""

from __future__ import annotations

import asyncio

from fake_azure import FakeAzure

from aml_operator.reconcile.drift import WorkspaceSnapshots
from aml_operator.reconcile.external import AzureError, Observation, WorkspaceTarget
from aml_operator.reconcile.planner import ObservationFailed

TARGET = WorkspaceTarget("00000000-0000-0000-0000-000000000000", "rg-ml", "ws-ml")
SUCCEEDED = {"properties": {"computeType": "AmlCompute", "provisioningState": "Succeeded"}}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_objects_of_a_workspace_share_one_list_until_it_is_older_than_the_interval() -> None:
    azure, clock = FakeAzure(), Clock()
    azure.computes["a"] = SUCCEEDED
    snapshots = WorkspaceSnapshots(clock)
    for name in ("a", "b", "a"):
        await snapshots.observe(azure, TARGET, name, max_age=300, retry_after_failure=10)
    clock.now = 300
    await snapshots.observe(azure, TARGET, "a", max_age=300, retry_after_failure=10)
    assert azure.calls == [("list",), ("list",)]


async def test_a_compute_created_after_the_list_is_seen_once_a_single_read_refreshed_it() -> None:
    azure, clock = FakeAzure(), Clock()
    snapshots = WorkspaceSnapshots(clock)
    assert await snapshots.observe(azure, TARGET, "late", max_age=300, retry_after_failure=10) is None
    snapshots.refresh(TARGET, Observation("LATE", SUCCEEDED))
    seen = await snapshots.observe(azure, TARGET, "late", max_age=300, retry_after_failure=10)
    assert isinstance(seen, Observation) and seen.resource == SUCCEEDED
    assert azure.calls == [("list",)]


async def test_a_failed_list_stays_failed_for_everyone_whatever_single_reads_saw() -> None:
    azure, clock = FakeAzure(), Clock()
    azure.fail = azure_error = AzureError("ServiceUnavailable", 503, "AzureUnavailable", True, "down")
    snapshots = WorkspaceSnapshots(clock)
    first = await snapshots.observe(azure, TARGET, "a", max_age=300, retry_after_failure=10)
    snapshots.refresh(TARGET, Observation("a", SUCCEEDED))
    second = await snapshots.observe(azure, TARGET, "a", max_age=300, retry_after_failure=10)
    assert isinstance(first, ObservationFailed) and isinstance(second, ObservationFailed)
    assert first.error is azure_error and azure.calls == [("list",)]


async def test_a_read_made_while_the_next_list_ran_outlives_that_list() -> None:
    azure, clock = FakeAzure(), Clock()
    azure.computes["busy"] = {"properties": {"provisioningState": "Creating"}}
    snapshots = WorkspaceSnapshots(clock)
    await snapshots.observe(azure, TARGET, "busy", max_age=300, retry_after_failure=10)
    clock.now = 300
    listing = asyncio.get_running_loop().create_future()
    real_list = azure.list

    async def slow_list(target: WorkspaceTarget) -> list[Observation]:
        pages = await real_list(target)  # the pages as Azure held them when the list started
        await listing
        return pages

    azure.list = slow_list  # type: ignore[method-assign]
    renewal = asyncio.create_task(snapshots.observe(azure, TARGET, "busy", max_age=300, retry_after_failure=10))
    await asyncio.sleep(0)
    clock.now = 301
    snapshots.refresh(TARGET, Observation("busy", SUCCEEDED))  # a GET after the create ended
    listing.set_result(None)
    await renewal
    seen = await snapshots.observe(azure, TARGET, "busy", max_age=300, retry_after_failure=10)
    assert isinstance(seen, Observation) and seen.resource == SUCCEEDED
    clock.now = 602  # the list after that one started after the GET: it wins
    azure.list = real_list  # type: ignore[method-assign]
    azure.computes["busy"] = {"properties": {"provisioningState": "Deleting"}}
    seen = await snapshots.observe(azure, TARGET, "busy", max_age=300, retry_after_failure=10)
    assert isinstance(seen, Observation) and seen.resource == azure.computes["busy"]


async def test_a_compute_listed_again_as_before_keeps_its_entry_so_a_pass_can_tell_nothing_changed() -> None:
    azure, clock = FakeAzure(), Clock()
    azure.computes["same"] = SUCCEEDED
    azure.computes["moved"] = SUCCEEDED
    snapshots = WorkspaceSnapshots(clock)
    same = await snapshots.observe(azure, TARGET, "same", max_age=300, retry_after_failure=10)
    moved = await snapshots.observe(azure, TARGET, "moved", max_age=300, retry_after_failure=10)
    assert isinstance(same, Observation) and isinstance(moved, Observation)
    assert snapshots.still(TARGET, "SAME", same, max_age=300)
    clock.now = 300
    assert not snapshots.still(TARGET, "same", same, max_age=300)  # too old: a pass must list again
    azure.computes["moved"] = {"properties": {"computeType": "AmlCompute", "provisioningState": "Failed"}}
    await snapshots.observe(azure, TARGET, "same", max_age=300, retry_after_failure=10)
    assert snapshots.still(TARGET, "same", same, max_age=300)
    assert not snapshots.still(TARGET, "moved", moved, max_age=300)
    azure.fail = AzureError("ServiceUnavailable", 503, "AzureUnavailable", True, "down")
    clock.now = 600
    await snapshots.observe(azure, TARGET, "same", max_age=300, retry_after_failure=10)
    assert not snapshots.still(TARGET, "same", same, max_age=300)  # a failed list shows nothing
