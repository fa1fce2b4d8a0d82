"""The kubeconfig Secret of an InferenceCluster: written from listKeys, owned by the object, kept fresh.

The Secret carries two annotations: a SHA-256 of the kubeconfig it was written with (so an edit or a
truncation is noticed without asking Azure) and when it was last refreshed (so credentials rotated in
AKS reach it within one refresh interval). A Secret of that name the InferenceCluster does not own is
never overwritten. The kubeconfig itself appears nowhere but in the Secret's data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from aml_operator.api.conditions import Condition, ConditionStatus, find_condition, set_condition
from aml_operator.api.inference_cluster import InferenceCluster
from aml_operator.reconcile.external import AzureError, JsonDict, KeysClient, WorkspaceTarget
from aml_operator.reconcile.outcome import Event

KUBECONFIG_KEY = "kubeconfig"
CONTENT_ANNOTATION = "azureml.dev/kubeconfig-sha256"
REFRESHED_ANNOTATION = "azureml.dev/kubeconfig-refreshed-at"
PUBLISHED = "KubeconfigPublished"


class SecretView(Protocol):
    @property
    def data(self) -> Mapping[str, str]: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...

    @property
    def owner_uids(self) -> tuple[str, ...]: ...


ReadSecret = Callable[[], Awaitable[SecretView | None]]
WriteSecret = Callable[[Mapping[str, str], Mapping[str, str], SecretView | None], Awaitable[None]]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def needs_refresh(existing: SecretView | None, now: datetime, refresh_after: timedelta) -> bool:
    """Absent, edited since written, or older than the refresh interval."""
    if existing is None:
        return True
    content = existing.data.get(KUBECONFIG_KEY)
    if not content or existing.annotations.get(CONTENT_ANNOTATION) != _digest(content):
        return True
    try:
        refreshed = datetime.fromisoformat(existing.annotations.get(REFRESHED_ANNOTATION, ""))
    except ValueError:
        return True
    return now - refreshed >= refresh_after


async def sync_kubeconfig(obj: InferenceCluster, keys: KeysClient, target: WorkspaceTarget, read: ReadSecret,
                          write: WriteSecret, now: datetime, refresh_after: timedelta) -> list[Event]:
    """Write or refresh ``spec.kubeconfigSecretRef``; events say what happened (names only)."""
    ref = obj.spec.kubeconfig_secret_ref
    if ref is None:
        return []
    existing = await read()
    if existing is not None and obj.metadata.uid not in existing.owner_uids:
        return [Event("Warning", "KubeconfigSecretNotOwned",
                      f"Secret {ref.name!r} (spec.kubeconfigSecretRef) exists and is not owned by this "
                      "InferenceCluster; the operator does not overwrite it")]
    if not needs_refresh(existing, now, refresh_after):
        return []
    try:
        listed = await keys.list_keys(target, obj.azure_name)
    except AzureError as exc:
        return [Event("Warning", "KubeconfigUnavailable",
                      f"could not read the cluster's kubeconfig from Azure: {exc.reason}: {exc.message}")]
    kubeconfig = str(listed.get("userKubeConfig") or listed.get("adminKubeConfig") or "")
    if not kubeconfig:
        return [Event("Warning", "KubeconfigUnavailable", "Azure returned no kubeconfig for the cluster")]
    annotations = {CONTENT_ANNOTATION: _digest(kubeconfig), REFRESHED_ANNOTATION: now.isoformat()}
    await write({KUBECONFIG_KEY: kubeconfig}, annotations, existing)
    if existing is not None and existing.data.get(KUBECONFIG_KEY) == kubeconfig:
        return []  # only the refresh time moved
    verb = "wrote" if existing is None else "refreshed"
    return [Event("Normal", "KubeconfigWritten", f"{verb} the cluster's kubeconfig in Secret {ref.name!r}")]


def record_publication(status: JsonDict, events: list[Event], secret: str, generation: int,
                       now: datetime) -> tuple[JsonDict, list[Event]]:
    """The kubeconfig step's result as a ``KubeconfigPublished`` condition beside Ready, and its Warning
    events only when the reason changes (the step runs on every pass of a Ready cluster)."""
    conditions = [Condition.model_validate(c) for c in status.get("conditions") or []]
    previous = find_condition(conditions, PUBLISHED)
    warning = next((e for e in events if e.type == "Warning"), None)
    state: ConditionStatus
    if warning is not None:
        state, reason, message = "False", warning.reason, warning.message
    else:
        state, reason, message = "True", "Written", f"the cluster's kubeconfig is in Secret {secret!r}"
    updated = set_condition(conditions, PUBLISHED, state, reason, message, observed_generation=generation, now=now)
    kept = [e for e in events if e.type != "Warning" or previous is None or previous.reason != e.reason]
    return {**status, "conditions": [c.to_json() for c in updated]}, kept
