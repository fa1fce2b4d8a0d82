"""Apply a reconcile ``Outcome`` the kopf way: a status patch only for what changed, events, requeue."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from kopf._cogs.clients.patching import patch_obj

from aml_operator import metrics
from aml_operator.reconcile.outcome import Outcome

MIN_REQUEUE = 0.2


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level status keys to write: changed or new ones, and None for keys that went away."""
    patch: dict[str, Any] = {key: value for key, value in desired.items() if current.get(key) != value}
    patch.update({key: None for key in current if key not in desired})
    return patch


def _ready(status: Mapping[str, Any]) -> tuple[str, str]:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status")), str(condition.get("reason"))
    return "", ""


def log(outcome: Outcome, before: Mapping[str, Any], logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """A line when the object's state changes: WARNING when a person must act, else INFO; DEBUG when not."""
    changed = _ready(before) != _ready(outcome.status)
    if changed and outcome.state == "stalled":
        logger.warning("Stalled/%s: %s", outcome.reason, outcome.message)
    elif changed:
        ready = _ready(outcome.status)[0]
        logger.info("Ready=%s/%s: %s", ready, outcome.reason, outcome.message)
    else:
        logger.debug("%s/%s: %s", outcome.state or "unchanged", outcome.reason, outcome.message)


def apply(outcome: Outcome, body: kopf.Body, patch: kopf.Patch,
          logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    before = body.get("status") or {}
    log(outcome, before, logger)
    metrics.record_pass(str(body.get("kind", "")), str(body.metadata.namespace), str(body.metadata.name),
                        before, outcome.status, datetime.now(UTC))
    if outcome.finished:
        metrics.OBJECTS.forget(str(body.get("kind", "")), str(body.metadata.namespace), str(body.metadata.name))
    changes = status_patch(before, outcome.status)
    for key, value in changes.items():
        patch.status[key] = value
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


async def write(patch: kopf.Patch, body: kopf.Body, resource: kopf.Resource, settings: kopf.OperatorSettings,
                logger: logging.Logger | logging.LoggerAdapter[Any]) -> bool:
    """Send ``patch`` outside a handler, the way kopf sends a handler's (merge patch, the status through its
    subresource); False when the object is gone."""
    if not patch:
        return True
    patched, _ = await patch_obj(settings=settings, resource=resource, namespace=body.metadata.namespace,
                                 name=str(body.metadata.name), patch=patch, logger=logger)
    return patched is not None


def requeue(outcome: Outcome) -> None:
    """Come back later without blocking: kopf retries the handler after the delay."""
    if outcome.requeue_after is not None:
        raise kopf.TemporaryError(outcome.message or "waiting", delay=max(MIN_REQUEUE, outcome.requeue_after))
