"""The models parse what users write and what the API server returns, and dump status for patches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from aml_operator.api import (
    ALL_KINDS,
    API_VERSION,
    READY,
    AttachedCompute,
    ComputeCluster,
    ComputeClusterStatus,
    ComputeInstance,
    ComputeResource,
    Condition,
    InferenceCluster,
    KubeResource,
    Workspace,
    find_condition,
    set_condition,
)
from aml_operator.api.names import is_valid_name

SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "samples"
KINDS: dict[str, type[KubeResource]] = {kind.KIND: kind for kind in ALL_KINDS}


def sample_documents() -> list[tuple[str, dict[str, Any]]]:
    documents = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["apiVersion"] == API_VERSION:
                documents.append((f"{path.name}:{document['kind']}", document))
    return documents


@pytest.mark.parametrize(("where", "document"), sample_documents(), ids=[w for w, _ in sample_documents()])
def test_every_sample_parses_with_its_model(where: str, document: dict[str, Any]) -> None:
    resource = KINDS[document["kind"]].from_body(document)
    assert resource.metadata.name == document["metadata"]["name"], where
    if isinstance(resource, ComputeResource):
        assert is_valid_name(resource.azure_name, type(resource).NAME_LENGTH), where


def test_samples_cover_every_kind_and_attach_type() -> None:
    documents = [document for _, document in sample_documents()]
    assert {document["kind"] for document in documents} == set(KINDS)
    attach_types = {document["spec"]["type"] for document in documents if document["kind"] == "AttachedCompute"}
    assert attach_types == {"VirtualMachine", "HDInsight", "Databricks", "DataLakeAnalytics", "DataFactory",
                            "SynapseSpark", "Kubernetes"}
    inference = [document["spec"] for document in documents if document["kind"] == "InferenceCluster"]
    assert {"create" in spec for spec in inference} == {True, False}


def _cluster_body(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ComputeCluster",
        "metadata": {"name": "cpu-cluster", "namespace": "ml", "generation": 3, "uid": "u-1"},
        "spec": {"workspaceRef": {"name": "ws-ml"}, "vmSize": "Standard_DS3_v2", **spec},
    }


def test_defaults_match_the_schema_defaults() -> None:
    cluster = ComputeCluster.from_body(_cluster_body(scaleSettings={"maxNodeCount": 2}))
    assert cluster.spec.vm_priority == "Dedicated"
    assert cluster.spec.os_type == "Linux"
    assert cluster.spec.scale_settings.min_node_count == 0
    assert cluster.spec.deletion_policy == "Delete"
    assert cluster.azure_name == "cpu-cluster"
    assert cluster.metadata.generation == 3


def test_compute_name_overrides_metadata_name() -> None:
    cluster = ComputeCluster.from_body(_cluster_body(computeName="GPU-Cluster", scaleSettings={"maxNodeCount": 1}))
    assert cluster.azure_name == "GPU-Cluster"


def test_snake_case_names_are_accepted_too() -> None:
    cluster = ComputeCluster.from_body(_cluster_body(scale_settings={"max_node_count": 5}))
    assert cluster.spec.scale_settings.max_node_count == 5


def test_missing_required_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="scaleSettings"):
        ComputeCluster.from_body(_cluster_body())


class ReadOnlyBody(Mapping[str, Any]):
    """Stands in for kopf's Body: a read-only mapping, not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        return ReadOnlyBody(value) if isinstance(value, dict) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_parses_a_read_only_mapping_like_kopfs_body() -> None:
    body = ReadOnlyBody(_cluster_body(scaleSettings={"maxNodeCount": 2}, tags={"team": "ml"}))
    cluster = ComputeCluster.from_body(body)
    assert cluster.spec.tags == {"team": "ml"}


def test_status_dumps_camel_case_without_unset_fields() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    status = ComputeClusterStatus(
        observed_generation=3,
        provisioning_state="Succeeded",
        allocation_state="Steady",
        current_node_count=2,
        conditions=set_condition([], READY, "True", "Succeeded", "ready", observed_generation=3, now=now),
    )
    dumped = status.to_json()
    assert dumped == {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Succeeded",
                "message": "ready",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
                "observedGeneration": 3,
            }
        ],
        "observedGeneration": 3,
        "provisioningState": "Succeeded",
        "provisioningErrors": [],
        "allocationState": "Steady",
        "currentNodeCount": 2,
        "errors": [],
    }


def test_status_round_trips_through_a_whole_body() -> None:
    body = _cluster_body(scaleSettings={"maxNodeCount": 2})
    body["status"] = {
        "observedGeneration": 2,
        "currentNodeCount": 1,
        "nodeStateCounts": {"idleNodeCount": 1},
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "Creating", "lastTransitionTime": "2026-01-02T03:04:05Z"}
        ],
    }
    cluster = ComputeCluster.from_body(body)
    assert cluster.status.node_state_counts is not None
    assert cluster.status.node_state_counts.idle_node_count == 1
    ready = find_condition(cluster.status.conditions, READY)
    assert ready is not None and ready.reason == "Creating"
    assert cluster.status_json()["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"


def test_set_condition_keeps_transition_time_while_status_holds() -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    later = first + timedelta(minutes=5)
    conditions = set_condition([], READY, "False", "Creating", "", observed_generation=1, now=first)
    conditions = set_condition(conditions, READY, "False", "Resizing", "", observed_generation=2, now=later)
    assert conditions[0].last_transition_time == first
    assert conditions[0].reason == "Resizing"
    conditions = set_condition(conditions, READY, "True", "Succeeded", "", observed_generation=2, now=later)
    assert conditions[0].last_transition_time == later


def test_set_condition_orders_ready_reconciling_stalled() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    conditions: list[Condition] = []
    for type_ in ("Stalled", "Reconciling", "Ready"):
        conditions = set_condition(conditions, type_, "False", "X", "", observed_generation=1, now=now)
    assert [condition.type for condition in conditions] == ["Ready", "Reconciling", "Stalled"]


def test_inference_cluster_deletion_policy_follows_create_or_attach() -> None:
    base = {"apiVersion": API_VERSION, "kind": "InferenceCluster", "metadata": {"name": "aks"}}
    created = InferenceCluster.from_body(
        {**base, "spec": {"workspaceRef": {"name": "ws"}, "create": {"location": "westeurope"}}}
    )
    attached = InferenceCluster.from_body(
        {**base, "spec": {"workspaceRef": {"name": "ws"}, "attach": {"aksResourceId": "/x"}}}
    )
    explicit = InferenceCluster.from_body(
        {
            **base,
            "spec": {"workspaceRef": {"name": "ws"}, "deletionPolicy": "Orphan", "attach": {"aksResourceId": "/x"}},
        }
    )
    assert created.spec.effective_deletion_policy == "Delete"
    assert created.spec.create is not None and created.spec.create.agent_count == 3
    assert attached.spec.effective_deletion_policy == "Detach"
    assert explicit.spec.effective_deletion_policy == "Orphan"


def test_attached_compute_defaults_to_detach_and_instance_ssh_to_disabled() -> None:
    attached = AttachedCompute.from_body(
        {
            "apiVersion": API_VERSION,
            "kind": "AttachedCompute",
            "metadata": {"name": "adf"},
            "spec": {"workspaceRef": {"name": "ws"}, "type": "DataFactory", "resourceId": "/x"},
        }
    )
    instance = ComputeInstance.from_body(
        {
            "apiVersion": API_VERSION,
            "kind": "ComputeInstance",
            "metadata": {"name": "dev"},
            "spec": {"workspaceRef": {"name": "ws"}, "vmSize": "Standard_DS3_v2"},
        }
    )
    assert attached.spec.deletion_policy == "Detach"
    assert instance.spec.ssh.public_access == "Disabled"
    assert instance.spec.state is None  # unset: Azure (schedules, idle shutdown, users) governs


def test_workspace_credentials_from_a_secret() -> None:
    documents = list(yaml.safe_load_all((SAMPLES / "workspace.yaml").read_text()))
    parsed = Workspace.from_body(documents[1])
    assert parsed.spec.credentials.secret_ref is not None
    assert parsed.spec.credentials.secret_ref.name == documents[0]["metadata"]["name"]
    assert parsed.spec.cloud == "AzurePublicCloud"
