"""The bodies kopf keeps of the objects it watches, without ``metadata.managedFields``.

The operator keeps the last body of every compute (the index its looks read) and of every Workspace. A
ComputeCluster's body is 4.3 KB of JSON, 2.0 KB of it ``managedFields`` (the server-side apply
bookkeeping of every field each writer set: a small dict per field); decoded, that is 21 KB a body,
8.8 KB without it. The API server cannot be asked to leave it out of a watch, and nothing in the
operator reads it (kopf keeps its own bookkeeping in annotations, and patches by merge), so it is
dropped from every watch event before kopf sees it. kopf has no hook there: its one caller of the
watch stream (``queueing.watcher``) is given a stream that drops the field; ``install`` fails at
start-up, not silently, if a kopf version has moved that seam (and a test reads kopf's source).

Each decoded body also has its own copy of every key ("lastTransitionTime", "observedGeneration" …)
and of every short value ("True", "Succeeded", "ws-ml"): the JSON decoder shares strings only within
one document. Thousands of bodies of one kind repeat the same few hundred strings, so they are
interned as they arrive: a Ready ComputeCluster's kept body falls from 9.0 KB to 3.9 KB (1,000 decoded
under tracemalloc). Longer values (ids, messages, the last-handled configuration) are rarely shared
and stay as they are.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from kopf._cogs.clients import watching
from kopf._core.reactor import queueing

_ORIGINAL: Callable[..., AsyncIterator[Any]] = watching.infinite_watch


SHARED_VALUE_LENGTH = 40
"""Strings up to this long are interned: names, reasons, states and timestamps, not ids or messages."""


def slimmed(event: Any) -> Any:
    """A watch event with its object's ``managedFields`` dropped and its strings shared with every other
    body's; anything else (kopf's bookmarks) as is."""
    if isinstance(event, dict):
        obj = event.get("object")
        if isinstance(obj, dict):
            metadata = obj.get("metadata")
            if isinstance(metadata, dict):
                metadata.pop("managedFields", None)
            event["object"] = shared(obj)
    return event


def shared(value: Any) -> Any:
    """``value`` rebuilt with its keys and short strings interned."""
    if isinstance(value, dict):
        return {sys.intern(key) if isinstance(key, str) else key: shared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shared(item) for item in value]
    if isinstance(value, str) and len(value) <= SHARED_VALUE_LENGTH:
        return sys.intern(value)
    return value


async def _slim_watch(**kwargs: Any) -> AsyncIterator[Any]:
    async for event in _ORIGINAL(**kwargs):
        yield slimmed(event)


def install() -> None:
    """Once, before kopf starts watching."""
    if getattr(queueing, "watching", None) is not watching or not inspect.isasyncgenfunction(_ORIGINAL):
        raise RuntimeError("this kopf version no longer watches through watching.infinite_watch: "
                           "aml_operator.handlers.watch_bodies must follow it")
    watching.infinite_watch = _slim_watch
