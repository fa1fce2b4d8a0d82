"""`make release` (tools/image/release.sh): the artifacts a user installs, read back as a user would."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
import uuid
from pathlib import Path

import pytest
import yaml
from deliverykit import CHART, CRDS_CHART, REPO, Helm, helm_binary, helm_offline, yaml_docs

from controlplane import ControlPlane

pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def release(operator_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo missing: apt-get install skopeo (.ci/run installs it)")
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run(["bash", str(REPO / "tools" / "image" / "release.sh")], capture_output=True, text=True,
                            env={**os.environ, "HELM": helm_binary(), "DIST": str(dist)}, timeout=1800)
    assert result.returncode == 0, result.stderr[-5000:]
    return dist


def test_release_holds_the_image_both_charts_and_the_changelog(release: Path, operator_image: str) -> None:
    assert sorted(path.name for path in release.iterdir()) == sorted([
        f"azureml-compute-operator-{VERSION}.oci.tar", f"azureml-compute-operator-{VERSION}.tgz",
        f"azureml-compute-operator-crds-{VERSION}.tgz", "CHANGELOG.md", "SHA256SUMS"])
    checked = subprocess.run(["sha256sum", "--check", "SHA256SUMS"], cwd=release, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert re.search(rf"^## {re.escape(VERSION)}\b", (release / "CHANGELOG.md").read_text(), re.MULTILINE)

    archive = release / f"azureml-compute-operator-{VERSION}.oci.tar"
    inspected = json.loads(subprocess.run(["skopeo", "inspect", f"oci-archive:{archive}"], capture_output=True,
                                          text=True, check=True, timeout=300).stdout)
    config = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci-archive:{archive}"],
                                       capture_output=True, text=True, check=True, timeout=300).stdout)
    assert inspected["Labels"]["org.opencontainers.image.title"] == "azureml-compute-operator"
    assert config["config"]["User"] == "10001:10001"
    assert config["config"]["Entrypoint"] == ["aml-operator"]
    # The archive is the image `make image` built, under the name the chart points at by default.
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert operator_image == f"{values['image']['repository']}:{VERSION}"
    index = subprocess.run(["tar", "-xOf", str(archive), "index.json"], capture_output=True, text=True, check=True)
    refs = [m["annotations"]["org.opencontainers.image.ref.name"] for m in json.loads(index.stdout)["manifests"]]
    assert refs == [operator_image]


@pytest.mark.parametrize("chart", [CHART, CRDS_CHART], ids=["operator", "crds"])
def test_packaged_charts_carry_the_projects_version_and_render_as_the_source(release: Path, chart: Path) -> None:
    package = release / f"{chart.name}-{VERSION}.tgz"
    shown = yaml.safe_load(helm_offline("show", "chart", str(package)).stdout)
    assert (shown["version"], shown["appVersion"]) == (VERSION, VERSION)
    assert helm_offline("template", "r", str(package), "-n", "aml").stdout == \
        helm_offline("template", "r", str(chart), "-n", "aml").stdout


def test_packaged_operator_chart_installs_on_the_api_server(
        release: Path, helm: Helm, crds_chart: str, control_plane: ControlPlane, release_namespace: str) -> None:
    name = f"aml-rel-{uuid.uuid4().hex[:5]}"
    helm("install", name, str(release / f"azureml-compute-operator-{VERSION}.tgz"), "-n", release_namespace,
         "--timeout", "120s")
    try:
        deployment = json.loads(control_plane.kubectl("get", "deployment", f"{name}-azureml-compute-operator",
                                                      "-n", release_namespace, "-o", "json").stdout)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        values = yaml.safe_load((CHART / "values.yaml").read_text())
        assert container["image"] == f"{values['image']['repository']}:{VERSION}"
        hooks = yaml_docs(helm("get", "hooks", name, "-n", release_namespace).stdout)
        assert sorted((hook["kind"], hook["metadata"]["annotations"]["helm.sh/hook"]) for hook in hooks) == [
            ("NetworkPolicy", "test"), ("Pod", "test")]
    finally:
        helm("uninstall", name, "-n", release_namespace, "--wait", "--timeout", "120s", check=False)
