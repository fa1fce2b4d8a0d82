"""How computes move through their states over time, and what a GET shows at a given moment.

Nothing runs in the background: every request first calls `advance()`, which applies the
transitions whose due time has passed. AmlCompute node counts during a resize are derived
from the clock when rendered.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import math
import uuid
from typing import Any

from . import schedules, shapes
from .api_versions import DEFAULT_API_VERSION
from .catalog import Catalogue
from .state import ComputeRecord, Operation, Store

TRANSITIONAL_PROVISIONING = {"Creating", "Updating", "Deleting"}
TRANSITIONAL_INSTANCE = {"Creating", "Starting", "Stopping", "Restarting", "Deleting", "SettingUp"}
# Fields that carry secrets: stored for listKeys, never shown by GET/list.
_SECRET_PATHS: tuple[tuple[str, ...], ...] = (
    ("userAccountCredentials", "adminUserPassword"),
    ("administratorAccount", "password"),
    ("administratorAccount", "privateKeyData"),
    ("databricksAccessToken",),
    ("sslConfiguration", "key"),
)
_NODE_COUNT_KEYS = (
    "idleNodeCount",
    "runningNodeCount",
    "preparingNodeCount",
    "unusableNodeCount",
    "leavingNodeCount",
    "preemptedNodeCount",
)


def iso(timestamp: float) -> str:
    """The service's timestamp format: `2017-09-26T22:28:08.327Z`."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def _short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


class Lifecycle:
    def __init__(self, store: Store, catalogue: Catalogue) -> None:
        self.store = store
        self.catalogue = catalogue
        self._next_due = 0.0  # nothing can be due before this; lets advance() skip the scan

    @property
    def timing(self) -> Any:
        return self.store.config.timing

    @property
    def live(self) -> bool:
        return bool(self.store.config.profile == "live")

    def now(self) -> float:
        return self.store.clock.now()

    def wake(self, at: float) -> None:
        self._next_due = min(self._next_due, at)

    # -- advancing ---------------------------------------------------------------------------------------
    def advance(self) -> None:
        now = self.now()
        if now < self._next_due:
            return
        due_ops = sorted(
            (op for op in self.store.operations.values() if op.status == "InProgress" and op.due <= now),
            key=lambda op: op.due,
        )
        for op in due_ops:
            self._finish(op)
        next_due = math.inf
        for record in list(self.store.computes.values()):
            if record.compute_type == "ComputeInstance":
                next_due = min(next_due, self._instance_clock(record, now))
        for op in self.store.operations.values():
            if op.status == "InProgress":
                next_due = min(next_due, op.due)
        for record in self.store.computes.values():
            if record.resize is not None:
                end = self._resize_end(record.resize)
                if end <= now:
                    self._finish_resize(record)
                else:
                    next_due = min(next_due, end)
        self._next_due = next_due

    def start_operation(
        self,
        record: ComputeRecord,
        kind: str,
        duration: float,
        *,
        location: str,
        error: dict[str, Any] | None = None,
        underlying_action: str | None = None,
    ) -> Operation:
        now = self.now()
        op = Operation(
            id=new_id(),
            kind=kind,
            compute_key=record.key,
            subscription_id=record.subscription_id,
            location=location,
            started=now,
            due=now + max(duration, 0.0),
            error=error,
            underlying_action=underlying_action,
            previous={
                "provisioningState": record.props.get("provisioningState"),
                "state": record.inner.get("state"),
            },
        )
        self.store.operations[op.id] = op
        record.operation_id = op.id
        self.wake(op.due)
        return op

    def operation(self, op_id: str) -> Operation | None:
        self.advance()
        return self.store.operations.get(op_id)

    def _finish(self, op: Operation) -> None:
        op.ended = op.due
        op.status = "Failed" if op.error else "Succeeded"
        record = self.store.computes.get(op.compute_key)
        if record is None or record.operation_id != op.id:
            return
        record.operation_id = None
        finisher = getattr(self, f"_finish_{op.kind}")
        finisher(record, op)

    def _finish_create(self, record: ComputeRecord, op: Operation) -> None:
        self._finish_create_or_update(record, op, "Create")

    def _finish_update(self, record: ComputeRecord, op: Operation) -> None:
        self._finish_create_or_update(record, op, "Update")

    def _finish_create_or_update(self, record: ComputeRecord, op: Operation, name: str) -> None:
        props, inner = record.props, record.inner
        props["modifiedOn"] = iso(op.due)
        if op.error:
            props["provisioningState"] = "Failed"
            props["provisioningErrors"] = [{"error": {**op.error, "details": op.error.get("details", [])}}]
            if record.compute_type == "ComputeInstance" and name == "Create":
                inner["state"] = "CreateFailed"
                inner["lastOperation"] = self._last_operation("Create", op.started, "CreateFailed")
            return
        props["provisioningState"] = "Succeeded"
        props["provisioningErrors"] = None
        if record.compute_type == "AmlCompute":
            if inner.get("remoteLoginPortPublicAccess") in (None, "NotSpecified"):
                # "can be default only during cluster creation time, after creation it will be either enabled or
                # disabled" (2020-08-01 spec); disabled behind a VNet, as the portal does.
                inner["remoteLoginPortPublicAccess"] = "Disabled" if inner.get("subnet") else "Enabled"
            if inner.get("allocationState") is None:
                self._set_steady(record, 0, op.due)
            self.rescale(record, at=op.due)
        elif record.compute_type == "ComputeInstance" and name == "Create":
            inner["state"] = "Running"
            inner["lastOperation"] = self._last_operation("Create", op.started, "Succeeded")
            record.clock["running_since"] = op.due

    # -- compute instance schedules and idle shutdown ------------------------------------------------------
    def _instance_clock(self, record: ComputeRecord, now: float) -> float:
        """Apply the schedules' firings and the idle timer up to `now`; when to look again."""
        inner = record.inner
        plan, idle = inner.get("schedules"), inner.get("idleTimeBeforeShutdown")
        if not plan and not idle:
            return math.inf
        if record.operation_id is not None or record.props.get("provisioningState") != "Succeeded":
            return math.inf  # the operation's end wakes the clock again; firings meanwhile are still found then
        state = inner.get("state")
        seen = record.clock.get("schedules_seen", now)
        record.clock["schedules_seen"] = now
        firing = schedules.latest_firing(plan, seen, now)
        if firing is not None:
            at, action = firing
            if action == "Stop" and state == "Running":
                self._power(record, "stop", "Schedule", at)
                return math.inf
            if action == "Start" and state == "Stopped":
                self._power(record, "start", "Schedule", at)
                return math.inf
        wake = now + 60 if plan else math.inf
        seconds = schedules.duration_seconds(idle) if isinstance(idle, str) else None
        if seconds is not None and state == "Running":
            since = record.clock.setdefault("running_since", now)
            if now >= since + seconds:
                self._power(record, "stop", "IdleShutdown", since + seconds)
                return math.inf
            wake = min(wake, since + seconds)
        return wake

    def _power(self, record: ComputeRecord, kind: str, trigger: str, at: float) -> None:
        """A start or stop the service itself begins (a schedule fired, or the instance sat idle)."""
        name = kind.capitalize()
        record.inner["state"] = "Starting" if kind == "start" else "Stopping"
        record.inner["lastOperation"] = {**self._last_operation(name, at, "InProgress"), "operationTrigger": trigger}
        location = str(record.resource.get("location"))
        op = self.start_operation(record, kind, self.timing.seconds(kind), location=location)
        op.trigger = trigger

    def _finish_delete(self, record: ComputeRecord, op: Operation) -> None:
        if op.error:
            props = record.props
            props["provisioningState"] = op.previous.get("provisioningState") or "Succeeded"
            if record.compute_type == "ComputeInstance":
                record.inner["state"] = op.previous.get("state")
                record.inner["lastOperation"] = self._last_operation("Delete", op.started, "DeleteFailed")
            return
        del self.store.computes[record.key]
        resource_id = record.props.get("resourceId")
        if op.underlying_action == "Delete" and isinstance(resource_id, str):
            self.store.resources.pop(resource_id.lower(), None)

    def _finish_instance(self, record: ComputeRecord, op: Operation, name: str, final_state: str) -> None:
        inner = record.inner
        if op.error:
            inner["state"] = op.previous.get("state")
            inner["lastOperation"] = self._last_operation(name, op.started, f"{name}Failed")
            if op.trigger:
                inner["lastOperation"]["operationTrigger"] = op.trigger
            return
        inner["state"] = final_state
        inner["lastOperation"] = self._last_operation(name, op.started, "Succeeded")
        if op.trigger:
            inner["lastOperation"]["operationTrigger"] = op.trigger
        if final_state == "Running":
            record.clock["running_since"] = op.due  # the idle timer starts again

    def _finish_start(self, record: ComputeRecord, op: Operation) -> None:
        self._finish_instance(record, op, "Start", "Running")

    def _finish_stop(self, record: ComputeRecord, op: Operation) -> None:
        self._finish_instance(record, op, "Stop", "Stopped")

    def _finish_restart(self, record: ComputeRecord, op: Operation) -> None:
        self._finish_instance(record, op, "Restart", "Running")

    @staticmethod
    def _last_operation(name: str, at: float, status: str) -> dict[str, Any]:
        return {"operationName": name, "operationTime": iso(at), "operationStatus": status}

    # -- AmlCompute allocation ---------------------------------------------------------------------------
    @staticmethod
    def _resize_end(resize: dict[str, Any]) -> float:
        steps = abs(int(resize["to"]) - int(resize["from"]))
        return float(resize["started"]) + steps * float(resize["per_node"])

    def _set_steady(self, record: ComputeRecord, nodes: int, at: float) -> None:
        inner = record.inner
        inner["allocationState"] = "Steady"
        inner["allocationStateTransitionTime"] = iso(at)
        inner["currentNodeCount"] = nodes
        inner["targetNodeCount"] = nodes
        inner["nodeStateCounts"] = {key: (nodes if key == "idleNodeCount" else 0) for key in _NODE_COUNT_KEYS}

    def _finish_resize(self, record: ComputeRecord) -> None:
        resize = record.resize
        assert resize is not None
        record.resize = None
        self._set_steady(record, int(resize["to"]), self._resize_end(resize))

    def node_count(self, record: ComputeRecord) -> int:
        if record.resize is None:
            return int(record.inner.get("currentNodeCount") or 0)
        resize = record.resize
        start, target = int(resize["from"]), int(resize["to"])
        per_node = float(resize["per_node"])
        elapsed = self.now() - float(resize["started"])
        moved = abs(target - start) if per_node <= 0 else min(abs(target - start), int(elapsed // per_node))
        return start + moved if target >= start else start - moved

    def rescale(self, record: ComputeRecord, at: float | None = None) -> None:
        """Move the node count toward `minNodeCount` (no jobs run here, so idle nodes scale away)."""
        if record.compute_type != "AmlCompute" or record.props.get("provisioningState") != "Succeeded":
            return
        at = self.now() if at is None else at
        current = self.node_count(record)
        record.resize = None
        scale = record.inner.get("scaleSettings") or {}
        target = max(0, int(scale.get("minNodeCount") or 0))
        maximum = scale.get("maxNodeCount")
        if isinstance(maximum, int):
            target = min(target, maximum)
        if target == current:
            self._set_steady(record, current, at)
            return
        inner = record.inner
        inner["allocationState"] = "Resizing"
        inner["allocationStateTransitionTime"] = iso(at)
        inner["currentNodeCount"] = current
        inner["targetNodeCount"] = target
        record.resize = {
            "from": current,
            "to": target,
            "started": at,
            "per_node": self.timing.seconds("node_allocation"),
        }
        self.wake(self._resize_end(record.resize))

    # -- rendering ---------------------------------------------------------------------------------------
    def render(self, record: ComputeRecord, api_version: str = DEFAULT_API_VERSION) -> dict[str, Any]:
        """The resource as GET shows it now, in `api_version`'s shape: secrets removed, node counts current."""
        body = copy.deepcopy(record.resource)
        inner = body.get("properties", {}).get("properties")
        if isinstance(inner, dict):
            for path in _SECRET_PATHS:
                holder: Any = inner
                for part in path[:-1]:
                    holder = holder.get(part) if isinstance(holder, dict) else None
                if isinstance(holder, dict):
                    holder.pop(path[-1], None)
            if record.resize is not None:
                current = self.node_count(record)
                target = int(record.resize["to"])
                inner["currentNodeCount"] = current
                counts = dict.fromkeys(_NODE_COUNT_KEYS, 0)
                if target >= current:
                    counts["idleNodeCount"] = current
                    # Recorded resizes report no preparing nodes until they are allocated: all counts stay 0.
                    counts["preparingNodeCount"] = 0 if self.live else target - current
                else:
                    counts["idleNodeCount"] = target
                    counts["leavingNodeCount"] = current - target
                inner["nodeStateCounts"] = counts
        return shapes.complete(body, api_version) if self.live else body

    def nodes(self, record: ComputeRecord) -> list[dict[str, Any]]:
        count = self.node_count(record)
        created = dt.datetime.fromtimestamp(self.now(), dt.UTC).strftime("%Y%m%dt%H%M%Sz")
        base = int(_short_hash(record.key), 16) % 10**10
        nodes = []
        for index in range(count):
            nodes.append(
                {
                    "nodeId": f"tvm-{base}_{index + 1}-{created}",
                    "privateIpAddress": f"10.0.{index // 250}.{index % 250 + 4}",
                    "publicIpAddress": f"20.50.{index // 250}.{index % 250 + 4}",
                    "port": 50000 + index,
                    "nodeState": "idle",
                }
            )
        return nodes

    # -- usage -------------------------------------------------------------------------------------------
    def vcpus_in_use(self, record: ComputeRecord) -> tuple[str, int, bool] | None:
        """(family, vCPUs, low priority) that a compute holds now, or None."""
        if record.props.get("provisioningState") == "Failed":
            return None
        inner = record.inner
        location = str(record.resource.get("location", ""))
        size = self.catalogue.any_region(str(inner.get("vmSize", "")))
        if size is None:
            return None
        if record.compute_type == "AmlCompute":
            nodes = self.node_count(record)
            low = inner.get("vmPriority") == "LowPriority"
            return (size.family, nodes * size.vcpus, low) if nodes else None
        if record.compute_type == "ComputeInstance" and inner.get("state") not in ("Stopped", "CreateFailed"):
            return (size.family, size.vcpus, False) if location else None
        return None
