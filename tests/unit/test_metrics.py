"""Metric labels stay low-cardinality (no compute names, ids or operation GUIDs); passes count by outcome."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from aml_operator.admission import Admission, Turn
from aml_operator.metrics import operation_of, record_pass, track_passes

WS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
LOC = "/subscriptions/s/providers/Microsoft.MachineLearningServices/locations/westeurope"


@pytest.mark.parametrize(("url", "operation"), [
    (f"https://arm{WS}?api-version=2020-08-01", "workspaces"),
    (f"https://arm{WS}/computes?api-version=2020-08-01", "computes"),
    (f"https://arm{WS}/computes/cpu-1?api-version=2020-08-01", "computes"),
    (f"https://arm{WS}/computes/cpu-1/start?api-version=2020-08-01", "start"),
    (f"https://arm{WS}/computes/cpu-1/listKeys?api-version=2020-08-01", "listKeys"),
    (f"https://arm{LOC}/vmSizes?api-version=2020-08-01", "vmSizes"),
    (f"https://arm{LOC}/usages?api-version=2020-08-01", "usages"),
    (f"https://arm{LOC}/computeOperationsStatus/7f3c?api-version=2020-08-01&service=new", "computeOperationsStatus"),
    ("https://login/tenant/oauth2/v2.0/token", "other"),
])
def test_operation_names_the_kind_of_request_not_the_resource(url: str, operation: str) -> None:
    assert operation_of(url) == operation


@pytest.mark.parametrize(
    ("ready", "stalled", "outcome"),
    [("True", "False", "ready"), ("False", "True", "stalled"), ("Unknown", "False", "unknown"),
     ("False", "False", "progressing")],
)
def test_a_pass_is_counted_by_what_its_conditions_say(ready: str, stalled: str, outcome: str) -> None:
    labels = {"kind": "MetricsTest", "outcome": outcome}
    before = REGISTRY.get_sample_value("aml_reconciles_total", labels) or 0.0
    status = {"conditions": [{"type": "Ready", "status": ready, "reason": "R"},
                             {"type": "Stalled", "status": stalled, "reason": "S"}]}
    record_pass("MetricsTest", "ns", f"obj-{outcome}", {}, status, datetime(2026, 1, 1, tzinfo=UTC))
    assert REGISTRY.get_sample_value("aml_reconciles_total", labels) == before + 1


@pytest.mark.parametrize("before", ["Pending", "InProgress"])
def test_an_operation_is_timed_from_its_intent_or_its_start_to_its_end(before: str) -> None:
    labels = {"kind": f"Timed{before}", "operation": "Create", "result": "Succeeded"}
    op = {"operationName": "Create", "operationTime": "2026-01-01T00:00:00Z"}
    record_pass(f"Timed{before}", "ns", "obj", {"lastOperation": {**op, "operationStatus": before}},
                {"lastOperation": {**op, "operationStatus": "Succeeded"}}, datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC))
    assert REGISTRY.get_sample_value("aml_operation_duration_seconds_sum", labels) == 2.0


async def test_passes_running_and_waiting_are_read_at_each_scrape() -> None:
    admission = Admission(1)
    track_passes(admission)
    release = asyncio.Event()

    async def hold() -> None:
        async with admission.slot(Turn.NEW):
            await release.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(3)]
    await asyncio.sleep(0)
    assert REGISTRY.get_sample_value("aml_compute_passes", {"state": "running"}) == 1
    assert REGISTRY.get_sample_value("aml_compute_passes", {"state": "waiting"}) == 2
    release.set()
    await asyncio.gather(*tasks)
    assert REGISTRY.get_sample_value("aml_compute_passes", {"state": "waiting"}) == 0
