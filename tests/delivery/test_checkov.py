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


KUSTOMIZE_OVERLAYS = ("base", "overlays/example")


def rendered_inputs(workdir: Path) -> list[Path]:
    """Every manifest the tests scan, each in a file of its own name: the charts' variants, the CRDs chart
    and, where kubectl is built, the kustomize overlays."""
    from controlplane import BIN_DIR

    files = []
    for variant, values in VARIANTS.items():
        path = workdir / f"chart-{variant}.yaml"
        path.write_text(helm_offline("template", "azureml-compute-operator", str(CHART), "-n", "azureml-system",
                                     "-f", values_file(workdir, values)).stdout)
        files.append(path)
    files.append(workdir / "crds.yaml")
    files[-1].write_text(helm_offline("template", "crds", str(CRDS_CHART)).stdout)
    if (BIN_DIR / "kubectl").exists():
        for overlay in KUSTOMIZE_OVERLAYS:
            path = workdir / f"kustomize-{overlay.replace('/', '-')}.yaml"
            path.write_text(subprocess.run([str(BIN_DIR / "kubectl"), "kustomize", str(KUSTOMIZE / overlay)],
                                           capture_output=True, text=True, check=True, timeout=120).stdout)
            files.append(path)
    return files


@pytest.fixture(scope="module")
def reports(checkov: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The checks of every input by its file's name, from one checkov run over all of them: starting
    checkov is most of what a scan costs."""
    workdir = tmp_path_factory.mktemp("checkov")
    files = [*rendered_inputs(workdir), REPO / "Dockerfile"]
    result = subprocess.run([str(checkov), *(arg for path in files for arg in ("-f", str(path))),
                             "--framework", "kubernetes", "dockerfile", "-o", "json", "--skip-download", "--compact"],
                            capture_output=True, text=True, timeout=600, cwd=workdir)
    assert result.stdout.strip(), result.stderr[-3000:]
    report = json.loads(result.stdout)
    by_file: dict[str, dict[str, Any]] = {path.name: {"passed": [], "failed": [], "skipped": []} for path in files}
    for rep in report if isinstance(report, list) else [report]:
        for key, checks in (("passed", "passed_checks"), ("failed", "failed_checks"), ("skipped", "skipped_checks")):
            for check in (rep.get("results") or {}).get(checks, []):
                by_file[Path(check["file_path"]).name][key].append(check)
    return by_file


def describe(checks: list[dict[str, Any]]) -> str:
    return "\n".join(f"{c['check_id']} {c['check_name']} on {c['resource']}" for c in checks)


def assert_clean(report: dict[str, Any]) -> None:
    assert report["passed"], "checkov ran no check"
    assert report["failed"] == [], describe(report["failed"])
    for skipped in report["skipped"]:
        reason = (skipped.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason) > 20, f"skip without a reason: {skipped['check_id']}"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_operator_chart(reports: dict[str, dict[str, Any]], variant: str) -> None:
    assert_clean(reports[f"chart-{variant}.yaml"])


def test_crds_chart(reports: dict[str, dict[str, Any]]) -> None:
    report = reports["crds.yaml"]
    assert report["failed"] == [], describe(report["failed"])


def test_kustomize_output(reports: dict[str, dict[str, Any]]) -> None:
    if "kustomize-base.yaml" not in reports:
        pytest.skip("no kubectl: `make controlplane` builds one into .local/bin")
    for overlay in KUSTOMIZE_OVERLAYS:
        assert_clean(reports[f"kustomize-{overlay.replace('/', '-')}.yaml"])


def test_dockerfile(reports: dict[str, dict[str, Any]]) -> None:
    assert_clean(reports["Dockerfile"])
