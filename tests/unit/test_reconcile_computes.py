"""The compute reconcile core, case by case, against an in-memory ComputeClient (one reason per case).

End-to-end behaviour against the real emulator and API server lives in tests/e2e; these pin down the
core's decisions: what it writes to Azure, in which order, and what the status says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_azure import FakeAzure

from aml_operator.api.compute_cluster import ComputeCluster
from aml_operator.api.compute_instance import ComputeInstance
from aml_operator.reconcile.compute_cluster import ComputeClusterDriver
from aml_operator.reconcile.compute_instance import ComputeInstanceDriver
from aml_operator.reconcile.computes import ComputeContext, delete_compute, reconcile_compute
from aml_operator.reconcile.external import (
    AzureError,
    JsonDict,
    Observation,
    OperationStatus,
    Usage,
    VmSize,
    WorkspaceTarget,
)
from aml_operator.reconcile.ownership import Owner

TARGET = WorkspaceTarget("00000000-0000-0000-0000-000000000000", "rg-ml", "ws-ml")
OWNER = Owner("cluster-1", "team-a", "ComputeCluster", "cpu")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SIZES = [VmSize("Standard_DS3_v2", "standardDSv2Family", 4, True), VmSize("Standard_NC6", "standardNCFamily", 6, False)]
USAGES = [
    Usage("Microsoft.MachineLearningServices/vmFamily/dedicatedCores/usages", "standardDSv2Family", 0, 24),
    Usage("Microsoft.MachineLearningServices/totalDedicatedCores/usages", "TotalDedicatedCores", 0, 100),
]


def fake_azure() -> FakeAzure:
    return FakeAzure(sizes=SIZES, usages=USAGES)


def cluster(status: JsonDict | None = None, annotations: dict[str, str] | None = None, **spec: Any) -> ComputeCluster:
    body: JsonDict = {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "ComputeCluster",
        "metadata": {"name": "cpu", "namespace": "team-a", "generation": 1, "annotations": annotations or {}},
        "spec": {
            "workspaceRef": {"name": "ws-ml"},
            "vmSize": "Standard_DS3_v2",
            "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4},
            **spec,
        },
        "status": status or {},
    }
    return ComputeCluster.model_validate(body)


def ctx(azure: FakeAzure, owner: Owner = OWNER) -> ComputeContext:
    return ComputeContext(client=azure, target=TARGET, location="westeurope", owner=owner, now=NOW, poll_interval=5)


def condition(status: JsonDict, type_: str) -> tuple[str, str]:
    found = next(c for c in status["conditions"] if c["type"] == type_)
    return found["status"], found["reason"]


def existing(azure: FakeAzure, tags: dict[str, str], state: str = "Succeeded", **props: Any) -> None:
    azure.computes["cpu"] = {
        "id": TARGET.compute_id("cpu"),
        "name": "cpu",
        "tags": tags,
        "properties": {
            "computeType": "AmlCompute",
            "provisioningState": state,
            "properties": {
                "vmSize": "STANDARD_DS3_V2",
                "vmPriority": "Dedicated",
                "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4},
                **props,
            },
        },
    }


async def test_create_records_intent_before_the_put_then_puts_once() -> None:
    azure, driver = fake_azure(), ComputeClusterDriver()
    first = await reconcile_compute(cluster(), driver, ctx(azure))
    assert azure.writes() == []
    assert first.status["lastOperation"]["operationStatus"] == "Pending"
    assert first.requeue_after == 0

    second = await reconcile_compute(cluster(status=first.status), driver, ctx(azure))
    assert azure.writes() == [("put", "cpu")]
    assert second.status["lastOperation"] == {
        "operationName": "Create",
        "operationStatus": "InProgress",
        "operationTime": "2026-01-01T00:00:00Z",
        "asyncOperationUrl": "op-cpu",
    }
    assert condition(second.status, "Reconciling") == ("True", "Creating")
    body = azure.computes["cpu"]
    assert body["tags"] == {"azureml.dev-owner": "team-a/ComputeCluster/cpu", "azureml.dev-cluster": "cluster-1"}
    assert body["properties"]["properties"]["scaleSettings"] == {"maxNodeCount": 4, "minNodeCount": 0}


async def test_a_crash_after_the_put_does_not_create_twice() -> None:
    azure, driver = fake_azure(), ComputeClusterDriver()
    first = await reconcile_compute(cluster(), driver, ctx(azure))
    await reconcile_compute(cluster(status=first.status), driver, ctx(azure))
    # The status write after the PUT was lost: the operator restarts from the Pending marker.
    azure.computes["cpu"]["properties"]["provisioningState"] = "Succeeded"
    again = await reconcile_compute(cluster(status=first.status), driver, ctx(azure))
    assert [w for w in azure.writes() if w[0] == "put"] == [("put", "cpu")]
    assert condition(again.status, "Ready") == ("True", "Succeeded")
    assert again.status["lastOperation"]["operationStatus"] == "Succeeded"  # the intent is spent


async def test_a_crash_after_the_put_while_azure_still_creates_follows_azure() -> None:
    azure, driver = fake_azure(), ComputeClusterDriver()
    intent = (await reconcile_compute(cluster(), driver, ctx(azure))).status
    await reconcile_compute(cluster(status=intent), driver, ctx(azure))  # PUT; its status write is lost
    resumed = await reconcile_compute(cluster(status=intent), driver, ctx(azure))
    assert condition(resumed.status, "Reconciling") == ("True", "Creating")
    assert resumed.status["lastOperation"]["operationStatus"] == "InProgress"
    assert len(azure.writes()) == 1


async def test_a_create_in_flight_is_followed_by_reading_the_compute_soon_then_less_often() -> None:
    azure, driver = fake_azure(), ComputeClusterDriver()
    listed_absent = ctx(azure)
    listed_absent.listed_absent = True
    intent = await reconcile_compute(cluster(), driver, listed_absent)
    assert azure.calls == [("vm_sizes", "westeurope")], "a name the workspace list lacks is not read again"
    started = await reconcile_compute(cluster(status=intent.status), driver, ctx(azure))
    assert started.requeue_after == 1.0  # FIRST_POLL: a one-node create may be done in a second

    def at(seconds: float) -> ComputeContext:
        later = ctx(azure)
        later.now = NOW + timedelta(seconds=seconds)
        return later

    polled = await reconcile_compute(cluster(status=started.status), driver, at(1))
    assert condition(polled.status, "Reconciling") == ("True", "Creating") and polled.requeue_after == 1.0
    assert (await reconcile_compute(cluster(status=started.status), driver, at(3))).requeue_after == 3.0
    assert (await reconcile_compute(cluster(status=started.status), driver, at(60))).requeue_after == 5.0
    azure.computes["cpu"]["properties"]["provisioningState"] = "Succeeded"
    done = await reconcile_compute(cluster(status=polled.status), driver, at(4))
    assert condition(done.status, "Ready") == ("True", "Succeeded")
    assert done.status["lastOperation"]["operationStatus"] == "Succeeded" and done.requeue_after is None
    assert "asyncOperationUrl" not in done.status["lastOperation"]
    assert [e.reason for e in done.events] == ["CreateSucceeded"]
    assert [c[0] for c in azure.calls if c[0] != "vm_sizes"] == ["get", "put", "get", "get", "get", "get"]
    assert ("poll", "op-cpu") not in azure.calls, "the compute's GET answers what the operation would"


async def test_a_create_azure_accepted_but_does_not_show_asks_the_operation() -> None:
    azure, driver = fake_azure(), ComputeClusterDriver()
    intent = await reconcile_compute(cluster(), driver, ctx(azure))
    started = await reconcile_compute(cluster(status=intent.status), driver, ctx(azure))
    del azure.computes["cpu"]  # not visible yet
    coming = await reconcile_compute(cluster(status=started.status), driver, ctx(azure))
    assert ("poll", "op-cpu") in azure.calls and condition(coming.status, "Reconciling") == ("True", "Creating")
    assert len(azure.writes()) == 1


@pytest.mark.parametrize(
    ("tags", "annotations", "reason", "writes"),
    [
        ({}, {}, "AlreadyExists", []),
        (
            {"azureml.dev-owner": "team-b/ComputeCluster/cpu", "azureml.dev-cluster": "cluster-1"},
            {},
            "AlreadyExists",
            [],
        ),
        ({}, {"azureml.dev/adopt": "true"}, "Updating", [("put", "cpu")]),
    ],
)
async def test_adoption_only_on_request(
    tags: dict[str, str], annotations: dict[str, str], reason: str, writes: list[tuple[str, ...]]
) -> None:
    azure = fake_azure()
    existing(azure, tags)
    result = await reconcile_compute(cluster(annotations=annotations), ComputeClusterDriver(), ctx(azure))
    assert condition(result.status, "Ready")[1] == reason
    assert azure.writes() == writes


async def test_scale_change_is_a_patch_not_a_put() -> None:
    azure = fake_azure()
    existing(azure, OWNER.tags())
    spec = {"scaleSettings": {"minNodeCount": 1, "maxNodeCount": 6}}
    result = await reconcile_compute(cluster(**spec), ComputeClusterDriver(), ctx(azure))
    assert azure.writes() == [("patch", "cpu")]
    assert condition(result.status, "Reconciling") == ("True", "Updating")


async def test_immutable_difference_is_refused_without_writes() -> None:
    azure = fake_azure()
    existing(azure, OWNER.tags())
    result = await reconcile_compute(cluster(vmSize="Standard_NC6"), ComputeClusterDriver(), ctx(azure))
    assert azure.writes() == []
    assert condition(result.status, "Stalled") == ("True", "ImmutableFieldChanged")
    assert "spec.vmSize" in next(c["message"] for c in result.status["conditions"] if c["type"] == "Ready")


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"vmSize": "Standard_M128"}, "VmSizeNotAvailable"),
        ({"vmSize": "Standard_NC6", "vmPriority": "LowPriority"}, "LowPriorityNotSupported"),
        ({"scaleSettings": {"minNodeCount": 7, "maxNodeCount": 8}}, "QuotaExceeded"),  # 7 x 4 > 24
    ],
)
async def test_prechecks_refuse_before_any_write(spec: JsonDict, reason: str) -> None:
    azure = fake_azure()
    result = await reconcile_compute(cluster(**spec), ComputeClusterDriver(), ctx(azure))
    assert azure.writes() == []
    assert condition(result.status, "Stalled") == ("True", reason)


async def test_quota_exactly_full_is_accepted() -> None:
    azure = fake_azure()
    result = await reconcile_compute(
        cluster(scaleSettings={"minNodeCount": 0, "maxNodeCount": 6}), ComputeClusterDriver(), ctx(azure)
    )
    assert condition(result.status, "Reconciling") == ("True", "Creating")


async def test_deleted_behind_our_back_is_recreated_with_an_event() -> None:
    azure = fake_azure()
    status = {
        "azureResourceId": TARGET.compute_id("cpu"),
        "lastOperation": {"operationName": "Create", "operationStatus": "Succeeded"},
    }
    result = await reconcile_compute(cluster(status=status), ComputeClusterDriver(), ctx(azure))
    assert any(e.reason == "DeletedInAzure" and e.type == "Warning" for e in result.events)
    assert result.status["lastOperation"]["operationStatus"] == "Pending"


async def test_a_maximum_beyond_quota_is_created_with_a_warning() -> None:
    azure = fake_azure()
    result = await reconcile_compute(
        cluster(scaleSettings={"minNodeCount": 0, "maxNodeCount": 7}), ComputeClusterDriver(), ctx(azure))
    assert condition(result.status, "Reconciling") == ("True", "Creating")
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "MaxNodesBeyondQuota")]
    assert "cannot scale beyond 6 node(s)" in result.events[0].message
    assert "cannot scale beyond 6 node(s)" in next(c["message"] for c in result.status["conditions"]
                                                   if c["type"] == "Reconciling")


@pytest.mark.parametrize(
    ("error", "ready", "reason", "retry_in"),
    [
        (AzureError("TooManyRequests", 429, "Throttled", True, "slow down", retry_after=30), "Unknown",
         "Throttled", 30),
        (AzureError("AuthorizationFailed", 403, "AuthorizationFailed", False, "no role"), "False",
         "AuthorizationFailed", None),
    ],
)
async def test_a_failed_look_never_leaves_ready_true(error: AzureError, ready: str, reason: str,
                                                     retry_in: float | None) -> None:
    azure = fake_azure()
    existing(azure, OWNER.tags())
    was_ready = (await reconcile_compute(cluster(), ComputeClusterDriver(), ctx(azure))).status
    assert condition(was_ready, "Ready") == ("True", "Succeeded")
    azure.fail = error
    result = await reconcile_compute(cluster(status=was_ready), ComputeClusterDriver(), ctx(azure))
    assert condition(result.status, "Ready") == (ready, reason)
    if retry_in is not None:
        assert result.status["retry"]["nextAttemptTime"] == "2026-01-01T00:00:30Z"
    azure.fail = None
    back = await reconcile_compute(cluster(status=result.status), ComputeClusterDriver(), ctx(azure))
    assert condition(back.status, "Ready") == ("True", "Succeeded") and "retry" not in back.status


async def test_skip_annotation_pauses_writes() -> None:
    azure = fake_azure()
    existing(azure, OWNER.tags())
    obj = cluster(annotations={"azureml.dev/reconcile": "skip"}, scaleSettings={"minNodeCount": 2, "maxNodeCount": 4})
    result = await reconcile_compute(obj, ComputeClusterDriver(), ctx(azure))
    assert azure.writes() == []
    assert condition(result.status, "Ready")[1] == "ReconcileSkipped"


@pytest.mark.parametrize(
    ("policy", "tags", "writes", "finished"),
    [
        ("Delete", OWNER.tags(), [("delete", "cpu", "Delete")], False),
        ("Detach", OWNER.tags(), [("delete", "cpu", "Detach")], False),
        ("Orphan", OWNER.tags(), [], True),
        ("Delete", {}, [], True),  # not ours: never deleted
    ],
)
async def test_delete_honours_policy_and_ownership(
    policy: str, tags: dict[str, str], writes: list[tuple[str, ...]], finished: bool
) -> None:
    azure = fake_azure()
    existing(azure, tags)
    result = await delete_compute(cluster(deletionPolicy=policy), ComputeClusterDriver(), ctx(azure))
    assert azure.writes() == writes
    assert result.finished is finished


async def test_delete_finishes_only_when_azure_confirms() -> None:
    azure = fake_azure()
    existing(azure, OWNER.tags())
    started = await delete_compute(cluster(), ComputeClusterDriver(), ctx(azure))
    assert not started.finished
    azure.operations["op-cpu"] = OperationStatus("Succeeded")
    confirmed = await delete_compute(cluster(status=started.status), ComputeClusterDriver(), ctx(azure))
    assert confirmed.finished


def instance(state: str) -> ComputeInstance:
    return ComputeInstance.model_validate(
        {
            "apiVersion": "azureml.dev/v1alpha1",
            "kind": "ComputeInstance",
            "metadata": {"name": "cpu", "namespace": "team-a", "generation": 3},
            "spec": {"workspaceRef": {"name": "ws-ml"}, "vmSize": "Standard_DS3_v2", "state": state},
        }
    )


@pytest.mark.parametrize(
    ("wanted", "azure_state", "writes", "reason"),
    [
        ("Stopped", "Running", [("power", "cpu", "Stop")], "Stopping"),
        ("Running", "Stopped", [("power", "cpu", "Start")], "Starting"),
        ("Running", "Starting", [], "Starting"),
        ("Running", "Running", [], "Succeeded"),
    ],
)
async def test_instance_state_follows_the_spec(
    wanted: str, azure_state: str, writes: list[tuple[str, ...]], reason: str
) -> None:
    azure = fake_azure()
    azure.computes["cpu"] = {
        "id": "x",
        "tags": OWNER.tags(),
        "properties": {
            "computeType": "ComputeInstance",
            "provisioningState": "Succeeded",
            "properties": {"vmSize": "Standard_DS3_v2", "state": azure_state},
        },
    }
    result = await reconcile_compute(instance(wanted), ComputeInstanceDriver(), ctx(azure))
    assert azure.writes() == writes
    assert condition(result.status, "Ready")[1] == reason


async def test_a_stalled_object_warns_once_not_on_every_pass() -> None:
    azure = fake_azure()
    existing(azure, {})
    first = await reconcile_compute(cluster(), ComputeClusterDriver(), ctx(azure))
    again = await reconcile_compute(cluster(status=first.status), ComputeClusterDriver(), ctx(azure))
    assert [e.reason for e in first.events] == ["AlreadyExists"]
    assert again.events == []
    assert condition(again.status, "Stalled") == ("True", "AlreadyExists")


def resync(azure: FakeAzure, at: datetime = NOW, seen: Any = "list") -> ComputeContext:
    """The timer's pass: what the workspace list showed, and the retry schedule obeyed."""
    context = ctx(azure)
    context.now, context.changed, context.observed_given = at, False, True
    context.observed = Observation("cpu", azure.computes["cpu"]) if seen == "list" and "cpu" in azure.computes \
        else None if seen == "list" else seen
    return context


@pytest.mark.parametrize(
    ("spec", "state", "reason"),
    [({"vmSize": "Standard_NC6"}, "Succeeded", "ImmutableFieldChanged"),
     ({}, "Failed", "ProvisioningFailed")],
)
async def test_the_list_pass_agrees_with_the_get_pass(spec: JsonDict, state: str, reason: str) -> None:
    azure = fake_azure()
    existing(azure, OWNER.tags(), state=state)
    status = (await reconcile_compute(cluster(**spec), ComputeClusterDriver(), ctx(azure))).status
    for _ in range(3):
        status = (await reconcile_compute(cluster(status=status, **spec), ComputeClusterDriver(),
                                          resync(azure))).status
        assert condition(status, "Stalled") == ("True", reason)
        assert condition(status, "Ready")[0] == "False"
    assert azure.writes() == []


async def test_a_refused_first_put_waits_for_its_backoff_without_flapping() -> None:
    azure, driver = fake_azure(), ComputeClusterDriver()
    status = (await reconcile_compute(cluster(), driver, ctx(azure))).status
    azure.refuse_writes = AzureError("AuthorizationFailed", 403, "AuthorizationFailed", False, "no role")
    refused = await reconcile_compute(cluster(status=status), driver, ctx(azure))
    assert azure.writes() == [("put", "cpu")]
    assert condition(refused.status, "Stalled") == ("True", "AuthorizationFailed")
    assert refused.status["lastOperation"]["operationStatus"] == "Pending"  # the intent is kept
    assert refused.status["retry"]["attempt"] == 1
    azure.refuse_writes = None
    puts = len(azure.writes())
    held = await reconcile_compute(cluster(status=refused.status), driver, resync(azure, NOW + timedelta(seconds=20)))
    assert held.status == refused.status and held.events == [] and len(azure.writes()) == puts
    retried = await reconcile_compute(cluster(status=refused.status), driver,
                                      resync(azure, NOW + timedelta(seconds=40)))
    assert condition(retried.status, "Reconciling") == ("True", "Creating")
    assert azure.writes()[-1] == ("put", "cpu") and "retry" not in retried.status


async def test_a_changed_secret_or_workspace_retries_at_once() -> None:
    azure, driver = fake_azure(), ComputeClusterDriver()
    existing(azure, OWNER.tags())
    azure.fail = AzureError("AuthorizationFailed", 403, "AuthorizationFailed", False, "no role")
    first = ctx(azure)
    first.inputs = "workspace@1"
    stalled = await reconcile_compute(cluster(scaleSettings={"minNodeCount": 0, "maxNodeCount": 6}), driver, first)
    assert condition(stalled.status, "Stalled") == ("True", "AuthorizationFailed")
    azure.fail = None
    later = resync(azure, NOW + timedelta(seconds=1))
    later.inputs = "workspace@2"
    retried = await reconcile_compute(cluster(status=stalled.status,
                                              scaleSettings={"minNodeCount": 0, "maxNodeCount": 6}), driver, later)
    assert azure.writes() == [("patch", "cpu")]
    assert condition(retried.status, "Reconciling") == ("True", "Updating")


async def test_a_put_answered_with_another_owners_tags_is_never_followed_by_a_write() -> None:
    azure, driver = fake_azure(), ComputeClusterDriver()
    intent = (await reconcile_compute(cluster(), driver, ctx(azure))).status
    azure.race_winner_tags = {"azureml.dev-owner": "team-b/ComputeCluster/cpu", "azureml.dev-cluster": "cluster-1"}
    lost = await reconcile_compute(cluster(status=intent), driver, ctx(azure))
    assert condition(lost.status, "Stalled") == ("True", "AlreadyExists")
    assert "it belongs to team-b/ComputeCluster/cpu" in lost.message
    assert "lastOperation" not in lost.status and len(azure.writes()) == 1

    azure.race_winner_tags = None
    again = await reconcile_compute(cluster(status=lost.status), driver, ctx(azure))
    assert condition(again.status, "Stalled") == ("True", "AlreadyExists")
    deleted = await delete_compute(cluster(status=again.status), driver, ctx(azure))
    assert deleted.finished and "cpu" in azure.computes and len(azure.writes()) == 1


async def test_a_refusal_on_the_lists_word_alone_looks_at_the_compute_first() -> None:
    azure, driver = fake_azure(), ComputeClusterDriver()
    existing(azure, {})  # appeared after the workspace list was taken
    listed_absent = ctx(azure)
    listed_absent.listed_absent = True
    result = await reconcile_compute(cluster(vmSize="Standard_M128"), driver, listed_absent)
    assert condition(result.status, "Stalled") == ("True", "AlreadyExists") and azure.writes() == []


WEEKDAY_STOP = {"action": "Stop", "recurrence": {"frequency": "Week", "hours": [18], "minutes": [0],
                                                 "weekDays": ["Monday", "Friday"]}}


def scheduled_instance(state: str | None = None, **spec: Any) -> ComputeInstance:
    body: JsonDict = {"workspaceRef": {"name": "ws-ml"}, "vmSize": "Standard_DS3_v2", **spec}
    if state is not None:
        body["state"] = state
    return ComputeInstance.model_validate({"apiVersion": "azureml.dev/v1alpha1", "kind": "ComputeInstance",
                                           "metadata": {"name": "cpu", "namespace": "team-a", "generation": 3},
                                           "spec": body})


def azure_instance(azure: FakeAzure, state: str, **props: Any) -> None:
    azure.computes["cpu"] = {"id": "x", "tags": OWNER.tags(), "properties": {
        "computeType": "ComputeInstance", "provisioningState": "Succeeded",
        "properties": {"vmSize": "Standard_DS3_v2", "state": state, **props}}}


@pytest.mark.parametrize(
    ("azure_state", "reason"),
    [("Stopped", "Succeeded"), ("Running", "Succeeded"), ("Stopping", "Stopping")],
)
async def test_an_instance_without_spec_state_is_left_to_azure(azure_state: str, reason: str) -> None:
    azure = fake_azure()
    azure_instance(azure, azure_state, lastOperation={"operationName": "Stop", "operationStatus": "Succeeded",
                                                      "operationTrigger": "Schedule"})
    result = await reconcile_compute(scheduled_instance(), ComputeInstanceDriver(), ctx(azure))
    assert azure.writes() == []
    assert condition(result.status, "Ready")[1] == reason
    assert result.status["lastOperation"]["operationTrigger"] == "Schedule"


async def test_schedules_and_idle_time_are_sent_and_changed_in_place() -> None:
    azure = fake_azure()
    driver = ComputeInstanceDriver()
    obj = scheduled_instance(idleTimeBeforeShutdown="PT30M", schedules=[
        {"action": "Start", "cron": "0 8 * * 1-5", "timeZone": "W. Europe Standard Time"}, WEEKDAY_STOP])
    sent = driver.desired_properties(obj, {})
    assert sent["idleTimeBeforeShutdown"] == "PT30M"
    assert sent["schedules"]["computeStartStop"] == [
        {"action": "Start", "status": "Enabled", "triggerType": "Cron",
         "cron": {"expression": "0 8 * * 1-5", "timeZone": "W. Europe Standard Time"}},
        {"action": "Stop", "status": "Enabled", "triggerType": "Recurrence",
         "recurrence": {"frequency": "Week", "interval": 1, "timeZone": "UTC",
                        "schedule": {"hours": [18], "minutes": [0], "weekDays": ["Monday", "Friday"]}}}]
    # Azure echoes what it was sent plus ids and provisioning status: nothing to do.
    echoed = [{**s, "id": f"id-{i}", "provisioningStatus": "Completed"}
              for i, s in enumerate(sent["schedules"]["computeStartStop"])]
    azure_instance(azure, "Running", idleTimeBeforeShutdown="PT30M", schedules={"computeStartStop": echoed})
    assert driver.update_needed(obj, (await azure.get(TARGET, "cpu")) or Observation("cpu", {})) is None
    changed = scheduled_instance(idleTimeBeforeShutdown="PT1H", schedules=[WEEKDAY_STOP])
    result = await reconcile_compute(changed, driver, ctx(azure))
    assert [w[0] for w in azure.writes()] == ["put"]
    assert "spec.schedules changed" in result.message
    # A PUT sets the idle time only at creation: an existing instance gets Azure's own action for it.
    azure_instance(azure, "Running", idleTimeBeforeShutdown="PT30M",
                   schedules={"computeStartStop": [{**echoed[1], "id": "id-0"}]})
    result = await reconcile_compute(changed, driver, ctx(azure))
    assert [w[:3] for w in azure.writes()][1:] == [("act", "cpu", "updateIdleShutdownSetting")]
    assert "updating spec.idleTimeBeforeShutdown of compute cpu" in result.message
    assert azure.computes["cpu"]["properties"]["properties"]["idleTimeBeforeShutdown"] == "PT1H"


async def test_inline_setup_scripts_travel_base64_encoded() -> None:
    obj = scheduled_instance(setupScripts={"creation": {"source": "inline", "command": "pip install x",
                                                        "timeoutMinutes": 5},
                                           "startup": {"source": "workspace", "path": "Users/me/start.sh",
                                                       "arguments": "-v"}})
    scripts = ComputeInstanceDriver().desired_properties(obj, {})["setupScripts"]["scripts"]
    assert scripts["creationScript"] == {"scriptSource": "inline", "scriptData": "cGlwIGluc3RhbGwgeA==",
                                         "timeout": "5m"}
    assert scripts["startupScript"] == {"scriptSource": "workspace", "scriptData": "Users/me/start.sh",
                                        "scriptArguments": "-v"}


@pytest.mark.parametrize(
    ("azure_identity", "writes"),
    [
        (None, ["put"]),
        ({"type": "SystemAssigned", "principalId": "p"}, ["put"]),
        ({"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {"/ID/A": {}}}, []),
        ({"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {"/id/b": {}}}, ["put"]),
    ],
)
async def test_a_cluster_identity_change_is_a_put_of_the_whole_cluster(
        azure_identity: JsonDict | None, writes: list[str]) -> None:
    azure = fake_azure()
    existing(azure, OWNER.tags(), scaleSettings={"minNodeCount": 0, "maxNodeCount": 4},
             osType="Linux", remoteLoginPortPublicAccess="Enabled")
    if azure_identity is not None:
        azure.computes["cpu"]["identity"] = azure_identity
    obj = cluster(identity={"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": ["/id/a"]})
    result = await reconcile_compute(obj, ComputeClusterDriver(), ctx(azure))
    assert [w[0] for w in azure.writes()] == writes
    if writes:
        assert "spec.identity" in result.message


async def test_a_cluster_public_ip_azure_does_not_have_is_refused_as_immutable() -> None:
    azure = fake_azure()
    existing(azure, OWNER.tags(), enableNodePublicIp=True, subnet={"id": "/subnet"})
    obj = cluster(enableNodePublicIp=False, subnetId="/subnet")
    result = await reconcile_compute(obj, ComputeClusterDriver(), ctx(azure))
    assert azure.writes() == []
    assert condition(result.status, "Stalled") == ("True", "ImmutableFieldChanged")
    assert "spec.enableNodePublicIp" in result.message


async def test_instance_status_shows_ssh_personal_and_network_settings_as_azure_reports_them() -> None:
    azure = fake_azure()
    azure_instance(azure, "Running", enableNodePublicIp=False, enableSSO=True, enableRootAccess=False,
                   sshSettings={"sshPublicAccess": "Enabled", "adminUserName": "azureuser", "sshPort": 50000},
                   personalComputeInstanceSettings={"assignedUser": {"objectId": "u-1", "tenantId": "t-1"}},
                   setupScripts={"scripts": {"creationScript": {"scriptSource": "inline", "scriptData": "ZWNobw=="}}})
    status = (await reconcile_compute(scheduled_instance(), ComputeInstanceDriver(), ctx(azure))).status
    assert status["ssh"] == {"adminUserName": "azureuser", "sshPort": 50000, "publicAccess": "Enabled"}
    assert (status["enableNodePublicIp"], status["enableSSO"], status["enableRootAccess"]) == (False, True, False)
    assert status["assignedUserObjectId"] == "u-1"
    assert status["setupScripts"] == [{"kind": "creation", "source": "inline"}]  # never the script's text
