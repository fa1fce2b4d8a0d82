"""The samples apply cleanly, kubectl explain shows the docs, and `kubectl get azureml` renders columns."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from aml_operator.api import ALL_KINDS

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "deploy" / "samples").glob("*.yaml"))


def test_there_are_samples() -> None:
    assert len(SAMPLES) >= 10


@pytest.mark.parametrize("sample", SAMPLES, ids=[path.name for path in SAMPLES])
def test_sample_applies_cleanly(kubectl: Kubectl, crds: list[str], namespace: str, sample: Path) -> None:
    result = kubectl("apply", "-n", namespace, "-f", str(sample))
    assert "Warning" not in result.stderr, result.stderr
    for document in yaml.safe_load_all(sample.read_text()):
        group = document["apiVersion"].split("/")[0] if "/" in document["apiVersion"] else ""
        resource = document["kind"].lower() + (f".{group}" if group else "")
        assert f"{resource}/{document['metadata']['name']} created" in result.stdout, result.stdout
    # Applying again changes nothing: the defaults the API server added do not fight the file.
    # (Secrets written with stringData always show "configured"; only our kinds matter here.)
    again = kubectl("apply", "-n", namespace, "-f", str(sample)).stdout.splitlines()
    ours = [line for line in again if ".azureml.dev/" in line]
    assert ours and all(line.endswith(" unchanged") for line in ours), again


def test_all_samples_together_and_get_azureml(kubectl: Kubectl, crds: list[str], namespace: str) -> None:
    for sample in SAMPLES:
        kubectl("apply", "-n", namespace, "-f", str(sample))
    listing = kubectl("get", "azureml", "-n", namespace).stdout
    for kind in ALL_KINDS:
        assert f"{kind.KIND.lower()}.azureml.dev/" in listing, listing
    assert "cpu-cluster" in listing and "dev-instance" in listing and "aks-attached" in listing


def test_defaults_show_in_the_stored_object(kubectl: Kubectl, crds: list[str], namespace: str) -> None:
    for sample in ("compute-cluster.yaml", "compute-instance.yaml", "inference-cluster-attach.yaml"):
        kubectl("apply", "-n", namespace, "-f", str(SAMPLES[0].parent / sample))
    cluster = json.loads(kubectl("get", "-n", namespace, "computecluster/cpu-cluster", "-o", "json").stdout)
    assert cluster["spec"]["osType"] == "Linux"
    assert cluster["spec"]["deletionPolicy"] == "Delete"
    assert cluster["spec"]["remoteLoginPortPublicAccess"] == "NotSpecified"
    instance = json.loads(kubectl("get", "-n", namespace, "computeinstance/dev-instance", "-o", "json").stdout)
    assert instance["spec"]["ssh"] == {"publicAccess": "Disabled"}
    attached = json.loads(kubectl("get", "-n", namespace, "inferencecluster/aks-attached", "-o", "json").stdout)
    assert "deletionPolicy" not in attached["spec"]  # resolved by the operator: Detach for attach


def test_printer_columns_render_status(kubectl: Kubectl, crds: list[str], namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", str(SAMPLES[0].parent / "compute-cluster.yaml"))
    status = {
        "status": {
            "observedGeneration": 1,
            "provisioningState": "Succeeded",
            "allocationState": "Steady",
            "currentNodeCount": 2,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Succeeded",
                    "message": "",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": 1,
                }
            ],
        }
    }
    kubectl(
        "patch", "-n", namespace, "computecluster/cpu-cluster", "--subresource=status", "--type=merge",
        "-p", json.dumps(status),
    )  # fmt: skip
    table = kubectl("get", "-n", namespace, "amlcc", "cpu-cluster").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATE", "VM", "SIZE", "NODES", "MIN", "MAX", "AGE"]
    assert table[1].split()[:7] == ["cpu-cluster", "True", "Succeeded", "Standard_DS3_v2", "2", "0", "4"]
    wide = kubectl("get", "-n", namespace, "amlcc", "cpu-cluster", "-o", "wide").stdout.splitlines()
    assert "ALLOCATION" in wide[0] and "Steady" in wide[1]


def test_status_is_a_subresource(kubectl: Kubectl, crds: list[str], namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", str(SAMPLES[0].parent / "compute-instance.yaml"))
    # A status written through the main resource is ignored: only the status subresource sets it.
    kubectl(
        "patch", "-n", namespace, "computeinstance/dev-instance", "--type=merge",
        "-p", json.dumps({"status": {"state": "Running"}}),
    )  # fmt: skip
    stored = json.loads(kubectl("get", "-n", namespace, "computeinstance/dev-instance", "-o", "json").stdout)
    assert "status" not in stored or "state" not in stored["status"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("computecluster.spec.scaleSettings.minNodeCount", "pay nothing when the cluster is idle"),
        ("computecluster.spec.vmSize", "Immutable"),
        ("computeinstance.spec.ssh.publicAccess", "default Disabled"),
        ("inferencecluster.spec.deletionPolicy", "Detach with spec.attach"),
        ("attachedcompute.spec.credentialsSecretRef", "privateKey"),
        ("workspace.spec.credentials.secretRef", "clientSecret"),
        ("computecluster.status.conditions", "Stalled"),
    ],
)
def test_kubectl_explain_shows_field_docs(kubectl: Kubectl, crds: list[str], path: str, expected: str) -> None:
    explained = kubectl("explain", path, "--api-version=azureml.dev/v1alpha1").stdout
    assert expected in " ".join(explained.split()), explained


def test_short_names_resolve(kubectl: Kubectl, crds: list[str], namespace: str) -> None:
    for kind in ALL_KINDS:
        for short in kind.SHORT_NAMES:
            result = kubectl("get", short, "-n", namespace)
            assert result.returncode == 0
            assert "No resources found" in result.stderr
