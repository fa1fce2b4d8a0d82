"""Prometheus metrics of the operator, served on AML_METRICS_PORT (default 8081) at /metrics."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from aml_operator.admission import Admission
from aml_operator.api.common import UNFINISHED

RECONCILES = Counter("aml_reconciles_total",
                     "Reconcile passes by kind and outcome (ready, progressing, stalled, unknown).",
                     ["kind", "outcome"])
ARM_REQUESTS = Counter("aml_arm_requests_total", "Requests sent to Azure Resource Manager, by operation and status.",
                       ["operation", "method", "code"])
THROTTLED = Counter("aml_arm_throttled_total", "Responses Azure throttled (HTTP 429).")
THROTTLE_WAIT = Counter("aml_arm_throttle_wait_seconds_total",
                        "Seconds requests waited for the client-side token buckets.")
LRO_DURATION = Histogram("aml_operation_duration_seconds", "Duration of Azure long-running operations.",
                         ["kind", "operation", "result"],
                         buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600))

PASSES = Gauge("aml_compute_passes", "Compute passes running, and waiting for their turn (AML_CONCURRENT_PASSES).",
               ["state"])

_OPERATION = re.compile(
    r"/(workspaces|computes|vmSizes|usages|Quotas|computeOperationsStatus|listKeys|listNodes|start|stop|restart)"
    r"(?:/[^/?]*)?(?=[/?]|$)", re.IGNORECASE)


def operation_of(path: str) -> str:
    """A low-cardinality name for an ARM URL: the last known segment type (no names, ids or GUIDs)."""
    found = _OPERATION.findall(path.split("?", 1)[0])
    return found[-1] if found else "other"


class ConditionCollector(Collector):
    """Objects by kind and Ready state, as last seen by the operator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str, str], tuple[str, str]] = {}

    def observe(self, kind: str, namespace: str, name: str, ready: str, reason: str) -> None:
        with self._lock:
            self._objects[(kind, namespace, name)] = (ready, reason)

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            self._objects.pop((kind, namespace, name), None)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("aml_objects", "Objects by kind and Ready condition.",
                                   labels=["kind", "ready", "reason"])
        counts: dict[tuple[str, str, str], int] = {}
        with self._lock:
            for (kind, _, _), (ready, reason) in self._objects.items():
                counts[(kind, ready, reason)] = counts.get((kind, ready, reason), 0) + 1
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        yield family


OBJECTS = ConditionCollector()
REGISTRY.register(OBJECTS)


def record_pass(kind: str, namespace: str, name: str, before: Mapping[str, Any], after: Mapping[str, Any],
                now: datetime) -> None:
    """Count a pass, track the object's Ready state, and time operations that finished in it."""
    conditions: dict[str, Mapping[str, Any]] = {c.get("type", ""): c for c in after.get("conditions", [])}
    ready, stalled = conditions.get("Ready", {}), conditions.get("Stalled", {})
    outcome = ("ready" if ready.get("status") == "True" else "stalled" if stalled.get("status") == "True"
               else "unknown" if ready.get("status") == "Unknown" else "progressing")
    RECONCILES.labels(kind, outcome).inc()
    OBJECTS.observe(kind, namespace, name, str(ready.get("status", "Unknown")), str(ready.get("reason", "")))
    old_op, new_op = before.get("lastOperation") or {}, after.get("lastOperation") or {}
    # From the intent, too: a handler that PUTs and follows the operation to its end stores no InProgress.
    if old_op.get("operationStatus") in UNFINISHED and new_op.get("operationStatus") not in UNFINISHED:
        started = old_op.get("operationTime")
        if started:
            seconds = (now - datetime.fromisoformat(str(started).replace("Z", "+00:00"))).total_seconds()
            result = "Succeeded" if new_op.get("operationStatus") == "Succeeded" else "Failed"
            LRO_DURATION.labels(kind, str(old_op.get("operationName", "")), result).observe(max(0.0, seconds))


def track_passes(admission: Admission) -> None:
    """Read at each scrape: a queue that stays long says the limit or ARM's budget holds the operator back."""
    PASSES.labels("running").set_function(lambda: admission.running)
    PASSES.labels("waiting").set_function(lambda: admission.waiting)


def serve(port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from inside the cluster
    if port:
        start_http_server(port, addr=address)
