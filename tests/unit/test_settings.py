"""Operator settings from the environment."""

from __future__ import annotations

import pytest

from aml_operator.settings import PUBLIC_ARM_ENDPOINT, Settings


def test_defaults_reach_the_public_cloud() -> None:
    settings = Settings.from_env({})
    assert settings.arm_endpoint == PUBLIC_ARM_ENDPOINT
    assert settings.namespaces == () and settings.standalone
    assert not settings.may_use_operator_identity("team-a")


def test_environment_overrides() -> None:
    settings = Settings.from_env({
        "AML_OPERATOR_NAMESPACES": "a, b", "AML_ARM_ENDPOINT": "https://127.0.0.1:8443/",
        "AML_OPERATOR_IDENTITY_NAMESPACES": "b", "AML_POLL_INTERVAL": "2.5", "AML_OPERATOR_PEERING": "aml",
        "AML_METRICS_PORT": "0", "AML_CONCURRENT_PASSES": "4", "AML_SECRET_REFRESH_INTERVAL": "5",
    })
    assert settings.namespaces == ("a", "b")
    assert settings.arm_endpoint == "https://127.0.0.1:8443"
    assert settings.may_use_operator_identity("b") and not settings.may_use_operator_identity("a")
    assert settings.poll_interval == 2.5 and not settings.standalone and settings.metrics_port == 0
    assert Settings.from_env({"AML_OPERATOR_IDENTITY_NAMESPACES": "*"}).may_use_operator_identity("any")
    assert settings.concurrent_passes == 4 and Settings.from_env({}).concurrent_passes == 16
    assert settings.secret_refresh_interval == 5 and Settings.from_env({}).secret_refresh_interval == 60


@pytest.mark.parametrize("value", ["many", "0", "-1", "2.5"])
def test_bad_pass_counts_are_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="AML_CONCURRENT_PASSES must be a whole number of at least 1"):
        Settings.from_env({"AML_CONCURRENT_PASSES": value})


@pytest.mark.parametrize("value", ["soon", "0", "-1"])
def test_bad_intervals_are_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="AML_POLL_INTERVAL"):
        Settings.from_env({"AML_POLL_INTERVAL": value})


def test_public_cloud_follows_the_settings_sovereign_clouds_are_fixed() -> None:
    settings = Settings.from_env({"AML_ARM_ENDPOINT": "https://127.0.0.1:8443", "AML_AUTHORITY_HOST": "https://127.0.0.1:8443"})
    assert settings.endpoints().arm_endpoint == "https://127.0.0.1:8443"
    assert settings.endpoints("AzurePublicCloud").authority_host == "https://127.0.0.1:8443"
    assert settings.endpoints("AzureUSGovernment").arm_endpoint == "https://management.usgovcloudapi.net"
    assert settings.endpoints("AzureChinaCloud").authority_host == "https://login.chinacloudapi.cn"
