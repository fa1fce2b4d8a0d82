"""Who owns a compute in Azure: the tags the operator writes and reads back.

A compute is never taken over silently: only one tagged with this object's identity (same cluster,
namespace, kind and name) is ours; anything else is adopted only when the object asks for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OWNER_TAG = "azureml.dev-owner"
CLUSTER_TAG = "azureml.dev-cluster"
ADOPT_ANNOTATION = "azureml.dev/adopt"
RECONCILE_ANNOTATION = "azureml.dev/reconcile"


@dataclass(frozen=True)
class Owner:
    cluster_id: str
    namespace: str
    kind: str
    name: str

    @property
    def reference(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"

    def tags(self) -> dict[str, str]:
        return {OWNER_TAG: self.reference, CLUSTER_TAG: self.cluster_id}

    def owns(self, tags: Mapping[str, str]) -> bool:
        return tags.get(OWNER_TAG) == self.reference and tags.get(CLUSTER_TAG) == self.cluster_id

    def describe_foreign(self, tags: Mapping[str, str]) -> str:
        other = tags.get(OWNER_TAG)
        if other is None:
            return "it was not created by this operator"
        if tags.get(CLUSTER_TAG) != self.cluster_id:
            return f"it belongs to {other} in another Kubernetes cluster ({tags.get(CLUSTER_TAG, 'unknown')})"
        return f"it belongs to {other}"


def wants_adoption(annotations: Mapping[str, str]) -> bool:
    return annotations.get(ADOPT_ANNOTATION, "").strip().lower() == "true"


def writes_paused(annotations: Mapping[str, str]) -> bool:
    return annotations.get(RECONCILE_ANNOTATION, "").strip().lower() == "skip"


def with_owner_tags(user_tags: Mapping[str, str] | None, owner: Owner) -> dict[str, str]:
    """User tags plus ours; ours win, so a user cannot forge or drop ownership by a tag in the spec."""
    return {**(user_tags or {}), **owner.tags()}

