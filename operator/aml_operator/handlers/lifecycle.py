"""Operator start-up and shut-down: kopf settings under our own group, peering, and the shared runtime."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from aml_operator import metrics
from aml_operator.api.base import GROUP
from aml_operator.handlers import memory
from aml_operator.kube.client import cluster_uid, load_config
from aml_operator.runtime import Runtime
from aml_operator.settings import Settings

BOOKKEEPING_PREFIX = f"operator.{GROUP}"
# How long a replica waits, after writing its record into the peering object, before kopf makes its
# first decision: longer than a watch event takes to reach a peer, so replicas started together see
# each other in their first look (see announce).
PEERING_SETTLE_SECONDS = 3.0


def start_priority(now: float | None = None) -> int:
    """A peering priority that ranks replicas by start time, oldest first.

    The oldest live replica leads, so a replica that starts later (a rescheduled pod, a scale-up) never
    pauses a healthy leader and interrupts its work; the random low digits keep two replicas started in
    the same millisecond apart (kopf pauses every replica while two share the highest priority).
    """
    started_ms = int((time.time() if now is None else now) * 1000)
    return (10**13 - started_ms) * 1000 + secrets.randbelow(1000)


def announce(name: str, namespaces: Sequence[str], identity: str, priority: int, lifetime: int) -> None:
    """Write this replica's record into the peering object(s) before kopf starts watching them.

    kopf starts every replica paused and resumes on the first look at the peering object that shows no
    live peer of higher priority. Replicas started at the same moment used to look before the other had
    written its first keep-alive, and both resumed. Written here, and followed by a wait longer than a
    watch event's trip, every replica's first look includes every peer that started with it; a peer
    that starts later is seen by the running replicas before that peer's own first look.
    The record is kopf's own keep-alive (kopf's peering.Peer), which kopf refreshes from then on; it
    lives through the settling wait too, or a short lifetime would expire it before the peers' first look.
    """
    record = {"priority": priority, "lifetime": lifetime + int(PEERING_SETTLE_SECONDS) + 1,
              "lastseen": dt.datetime.now(dt.UTC).isoformat()}
    body = {"status": {identity: record}}
    api = client.CustomObjectsApi()
    try:
        if namespaces:
            for namespace in namespaces:
                api.patch_namespaced_custom_object("kopf.dev", "v1", namespace, "kopfpeerings", name, body)
        else:
            api.patch_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", name, body)
    except ApiException as error:
        # kopf itself reports a missing peering object and waits for it; nothing to add here.
        logging.getLogger(__name__).warning("peering %r: could not announce this replica (HTTP %s %s)",
                                            name, error.status, error.reason)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    ours = Settings.from_env()
    # Finalizer and bookkeeping annotations under our group, so users see one owner of the object. kopf
    # ignores every annotation under the prefix it stores in, so that prefix must not be the one of the
    # annotations users set (azureml.dev/adopt, azureml.dev/reconcile): those must trigger handlers.
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=BOOKKEEPING_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=BOOKKEEPING_PREFIX, key="last-handled-configuration")
    # Events are posted deliberately on transitions, not for every log line.
    settings.posting.loggers = False
    settings.peering.standalone = ours.standalone
    settings.watching.server_timeout = 300
    load_config()
    cluster_id = ours.cluster_id or cluster_uid()
    if not cluster_id:
        raise kopf.PermanentError("cannot tell which cluster this is: set AML_CLUSTER_ID "
                                  "(or allow reading the kube-system namespace)")
    memo.runtime = Runtime(ours, cluster_id)
    memo.kopf_settings = settings  # compute looks patch outside handlers, as kopf does (compute_looks)
    metrics.track_passes(memo.runtime.admission)
    # RSS at rest follows what the operator holds, not its convergence peak (see handlers.memory).
    memo.memory_trimmer = asyncio.create_task(memory.trim_periodically(), name="memory-trimmer")
    metrics.serve(ours.metrics_port)
    memory.freeze_startup_objects()
    logger.info("azureml-compute-operator: ARM %s, cluster id %s, drift every %ss",
                ours.arm_endpoint, cluster_id, ours.drift_interval)
    if ours.peering:
        settings.peering.name = ours.peering
        settings.peering.mandatory = True
        settings.peering.priority = ours.peering_priority or start_priority()
        settings.peering.lifetime = ours.peering_lifetime
        # kopf runs the startup handlers before it watches anything, peering included.
        await asyncio.to_thread(announce, ours.peering, memo.watched_namespaces, memo.peering_identity,
                                settings.peering.priority, ours.peering_lifetime)
        await asyncio.sleep(PEERING_SETTLE_SECONDS)
        logger.info("peering %r as %s with priority %s (lifetime %ss)", ours.peering, memo.peering_identity,
                    settings.peering.priority, ours.peering_lifetime)


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    trimmer: asyncio.Task[None] | None = getattr(memo, "memory_trimmer", None)
    if trimmer is not None:
        trimmer.cancel()
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        await runtime.close()
