"""Operator start-up and shut-down: kopf settings under our own group, and the shared runtime."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import kopf

from aml_operator import metrics
from aml_operator.api.base import GROUP
from aml_operator.kube.client import cluster_uid, load_config
from aml_operator.runtime import Runtime
from aml_operator.settings import Settings

BOOKKEEPING_PREFIX = f"operator.{GROUP}"


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
    if ours.peering:
        settings.peering.name = ours.peering
        settings.peering.mandatory = True
        settings.peering.priority = ours.peering_priority or secrets.randbelow(2**30) + 1
        settings.peering.lifetime = ours.peering_lifetime
    settings.watching.server_timeout = 300
    load_config()
    cluster_id = ours.cluster_id or cluster_uid()
    if not cluster_id:
        raise kopf.PermanentError("cannot tell which cluster this is: set AML_CLUSTER_ID "
                                  "(or allow reading the kube-system namespace)")
    memo.runtime = Runtime(ours, cluster_id)
    metrics.serve(ours.metrics_port)
    logger.info("azureml-compute-operator: ARM %s, cluster id %s, drift every %ss",
                ours.arm_endpoint, cluster_id, ours.drift_interval)


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        await runtime.close()
