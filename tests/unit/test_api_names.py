"""The Azure compute name rules and the other patterns shared between Python and CEL."""

from __future__ import annotations

import pytest

from aml_operator.api.names import COMPUTE_NAME, INFERENCE_CLUSTER_NAME, is_valid_name, name_problem
from aml_operator.api.references import AKS_ID, SUBNET_ID, matches_arm_id
from aml_operator.api.scale import is_iso_duration

SUBNET = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml/providers/"
    "Microsoft.Network/virtualNetworks/vnet/subnets/default"
)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("abc", True),  # shortest
        ("ab", False),  # one below the minimum
        ("a" * 24, True),  # longest
        ("a" * 25, False),  # one above the maximum
        ("cpu-cluster", True),
        ("CPU-Cluster2", True),  # upper case is fine for Azure
        ("a-b-c", True),
        ("a--b", True),  # each '-' has a letter later
        ("gpu-1", False),  # no letter after the last '-'
        ("gpu-1a", True),
        ("gpu-", False),
        ("1gpu", False),  # must start with a letter
        ("-gpu", False),
        ("gpu_cluster", False),  # '_' is not allowed
        ("gpu.cluster", False),
        ("gpu cluster", False),
    ],
)
def test_compute_name_rules(name: str, valid: bool) -> None:
    assert is_valid_name(name, COMPUTE_NAME) is valid


@pytest.mark.parametrize(
    ("name", "valid"),
    [("ab", True), ("a", False), ("a" * 16, True), ("a" * 17, False), ("aks-prod", True), ("aks-1", False)],
)
def test_inference_cluster_name_rules(name: str, valid: bool) -> None:
    assert is_valid_name(name, INFERENCE_CLUSTER_NAME) is valid


def test_name_problem_explains_the_rule() -> None:
    problem = name_problem("gpu-1", COMPUTE_NAME)
    assert problem is not None
    assert "3-24 characters" in problem
    assert "after every '-'" in problem
    assert name_problem("gpu-a", COMPUTE_NAME) is None


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("PT120S", True),
        ("PT5M", True),
        ("P1DT2H", True),
        ("PT0.5S", True),
        ("P", False),
        ("PT", False),
        ("P1DT", False),
        ("120", False),
        ("5m", False),
        ("PT5X", False),
    ],
)
def test_iso_durations(value: str, valid: bool) -> None:
    assert is_iso_duration(value) is valid


def test_arm_ids_match_their_type_case_insensitively() -> None:
    assert matches_arm_id(SUBNET, *SUBNET_ID)
    assert matches_arm_id(SUBNET.lower(), *SUBNET_ID)
    assert matches_arm_id(SUBNET)  # any resource type
    assert not matches_arm_id(SUBNET, *AKS_ID)
    assert not matches_arm_id("/subscriptions/not-a-guid/resourceGroups/rg/providers/A.B/c/d")
    assert not matches_arm_id("subnet-1", *SUBNET_ID)
