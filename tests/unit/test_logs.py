"""Log lines a person can act on: levels that mean something, and the object named on every line."""

from __future__ import annotations

import logging

import pytest

from aml_operator.handlers import outcome
from aml_operator.handlers.logs import KindPrefix, RequeueIsProgress, RoutineIsDetail
from aml_operator.reconcile.outcome import Outcome

REF = {"kind": "ComputeCluster", "namespace": "team-a", "name": "cpu"}


def record(level: int, msg: str) -> logging.LogRecord:
    made = logging.LogRecord("kopf.objects", level, __file__, 1, msg, None, None)
    made.k8s_ref = REF
    return made


def test_a_requeue_is_progress_not_an_error() -> None:
    requeue = record(logging.ERROR, "Handler 'computeclusters_reconcile' failed temporarily: checking the credentials")
    crash = record(logging.ERROR, "Handler 'computeclusters_reconcile' failed with an exception. Will retry.")
    api_retry = record(logging.ERROR, "Request attempt #1/9 failed; will retry: GET ... -> 429")
    for line in (requeue, crash, api_retry):
        RequeueIsProgress().filter(line)
    assert (requeue.levelname, crash.levelname, api_retry.levelname) == ("INFO", "ERROR", "WARNING")


def test_a_refused_token_is_said_once_by_the_object_not_by_azure_identity_on_every_attempt() -> None:
    def refused() -> logging.LogRecord:
        return logging.LogRecord("azure.identity.aio._internal.get_token_mixin", logging.WARNING, __file__, 1,
                                 "ClientSecretCredential.get_token_info failed: invalid_client", None, None)

    verbose, quiet = refused(), refused()
    assert RoutineIsDetail(verbose=True).filter(verbose) and verbose.levelname == "DEBUG"
    assert not RoutineIsDetail(verbose=False).filter(quiet)
    ours = record(logging.WARNING, "Stalled/CredentialsInvalid: invalid_client")
    assert RoutineIsDetail(verbose=False).filter(ours) and ours.levelname == "WARNING"


def test_a_timer_tick_that_changed_nothing_is_detail_and_a_handler_outcome_is_not() -> None:
    tick = record(logging.INFO, "Timer 'workspace_recheck' succeeded.")
    index = record(logging.INFO, "Indexer 'workspaces_by_name' succeeded.")
    handled = record(logging.INFO, "Handler 'computeclusters_reconcile' succeeded.")
    failed_tick = record(logging.ERROR, "Timer 'workspace_recheck' failed with an exception. Will retry.")
    assert not RoutineIsDetail(verbose=False).filter(tick) and not RoutineIsDetail(verbose=False).filter(index)
    assert RoutineIsDetail(verbose=False).filter(handled) and handled.levelname == "INFO"
    assert RoutineIsDetail(verbose=False).filter(failed_tick) and failed_tick.levelname == "ERROR"
    verbose = record(logging.INFO, "Timer 'workspace_recheck' succeeded.")
    assert RoutineIsDetail(verbose=True).filter(verbose) and verbose.levelname == "DEBUG"


def test_a_timer_following_work_in_flight_is_detail_a_handler_requeue_stays_progress() -> None:
    def through_both(line: logging.LogRecord) -> bool:
        RequeueIsProgress().filter(line)
        return RoutineIsDetail(verbose=False).filter(line)

    follow = record(logging.ERROR, "Timer 'workspace_recheck' failed temporarily: checking the credentials")
    requeue = record(logging.ERROR, "Handler 'computeclusters_reconcile' failed temporarily: checking the credentials")
    assert not through_both(follow)
    assert through_both(requeue) and requeue.levelname == "INFO"


def test_text_lines_name_kind_namespace_and_name_once() -> None:
    line = record(logging.INFO, "Ready=True/Succeeded")
    KindPrefix().filter(line)
    KindPrefix().filter(line)  # two handlers on the root logger must not prefix twice
    assert line.getMessage() == "[ComputeCluster team-a/cpu] Ready=True/Succeeded"


def conditions(status: str, reason: str) -> dict[str, object]:
    return {"conditions": [{"type": "Ready", "status": status, "reason": reason}]}


@pytest.mark.parametrize(
    ("before", "after", "state", "level"),
    [
        (conditions("False", "Creating"), conditions("False", "QuotaExceeded"), "stalled", logging.WARNING),
        (conditions("False", "QuotaExceeded"), conditions("False", "QuotaExceeded"), "stalled", logging.DEBUG),
        (conditions("False", "Creating"), conditions("True", "Succeeded"), "ready", logging.INFO),
        (conditions("True", "Succeeded"), conditions("True", "Succeeded"), "ready", logging.DEBUG),
    ],
)
def test_a_warning_once_per_change_of_reason(before: dict[str, object], after: dict[str, object], state: str,
                                             level: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="test")
    outcome.log(Outcome(status=after, state=state, reason="r", message="m"), before, logging.getLogger("test"))
    assert [r.levelno for r in caplog.records] == [level]
