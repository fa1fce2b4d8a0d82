"""Watch events reach kopf without ``metadata.managedFields`` and with shared strings (handlers.watch_bodies)."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

from kopf._cogs.clients import watching
from kopf._core.reactor import queueing

from aml_operator.handlers import watch_bodies


def _event(**metadata: Any) -> dict[str, Any]:
    return {"type": "MODIFIED", "object": {"metadata": {"name": "cc-1", **metadata}, "spec": {"vmSize": "S"}}}


def test_managed_fields_are_dropped_and_everything_else_kept() -> None:
    event = _event(managedFields=[{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                   annotations={"a": "b"}, resourceVersion="7")
    assert watch_bodies.slimmed(event) == {
        "type": "MODIFIED",
        "object": {"metadata": {"name": "cc-1", "annotations": {"a": "b"}, "resourceVersion": "7"},
                   "spec": {"vmSize": "S"}}}


def test_kopf_bookmarks_and_odd_events_pass_as_they_are() -> None:
    for event in (watching.Bookmark.LISTED, {"type": "ERROR", "object": "gone"}, {"type": "BOOKMARK"}):
        assert watch_bodies.slimmed(event) is event
    odd = {"type": "BOOKMARK", "object": {"metadata": None}}
    assert watch_bodies.slimmed(odd) == {"type": "BOOKMARK", "object": {"metadata": None}}


def _decoded(text: str) -> Any:
    return json.loads(text)  # a fresh decode: strings not shared with any other document


def test_two_bodies_share_their_keys_and_short_values_not_their_long_ones() -> None:
    long_message = "compute cc-1 is provisioned and matches the spec, " * 2
    text = json.dumps({"type": "MODIFIED", "object": {
        "metadata": {"name": "cc-1", "labels": {"team": "vision"}}, "spec": {"vmSize": "Standard_DS3_v2"},
        "status": {"conditions": [{"type": "Ready", "status": "True", "message": long_message}], "count": 3}}})
    first, second = (watch_bodies.slimmed(_decoded(text))["object"] for _ in range(2))
    assert first == second == _decoded(text)["object"]
    first_keys, second_keys = list(first["status"]), list(second["status"])
    assert first_keys[0] is second_keys[0]  # "conditions"
    assert first["spec"]["vmSize"] is second["spec"]["vmSize"]
    assert first["status"]["conditions"][0]["status"] is second["status"]["conditions"][0]["status"]
    assert first["status"]["conditions"][0]["message"] is not second["status"]["conditions"][0]["message"]
    assert first["status"]["count"] == 3


def test_kopf_watches_through_the_stream_that_is_replaced() -> None:
    # The seam: kopf's only consumer of watch events calls the module attribute at each (re)start.
    assert "watching.infinite_watch(" in inspect.getsource(queueing.watcher)


def test_the_installed_stream_yields_slim_events(monkeypatch: Any) -> None:
    events = [_event(managedFields=[{"manager": "m"}]), watching.Bookmark.LISTED]

    async def upstream(**_: Any) -> Any:
        for event in events:
            yield event

    monkeypatch.setattr(watch_bodies, "_ORIGINAL", upstream)
    monkeypatch.setattr(watching, "infinite_watch", watching.infinite_watch)  # restored after the test
    watch_bodies.install()

    async def collect() -> list[Any]:
        return [event async for event in watching.infinite_watch(resource=None)]

    got = asyncio.run(collect())
    assert got[0]["object"]["metadata"] == {"name": "cc-1"}
    assert got[1] is watching.Bookmark.LISTED
