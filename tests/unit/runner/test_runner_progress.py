"""Progress is published at most once per interval, only when it changed, and never fails the run."""

from __future__ import annotations

import asyncio

from connect_runner.progress import Snapshot, Tracker, reporting


async def test_changes_are_published_once_per_interval_and_failures_are_ignored() -> None:
    tracker = Tracker()
    published: list[Snapshot] = []
    calls = 0

    async def emit(snapshot: Snapshot) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database hiccup")
        published.append(snapshot)

    async with reporting(tracker, emit, interval_s=0.01):
        tracker.transferred(10, 100)
        await asyncio.sleep(0.05)  # first publish fails; nothing changed since, so nothing is retried
        tracker.transferred(100, 100)
        tracker.loading(5000)
        await asyncio.sleep(0.05)

    assert published == [Snapshot(stage="load", rows_read=5000, bytes_done=100, total_bytes=100)]
    assert calls == 2


async def test_the_ticker_stops_with_the_block() -> None:
    tracker = Tracker()
    published: list[Snapshot] = []

    async def emit(snapshot: Snapshot) -> None:
        published.append(snapshot)

    async with reporting(tracker, emit, interval_s=0.01):
        pass
    tracker.loading(1)
    await asyncio.sleep(0.03)

    assert published == []
