"""azure-ai-ml 1.35, unchanged, runs its compute lifecycle against the emulator; each step checked by GET."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aml_emulator.testing import RunningEmulator

from .conftest import ArmReader, run_scenario, scenario_env
from .sdk_venvs import SdkVenv

pytestmark = pytest.mark.conformance


def test_amlcompute_and_instance_lifecycles(
    sdk_venv: Callable[[str], SdkVenv], conformance_emulator: RunningEmulator, tmp_path: Path
) -> None:
    arm = ArmReader(conformance_emulator)
    cluster, instance = f"cl{uuid.uuid4().hex[:8]}", f"ci{uuid.uuid4().hex[:8]}"

    def props(name: str, **kwargs: Any) -> dict[str, Any]:
        reply = arm.compute(name, **kwargs)
        assert reply.status == 200, reply.body
        return reply.body["properties"]  # type: ignore[no-any-return]

    def created(facts: dict[str, Any]) -> None:
        assert facts["state"] == "Succeeded" == props(cluster)["provisioningState"]

    def got(facts: dict[str, Any]) -> None:
        inner = props(cluster)["properties"]
        assert (facts["size"].lower(), facts["max_instances"]) == (inner["vmSize"].lower(), 2)

    def listed(facts: dict[str, Any]) -> None:
        assert cluster in facts["names"] and set(facts["names"]) == set(arm.computes())

    def scaled(facts: dict[str, Any]) -> None:
        scale = props(cluster)["properties"]["scaleSettings"]
        assert (facts["min_instances"], facts["max_instances"]) == (1, 3)
        assert (scale["minNodeCount"], scale["maxNodeCount"]) == (1, 3)

    def nodes(facts: dict[str, Any]) -> None:
        assert facts["nodes"] == props(cluster, settled=True)["properties"]["currentNodeCount"] == 1

    def gone(name: str) -> Callable[[dict[str, Any]], None]:
        def check(facts: dict[str, Any]) -> None:
            assert arm.compute(name).status == 404

        return check

    def instance_state(expected: str, operation: str) -> Callable[[dict[str, Any]], None]:
        def check(facts: dict[str, Any]) -> None:
            inner = props(instance)["properties"]
            assert inner["state"] == expected, inner
            assert inner["lastOperation"]["operationName"] == operation
            assert inner["lastOperation"]["operationStatus"] == "Succeeded"

        return check

    steps = run_scenario(
        sdk_venv("azure-ai-ml"),
        "azure_ai_ml_compute.py",
        scenario_env(conformance_emulator, HOME=str(tmp_path), CLUSTER_NAME=cluster, INSTANCE_NAME=instance),
        {
            "cluster.create": created,
            "cluster.get": got,
            "cluster.list": listed,
            "cluster.scale": scaled,
            "cluster.nodes": nodes,
            "cluster.delete": gone(cluster),
            "instance.create": instance_state("Running", "Create"),
            "instance.stop": instance_state("Stopped", "Stop"),
            "instance.start": instance_state("Running", "Start"),
            "instance.restart": instance_state("Running", "Restart"),
            "instance.delete": gone(instance),
        },
    )
    assert len(steps) == 11
