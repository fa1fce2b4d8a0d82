"""The scale and failover benchmarks at a handful of objects, so they keep working: every measure is taken
and printed.

No timing is asserted; what is checked is what holds at any speed (every compute created once and
gone after the delete, each probe seen at Azure before it was Ready, a standby that sent nothing while
the active replica lived).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane import ControlPlane

sys.path.insert(0, str(Path(__file__).parent))
from bench_failover import Options as FailoverOptions
from bench_failover import run as run_failover
from bench_scale import Options, namespaces_of, run


@pytest.fixture
def options(control_plane: ControlPlane) -> Iterator[Options]:
    # The session's control plane is shared with other tests: the operator watches only these namespaces.
    options = Options(computes=6, workspaces=2, namespaces=3, rest_seconds=4, probes=1, timing_scale=0.2,
                      ceiling_seconds=1, ceiling_concurrency=8, cluster_wide=False,
                      namespace_prefix=f"bench-{uuid.uuid4().hex[:6]}",
                      operator_env={"AML_POLL_INTERVAL": "1", "AML_DRIFT_INTERVAL": "4"})
    yield options
    for ns in namespaces_of(options):
        control_plane.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_scale_benchmark_takes_every_measure(control_plane: ControlPlane, crds: list[str], options: Options,
                                             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = run(control_plane, tmp_path, options)
    for line in report.lines():
        print(line)

    assert report.ceiling_creates_per_second > 0
    assert report.puts >= options.computes
    assert report.converge_routes.get("GET computes.get", 0) >= options.computes
    assert report.throttled == 0  # throttling is off in this run
    assert set(report.ready_fraction_times) == {"10%", "50%", "90%"}
    assert len(report.first_put_seconds) == len(report.ready_seconds) == options.probes
    assert all(put <= ready for put, ready in zip(report.first_put_seconds, report.ready_seconds, strict=True))
    assert report.leftovers == []
    assert 0 < report.rest_rss_mib <= report.peak_rss_mib
    assert report.peak_connections >= 1
    printed = capsys.readouterr().out
    assert "apply → all Ready" in printed and "Kubernetes API" in printed and "delete all" in printed


def test_failover_benchmark_takes_every_measure(control_plane: ControlPlane, crds: list[str], tmp_path: Path) -> None:
    """The failover benchmark at a handful of computes and a short peering lifetime."""
    options = FailoverOptions(computes=4, lifetime=3, kill_at=0.25, timing_scale=0.5,
                              namespace=f"failover-{uuid.uuid4().hex[:6]}")
    try:
        report = run_failover(control_plane, tmp_path, options)
    finally:
        control_plane.kubectl("delete", "namespace", options.namespace, "--wait=false", check=False)
    lines = list(report.lines())
    print("\n".join(lines))

    assert [phase.name for phase in report.phases] == ["create", "delete"]
    for phase in report.phases:
        standby = [counts for replica, counts in phase.requests_both_alive.items() if replica != phase.killed]
        assert standby == [(0, 0)], phase  # the standby sent nothing to Azure while the leader lived
        assert phase.requests_both_alive[phase.killed][0] > 0
        assert 0 < phase.takeover_seconds <= phase.converge_seconds
    assert report.duplicate_creates == {} and report.orphans == []
    assert sum("standby resumed" in line for line in lines) == 2
