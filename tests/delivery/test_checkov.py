"""checkov over the charts (rendered in a real namespace), the kustomize output and the Dockerfile:
no failed check, and every skip carries its reason inline.

checkov pins dependencies that clash with the project's, so it lives in its own venv, cached per version
with the control plane's binaries (`make checkov-venv` builds it when missing and names it). The charts
are rendered with `helm template -n azureml-system` and scanned as Kubernetes manifests: checkov's helm runner renders
into the default namespace, which would only trip CKV_K8S_21 on an artifact of its own.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from deliverykit import CHART, CRDS_CHART, KUSTOMIZE, REPO, helm_offline, values_file

pytestmark = pytest.mark.timeout(1200)

VARIANTS: dict[str, dict[str, Any]] = {
    "clusterwide": {},
    "namespaced-peering": {"watch": {"namespaces": ["team-a", "team-b"]}, "replicas": 2,
                           "image": {"digest": "sha256:" + "b" * 64}, "clusterId": "c1"},
    "workload-identity": {"workloadIdentity": {"enabled": True, "clientId": "33333333-3333-3333-3333-333333333333"},
                          "operatorIdentityNamespaces": ["team-a"], "metrics": {"serviceMonitor": {"enabled": True}},
                          "azure": {"caBundle": {"configMap": "proxy-ca"}}, "image": {"pullPolicy": "Always"}},
}


@pytest.fixture(scope="module")
def checkov() -> Path:
    made = subprocess.run(["make", "-s", "checkov-venv"], cwd=REPO, check=True, timeout=1100,
                          capture_output=True, text=True)
    return Path(made.stdout.strip().splitlines()[-1]) / "bin" / "checkov"


def scan(checkov: Path, framework: str, path: Path) -> dict[str, Any]:
    result = subprocess.run([str(checkov), "-f", str(path), "--framework", framework, "-o", "json",
                             "--skip-download", "--compact"], capture_output=True, text=True, timeout=600,
                            cwd=path.parent)
    assert result.stdout.strip(), result.stderr[-3000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    merged: dict[str, Any] = {"passed": [], "failed": [], "skipped": []}
    for rep in reports:
        for key, checks in (("passed", "passed_checks"), ("failed", "failed_checks"), ("skipped", "skipped_checks")):
            merged[key] += (rep.get("results") or {}).get(checks, [])
    return merged


def describe(checks: list[dict[str, Any]]) -> str:
    return "\n".join(f"{c['check_id']} {c['check_name']} on {c['resource']}" for c in checks)


def assert_clean(report: dict[str, Any]) -> None:
    assert report["passed"], "checkov ran no check"
    assert report["failed"] == [], describe(report["failed"])
    for skipped in report["skipped"]:
        reason = (skipped.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason) > 20, f"skip without a reason: {skipped['check_id']}"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_operator_chart(checkov: Path, variant: str, tmp_path: Path) -> None:
    rendered = helm_offline("template", "azureml-compute-operator", str(CHART), "-n", "azureml-system",
                            "-f", values_file(tmp_path, VARIANTS[variant])).stdout
    (tmp_path / "chart.yaml").write_text(rendered)
    assert_clean(scan(checkov, "kubernetes", tmp_path / "chart.yaml"))


def test_crds_chart(checkov: Path, tmp_path: Path) -> None:
    (tmp_path / "crds.yaml").write_text(helm_offline("template", "crds", str(CRDS_CHART)).stdout)
    report = scan(checkov, "kubernetes", tmp_path / "crds.yaml")
    assert report["failed"] == [], describe(report["failed"])


def test_kustomize_output(checkov: Path, tmp_path: Path) -> None:
    from controlplane import BIN_DIR

    if not (BIN_DIR / "kubectl").exists():
        pytest.skip("no kubectl: `make controlplane` builds one into .local/bin")
    for overlay in ("base", "overlays/example"):
        rendered = subprocess.run([str(BIN_DIR / "kubectl"), "kustomize", str(KUSTOMIZE / overlay)],
                                  capture_output=True, text=True, check=True, timeout=120).stdout
        (tmp_path / "kustomize.yaml").write_text(rendered)
        assert_clean(scan(checkov, "kubernetes", tmp_path / "kustomize.yaml"))


def test_dockerfile(checkov: Path) -> None:
    assert_clean(scan(checkov, "dockerfile", REPO / "Dockerfile"))
