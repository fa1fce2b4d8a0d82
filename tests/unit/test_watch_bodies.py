"""Watch events reach kopf without ``metadata.managedFields`` (handlers.watch_bodies)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from kopf._cogs.clients import watching
from kopf._core.reactor import queueing

from aml_operator.handlers import watch_bodies


def _event(**metadata: Any) -> dict[str, Any]:
    return {"type": "MODIFIED", "object": {"metadata": {"name": "cc-1", **metadata}, "spec": {"vmSize": "S"}}}


def test_managed_fields_are_dropped_and_everything_else_kept() -> None:
    event = _event(managedFields=[{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                   annotations={"a": "b"}, resourceVersion="7")
    assert watch_bodies.without_managed_fields(event) == {
        "type": "MODIFIED",
        "object": {"metadata": {"name": "cc-1", "annotations": {"a": "b"}, "resourceVersion": "7"},
                   "spec": {"vmSize": "S"}}}


def test_kopf_bookmarks_and_odd_events_pass_as_they_are() -> None:
    for event in (watching.Bookmark.LISTED, {"type": "BOOKMARK", "object": {"metadata": None}},
                  {"type": "ERROR", "object": "gone"}, _event()):
        assert watch_bodies.without_managed_fields(event) is event


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
