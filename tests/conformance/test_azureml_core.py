"""azureml-core 1.61 (v1), unchanged: cluster and instance lifecycles, AKS create and attach, VM, HDInsight
and Databricks attach against the emulator; each step checked by GET."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aml_emulator.cloud import CLOUD_NAME
from aml_emulator.testing import RunningEmulator

from .conftest import ATTACHABLE, ArmReader, run_scenario, scenario_env
from .sdk_venvs import SdkVenv

pytestmark = pytest.mark.conformance
Check = Callable[[dict[str, Any]], None]


def test_v1_computes(
    sdk_venv: Callable[[str], SdkVenv], conformance_emulator: RunningEmulator, entra_proxy: str, tmp_path: Path
) -> None:
    arm = ArmReader(conformance_emulator)
    names = {
        key: f"v1{key[:3]}{uuid.uuid4().hex[:6]}"
        for key in ("cluster", "instance", "aks", "aks_attached", "vm", "hdi", "dbx")
    }

    def props(name: str, *, settled: bool = False) -> dict[str, Any]:
        reply = arm.compute(name, settled=settled)
        assert reply.status == 200, reply.body
        return reply.body["properties"]  # type: ignore[no-any-return]

    def succeeded(key: str, compute_type: str, attached: bool) -> Check:
        def check(facts: dict[str, Any]) -> None:
            found = props(names[key])
            assert facts["state"] == found["provisioningState"] == "Succeeded"
            assert (found["computeType"], found["isAttachedCompute"]) == (compute_type, attached)

        return check

    def gone(key: str) -> Check:
        def check(facts: dict[str, Any]) -> None:
            # v1 returns from delete once the operation is accepted or done; the compute goes within seconds.
            deadline = time.monotonic() + 30
            while arm.compute(names[key]).status != 404:
                assert time.monotonic() < deadline, f"{names[key]} still exists"
                time.sleep(0.2)

        return check

    def got(facts: dict[str, Any]) -> None:
        inner = props(names["cluster"])["properties"]
        assert (facts["type"], facts["vm_size"].lower(), facts["max_nodes"]) == (
            "AmlCompute",
            inner["vmSize"].lower(),
            2,
        )
        assert inner["vmPriority"] == "Dedicated"  # sent as "dedicated"

    def listed(facts: dict[str, Any]) -> None:
        assert names["cluster"] in facts["names"] and set(facts["names"]) == set(arm.computes())

    def scaled(facts: dict[str, Any]) -> None:
        scale = props(names["cluster"])["properties"]["scaleSettings"]
        assert (facts["min_nodes"], facts["max_nodes"]) == (scale["minNodeCount"], scale["maxNodeCount"]) == (1, 3)

    def nodes(facts: dict[str, Any]) -> None:
        assert facts["nodes"] == props(names["cluster"], settled=True)["properties"]["currentNodeCount"] == 1

    def instance_state(expected: str, operation: str) -> Check:
        def check(facts: dict[str, Any]) -> None:
            inner = props(names["instance"])["properties"]
            assert (inner["state"], inner["lastOperation"]["operationName"]) == (expected, operation)

        return check

    def aks_created(facts: dict[str, Any]) -> None:
        succeeded("aks", "AKS", False)(facts)
        found = props(names["aks"])
        assert facts["fqdn"] == found["properties"]["clusterFqdn"] and found["resourceId"]

    def attached_to(key: str, compute_type: str, resource: str) -> Check:
        def check(facts: dict[str, Any]) -> None:
            succeeded(key, compute_type, True)(facts)
            assert props(names[key])["resourceId"].lower() == ATTACHABLE[resource].lower()

        return check

    env = scenario_env(
        conformance_emulator,
        HOME=str(tmp_path),
        CLOUD_NAME=CLOUD_NAME,
        HTTPS_PROXY=entra_proxy,
        NO_PROXY="127.0.0.1,localhost",
        DBX_WORKSPACE=ATTACHABLE["DBX_ID"].rsplit("/", 1)[1],
        **ATTACHABLE,
        **{f"{key.upper()}_NAME": name for key, name in names.items()},
    )
    run_scenario(
        sdk_venv("azureml-core"),
        "azureml_core_compute.py",
        env,
        {
            "cluster.create": succeeded("cluster", "AmlCompute", False),
            "cluster.get": got,
            "cluster.list": listed,
            "cluster.scale": scaled,
            "cluster.nodes": nodes,
            "cluster.delete": gone("cluster"),
            "instance.create": instance_state("Running", "Create"),
            "instance.stop": instance_state("Stopped", "Stop"),
            "instance.start": instance_state("Running", "Start"),
            "instance.restart": instance_state("Running", "Restart"),
            "instance.delete": gone("instance"),
            "aks.create": aks_created,
            "aks.attach": attached_to("aks_attached", "AKS", "AKS_ID"),
            "vm.attach": attached_to("vm", "VirtualMachine", "VM_ID"),
            "hdi.attach": attached_to("hdi", "HDInsight", "HDI_ID"),
            "dbx.attach": attached_to("dbx", "Databricks", "DBX_ID"),
        },
    )
