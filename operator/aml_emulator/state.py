"""What the emulator knows: computes, operations, underlying resources, workspace quotas; saved to a file.

Transitions are stored as due times on the wall clock (plus a test-controlled offset), not as
running tasks, so a saved state resumes exactly where it stopped when the emulator restarts.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import EmulatorConfig, UnderlyingResource, Workspace

STATE_VERSION = 1


class Clock:
    """Wall-clock seconds plus an offset that `/_emulator/clock` can push forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


def compute_key(subscription_id: str, resource_group: str, workspace: str, name: str) -> str:
    return "/".join(part.lower() for part in (subscription_id, resource_group, workspace, name))


def workspace_id(ws: Workspace) -> str:
    return (
        f"/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{ws.name}"
    )


def resource_type_of(resource_id: str) -> str:
    """`/subscriptions/s/resourceGroups/r/providers/Microsoft.X/type/name` → `microsoft.x/type`."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return ""
    index = lowered.index("providers")
    namespace = parts[index + 1 : index + 2]
    types = parts[index + 2 :: 2]
    return "/".join(namespace + types).lower()


@dataclass
class Operation:
    id: str
    kind: str  # create | update | delete | start | stop | restart
    compute_key: str
    subscription_id: str
    location: str  # the workspace's region, as in the live service's status URLs
    started: float
    due: float
    status: str = "InProgress"  # InProgress | Succeeded | Failed
    error: dict[str, Any] | None = None  # the error it ends with, when it is meant to fail
    underlying_action: str | None = None  # Delete | Detach, for deletes
    previous: dict[str, Any] = field(default_factory=dict)  # what a failed operation restores
    ended: float | None = None
    trigger: str | None = None  # lastOperation.operationTrigger of instance power actions: User, Schedule, IdleShutdown


@dataclass
class ComputeRecord:
    key: str
    subscription_id: str
    resource_group: str
    workspace: str
    name: str
    resource: dict[str, Any]  # the ARM envelope as stored, secrets included
    operation_id: str | None = None
    # AmlCompute resize in progress: {"from": n, "to": n, "started": t, "per_node": s}
    resize: dict[str, Any] | None = None
    owns_underlying: bool = False  # Azure ML created the underlying resource (AKS/DataFactory create)
    # Compute instance clock: {"schedules_seen": t (firings up to t applied), "running_since": t (idle timer)}
    clock: dict[str, float] = field(default_factory=dict)

    @property
    def props(self) -> dict[str, Any]:
        properties: dict[str, Any] = self.resource.setdefault("properties", {})
        return properties

    @property
    def inner(self) -> dict[str, Any]:
        inner = self.props.get("properties")
        if not isinstance(inner, dict):
            inner = {}
            self.props["properties"] = inner
        return inner

    @property
    def compute_type(self) -> str:
        return str(self.props.get("computeType", ""))


class Store:
    def __init__(self, config: EmulatorConfig, path: Path | None, clock: Clock) -> None:
        self.config = config
        self.path = path
        self.clock = clock
        self.computes: dict[str, ComputeRecord] = {}
        self.operations: dict[str, Operation] = {}
        self.resources: dict[str, UnderlyingResource] = {}
        self.workspace_quotas: dict[str, int] = {}  # "<workspace id>|<family>" (lower) → limit
        self.creates: dict[str, int] = {}
        self.signing_key_pem: str | None = None
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------------------
    def reset(self) -> None:
        self.computes.clear()
        self.operations.clear()
        self.workspace_quotas.clear()
        self.creates.clear()
        self.resources = {r.id.lower(): r.model_copy(deep=True) for r in self.config.resources}

    def load(self) -> bool:
        if self.path is None or not self.path.exists():
            return False
        raw = json.loads(self.path.read_text(encoding="utf-8"))
        if raw.get("version") != STATE_VERSION:
            raise ValueError(f"{self.path}: unsupported state version {raw.get('version')!r}")
        self.computes = {c["key"]: ComputeRecord(**c) for c in raw.get("computes", [])}
        self.operations = {o["id"]: Operation(**o) for o in raw.get("operations", [])}
        self.resources = {r["id"].lower(): UnderlyingResource.model_validate(r) for r in raw.get("resources", [])}
        self.workspace_quotas = dict(raw.get("workspace_quotas", {}))
        self.creates = dict(raw.get("creates", {}))
        self.signing_key_pem = raw.get("signing_key")
        self.clock.offset = float(raw.get("clock_offset", 0.0))
        return True

    def save(self) -> None:
        if self.path is None:
            return
        raw = {
            "version": STATE_VERSION,
            "saved_at": time.time(),
            "clock_offset": self.clock.offset,
            "signing_key": self.signing_key_pem,
            "computes": [asdict(c) for c in self.computes.values()],
            "operations": [asdict(o) for o in self.operations.values()],
            "resources": [r.model_dump() for r in self.resources.values()],
            "workspace_quotas": self.workspace_quotas,
            "creates": self.creates,
        }
        # Atomic replace, and private: the state holds the token signing key and compute secrets.
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(raw, handle)
        tmp.replace(self.path)

    # -- lookups -----------------------------------------------------------------------------------------
    def workspace(self, subscription_id: str, resource_group: str, name: str) -> Workspace | None:
        for ws in self.config.workspaces:
            if (
                ws.subscription_id.lower() == subscription_id.lower()
                and ws.resource_group.lower() == resource_group.lower()
                and ws.name.lower() == name.lower()
            ):
                return ws
        return None

    def resource_group_exists(self, subscription_id: str, resource_group: str) -> bool:
        prefix = f"/subscriptions/{subscription_id}/resourcegroups/{resource_group}/".lower()
        return any(
            ws.subscription_id.lower() == subscription_id.lower()
            and ws.resource_group.lower() == resource_group.lower()
            for ws in self.config.workspaces
        ) or any(rid.startswith(prefix) for rid in self.resources)

    def computes_in(self, subscription_id: str, resource_group: str, workspace: str) -> list[ComputeRecord]:
        prefix = compute_key(subscription_id, resource_group, workspace, "")
        return [c for key, c in sorted(self.computes.items()) if key.startswith(prefix)]

    def workspace_quota(self, ws: Workspace, family: str) -> int | None:
        return self.workspace_quotas.get(f"{workspace_id(ws).lower()}|{family.lower()}")

    def set_workspace_quota(self, ws: Workspace, family: str, limit: int) -> None:
        self.workspace_quotas[f"{workspace_id(ws).lower()}|{family.lower()}"] = limit
