"""End-to-end fixtures: the emulator and the operator as subprocesses, the CRDs in the real API server.

The operator runs exactly as users run it (`aml-operator`), pointed at the emulator through its
settings; each test gets its own namespace and its own operator watching only that namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controlplane import ControlPlane
from harness import Emulator, Kube, Operator, start_emulator


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = start_emulator(tmp_path_factory.mktemp("emulator"), "spec")
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def live_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = start_emulator(tmp_path_factory.mktemp("emulator-live"), "live")
    yield emu
    emu.stop()


@pytest.fixture
def operator_factory(control_plane: ControlPlane, crds: list[str], kube_env: dict[str, str],
                     tmp_path: Path) -> Iterator[Callable[..., Operator]]:
    started: list[Operator] = []

    def make(namespace: str, emulator: Emulator, **extra_env: str) -> Operator:
        op = Operator(namespace, emulator, kube_env, tmp_path / "operator.log", dict(extra_env))
        op.start()
        started.append(op)
        return op

    yield make
    for op in started:
        op.stop()


@pytest.fixture
def kube(control_plane: ControlPlane, namespace: str) -> Kube:
    return Kube(control_plane, namespace)
