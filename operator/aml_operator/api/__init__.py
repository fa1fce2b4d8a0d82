"""Pydantic models of the custom resources: the single source of truth for ``crds/``.

Parse an object (a kopf ``body`` or an API response) with ``Kind.from_body(body)``; dump its status
for a status patch with ``obj.status.to_json()`` (camelCase, unset fields left out).
"""

from .attached_compute import AttachedCompute, AttachedComputeSpec, AttachedComputeStatus
from .base import API_VERSION, GROUP, VERSION, KubeResource
from .common import ComputeResource
from .compute_cluster import ComputeCluster, ComputeClusterSpec, ComputeClusterStatus
from .compute_instance import ComputeInstance, ComputeInstanceSpec, ComputeInstanceStatus
from .conditions import READY, RECONCILING, STALLED, Condition, find_condition, set_condition
from .inference_cluster import InferenceCluster, InferenceClusterSpec, InferenceClusterStatus
from .workspace import Workspace, WorkspaceSpec, WorkspaceStatus

ALL_KINDS: tuple[type[KubeResource], ...] = (
    Workspace,
    ComputeCluster,
    ComputeInstance,
    InferenceCluster,
    AttachedCompute,
)

__all__ = [
    "ALL_KINDS",
    "API_VERSION",
    "GROUP",
    "READY",
    "RECONCILING",
    "STALLED",
    "VERSION",
    "AttachedCompute",
    "AttachedComputeSpec",
    "AttachedComputeStatus",
    "ComputeCluster",
    "ComputeClusterSpec",
    "ComputeClusterStatus",
    "ComputeInstance",
    "ComputeInstanceSpec",
    "ComputeInstanceStatus",
    "ComputeResource",
    "Condition",
    "InferenceCluster",
    "InferenceClusterSpec",
    "InferenceClusterStatus",
    "KubeResource",
    "Workspace",
    "WorkspaceSpec",
    "WorkspaceStatus",
    "find_condition",
    "set_condition",
]
