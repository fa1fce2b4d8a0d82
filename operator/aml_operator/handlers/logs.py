"""Logs a person can act on: levels that mean something, and every line naming its object.

* kopf logs a handler that asks to be called again (``TemporaryError``) at ERROR as "failed
  temporarily"; here that is how a pass waits for Azure, so those lines are routine progress (INFO).
  kopf also logs each Kubernetes API request it is about to retry at ERROR ("will retry"): a
  transient answer (e.g. 429 while the API server starts) is worth a WARNING, not an ERROR; the
  last attempt failing stays an ERROR. A handler that really fails (an exception) stays at ERROR.
* Text lines start with ``[Kind namespace/name]``; JSON lines carry the same in ``object``.
* azure-core logs every request and its headers at INFO: only with ``--verbose``.
* azure-identity logs a refused token request at WARNING on every attempt (with a traceback under
  ``--verbose``); the object's condition and its one WARNING per change of reason already say it, so
  those lines are DEBUG detail.
* kopf logs every timer tick and index update that succeeded at INFO, and a timer that asks to come back
  sooner (following work in flight, waiting for a retry time) as "failed temporarily": lines per object
  saying nothing happened, so those are DEBUG detail too. The status changes a tick makes are logged by
  the object itself.
"""

from __future__ import annotations

import logging
from typing import Literal

import kopf

LogFormat = Literal["text", "json"]
REQUEUE_MARKER = " failed temporarily"
API_RETRY_MARKER = "failed; will retry"
REF_KEY = "object"


class RequeueIsProgress(logging.Filter):
    """Demotes kopf's "failed temporarily" (our requeues) to INFO and its API retries to WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR:
            message = str(record.msg)
            if REQUEUE_MARKER in message:
                record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            elif API_RETRY_MARKER in message:
                record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


class RoutineIsDetail(logging.Filter):
    """azure-identity's per-attempt WARNING of a refused token, kopf's "Timer/Indexer … succeeded." lines
    and a timer's requeues: DEBUG with ``--verbose``, else dropped."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if _is_routine(record):
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
            return self.verbose
        return True


def _is_routine(record: logging.LogRecord) -> bool:
    if record.name.startswith("azure.identity"):
        return record.levelno == logging.WARNING
    if record.name.startswith("kopf") and record.levelno == logging.INFO:
        message = str(record.msg)
        if message.startswith("Timer '") and REQUEUE_MARKER in message:
            return True
        return message.startswith(("Timer '", "Indexer '")) and message.endswith("' succeeded.")
    return False


class KindPrefix(logging.Filter):
    """``[Kind namespace/name]`` in front of every per-object line of the text format."""

    def filter(self, record: logging.LogRecord) -> bool:
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict) and not getattr(record, "_kind_prefixed", False):
            where = f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("namespace") else str(ref.get("name"))
            record.msg = f"[{ref.get('kind')} {where}] {record.msg}"
            record._kind_prefixed = True
        return True


def configure(log_format: LogFormat, verbose: bool) -> None:
    if log_format == "json":
        kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON, log_prefix=False, log_refkey=REF_KEY)
    else:
        kopf.configure(verbose=verbose, log_format=kopf.LogFormat.FULL, log_prefix=False)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequeueIsProgress())
        handler.addFilter(RoutineIsDetail(verbose))
        if log_format == "text":
            handler.addFilter(KindPrefix())
    logging.getLogger("azure").setLevel(logging.DEBUG if verbose else logging.WARNING)
