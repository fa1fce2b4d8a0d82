"""An in-memory Azure ML behind the core's ``ComputeClient`` protocol, for unit tests of the core.

Computes live as wire JSON in a dict; every call is recorded. ``long_running`` chooses whether writes
finish at once (200) or leave an operation to poll (202), as Azure does for different kinds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from aml_operator.reconcile.external import (
    AzureError,
    JsonDict,
    Observation,
    Operation,
    OperationStatus,
    Usage,
    VmSize,
    WorkspaceInfo,
    WorkspaceTarget,
)


class FakeAzure:
    def __init__(self, *, sizes: Sequence[VmSize] = (), usages: Sequence[Usage] = (),
                 long_running: bool = True) -> None:
        self.computes: dict[str, JsonDict] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.bodies: list[JsonDict] = []
        """Every PUT body, in order."""
        self.operations: dict[str, OperationStatus] = {}
        self.fail: AzureError | None = None
        """Every read and write fails with this."""
        self.refuse_writes: AzureError | None = None
        """Only writes fail with this (reads succeed)."""
        self.sizes, self.usage_lines, self.long_running = list(sizes), list(usages), long_running
        self.keys: JsonDict = {"computeType": "AKS", "userKubeConfig": "apiVersion: v1\nkind: Config\n"}
        self.race_winner_tags: dict[str, str] | None = None
        """Another writer's PUT lands right after ours: Azure keeps, and answers with, these tags."""

    def writes(self) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] in ("put", "patch", "delete", "power", "act")]

    def _refuse(self) -> None:
        if self.fail or self.refuse_writes:
            raise self.fail or self.refuse_writes  # type: ignore[misc]

    def _operation(self, name: Literal["Create", "Update", "Delete", "Detach", "Start", "Stop", "Restart"],
                   compute: str) -> Operation:
        return Operation(name, f"op-{compute}" if self.long_running else None)

    async def workspace(self, target: WorkspaceTarget) -> WorkspaceInfo:
        return WorkspaceInfo("westeurope", target.arm_id)

    async def get(self, target: WorkspaceTarget, name: str) -> Observation | None:
        self.calls.append(("get", name))
        if self.fail:
            raise self.fail
        return Observation(name, self.computes[name]) if name in self.computes else None

    async def list(self, target: WorkspaceTarget) -> Sequence[Observation]:
        self.calls.append(("list",))
        if self.fail:
            raise self.fail
        return [Observation(n, c) for n, c in self.computes.items()]

    async def put(self, target: WorkspaceTarget, name: str, body: JsonDict) -> Operation:
        self.calls.append(("put", name))
        self.bodies.append(body)
        self._refuse()
        created = name not in self.computes
        resource = json.loads(json.dumps({**body, "id": target.compute_id(name), "name": name}))
        resource["properties"]["provisioningState"] = "Creating" if self.long_running else "Succeeded"
        self.computes[name] = resource
        if self.long_running:
            self.operations[f"op-{name}"] = OperationStatus("InProgress")
        if self.race_winner_tags is not None:
            resource["tags"] = dict(self.race_winner_tags)
        return replace(self._operation("Create" if created else "Update", name), tags=dict(resource.get("tags") or {}))

    async def patch_scale(self, target: WorkspaceTarget, name: str, scale_settings: JsonDict) -> Operation:
        self.calls.append(("patch", name))
        self._refuse()
        self.computes[name]["properties"]["properties"]["scaleSettings"] = scale_settings
        return self._operation("Update", name)

    async def delete(self, target: WorkspaceTarget, name: str, action: Literal["Delete", "Detach"]) -> Operation:
        self.calls.append(("delete", name, action))
        self._refuse()
        self.computes.pop(name, None)
        return self._operation(action, name)

    async def power(self, target: WorkspaceTarget, name: str, action: Literal["Start", "Stop", "Restart"]) -> Operation:
        self.calls.append(("power", name, action))
        self._refuse()
        return Operation(action, None)

    async def act(self, target: WorkspaceTarget, name: str, action: str, body: JsonDict) -> Operation:
        self.calls.append(("act", name, action))
        self._refuse()
        self.computes[name]["properties"]["properties"].update(body)
        return self._operation("Update", name)

    async def operation_status(self, target: WorkspaceTarget, url: str) -> OperationStatus:
        self.calls.append(("poll", url))
        return self.operations.get(url, OperationStatus("Succeeded"))

    async def vm_sizes(self, target: WorkspaceTarget, location: str) -> Sequence[VmSize]:
        self.calls.append(("vm_sizes", location))
        return self.sizes

    async def usages(self, target: WorkspaceTarget, location: str) -> Sequence[Usage]:
        return self.usage_lines

    async def list_keys(self, target: WorkspaceTarget, name: str) -> JsonDict:
        self.calls.append(("list_keys", name))
        return self.keys
