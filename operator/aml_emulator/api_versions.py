"""Which api-versions the emulator serves, and how ARM refuses the others.

Azure ML answers every api-version its clients send, from the ones azureml-core still pins to the
newest stable; the emulator serves each with its version's shapes. The list is the versions the
official clients send (azureml-core 1.61, azure-ai-ml 1.35, azure-mgmt-machinelearningservices) and
the stable versions of the REST specification, not a guess at every preview ever published.
"""

from __future__ import annotations

import re

from .errors import ArmError

# Microsoft.MachineLearningServices: workspaces, computes, locations.
ML_API_VERSIONS: tuple[str, ...] = (
    "2018-03-01-preview",  # azureml-core: workspace discovery
    "2018-11-19",
    "2019-05-01",
    "2019-06-01",
    "2019-11-01",
    "2020-01-01",
    "2020-02-02",  # azureml-core: computes
    "2020-03-01",
    "2020-04-01",
    "2020-06-01",
    "2020-08-01",  # azure-mgmt-machinelearningservices 1.0.1
    "2020-09-01-preview",
    "2021-01-01",
    "2021-04-01",
    "2021-07-01",
    "2022-01-01-preview",
    "2022-05-01",  # azureml-core: workspaces
    "2022-10-01",
    "2022-10-01-preview",
    "2022-12-01-preview",
    "2023-04-01",
    "2023-04-01-preview",
    "2023-06-01-preview",
    "2023-08-01-preview",  # azure-ai-ml: computes
    "2023-10-01",
    "2024-01-01-preview",
    "2024-04-01",
    "2024-04-01-preview",
    "2024-07-01-preview",
    "2024-10-01",
    "2024-10-01-preview",  # azure-ai-ml: workspaces
    "2025-01-01-preview",
    "2025-04-01",
    "2025-04-01-preview",
    "2025-07-01-preview",
    "2025-09-01",
)
# What the operator and SDK 1.0.1 speak; status URLs and renders outside a request use it.
DEFAULT_API_VERSION = "2020-08-01"
# Microsoft.Resources (`GET /subscriptions`), as azure-mgmt-resource and azureml-core send them.
RESOURCES_API_VERSIONS: tuple[str, ...] = (
    "2016-06-01",
    "2019-11-01",
    "2020-01-01",
    "2021-01-01",
    "2022-12-01",
)
# The version whose specification declares PATCH of a compute a synchronous 200 and whose generated
# client (SDK 1.0.1) refuses anything else; every other client accepts the recorded 202.
SYNCHRONOUS_PATCH_VERSION = "2020-08-01"

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-(preview|privatepreview|alpha|beta))?$", re.IGNORECASE)


def check(version: str | None, supported: tuple[str, ...], resource_type: str) -> str:
    """The version as sent if it is served; otherwise the 400 ARM answers."""
    if not version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    listed = ", ".join(supported)
    if not _VERSION.match(version):
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are '{listed}'.",
        )
    if version.lower() not in supported:
        raise ArmError(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for API version '{version}' and resource type "
            f"'{resource_type}'. The supported api-versions are '{listed}'.",
        )
    return version.lower()


def patch_is_synchronous(version: str) -> bool:
    return version == SYNCHRONOUS_PATCH_VERSION
