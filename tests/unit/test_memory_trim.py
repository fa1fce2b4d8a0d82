"""The operator hands heap freed after a burst back to the system, and keeps start-up objects out of
the collector's way (handlers.memory)."""

from __future__ import annotations

import asyncio
import gc
import platform

import pytest

from aml_operator.handlers import memory

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


@glibc_only
def test_freed_heap_goes_back_to_the_system() -> None:
    # Blocks above pymalloc's 512-byte limit come from malloc; the last one, kept, pins the heap's top,
    # so glibc cannot give the freed ones back by itself: the case a burst of converging objects leaves.
    burst = [bytes(2048) + bytes([i % 256]) for i in range(20_000)]  # ~40 MiB
    pin = bytes(2048) + b"pin"
    del burst
    before = _rss_kib()
    assert memory.release_free_heap() is True
    after = _rss_kib()
    assert before - after > 20 * 1024, f"RSS {before} KiB before the trim, {after} KiB after"
    assert pin.endswith(b"pin")


@glibc_only
def test_the_trimmer_runs_until_cancelled() -> None:
    async def run() -> None:
        task = asyncio.create_task(memory.trim_periodically(interval=0.01))
        await asyncio.sleep(0.05)
        assert not task.done()  # still trimming, no error raised from the loop
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())


def test_objects_from_start_up_leave_the_collectors_generations() -> None:
    # What a collection walks is what gc.get_objects lists; frozen objects are no longer among them.
    from_start_up: list[object] = []
    before = gc.get_freeze_count()
    try:
        memory.freeze_startup_objects()
        later: list[object] = []
        assert gc.get_freeze_count() > before
        tracked = gc.get_objects()
        assert not any(obj is from_start_up for obj in tracked)
        assert any(obj is later for obj in tracked)
    finally:
        gc.unfreeze()
