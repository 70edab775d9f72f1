"""The ticker ticks every interval (the heartbeat), with the progress only when it changed, and never fails
the run."""

from __future__ import annotations

import asyncio

from connect_runner.domain.run import Snapshot
from connect_runner.progress import Tracker, reporting


async def test_changes_are_reported_once_and_failures_are_ignored() -> None:
    tracker = Tracker()
    ticks: asyncio.Queue[Snapshot | None] = asyncio.Queue()
    calls = 0

    async def tick(snapshot: Snapshot | None) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database hiccup")
        ticks.put_nowait(snapshot)

    tracker.transferred(10, 100)
    async with reporting(tracker, tick, interval_s=0.01):
        # The first report failed; nothing changed since, so the next ticks only beat.
        assert [await ticks.get(), await ticks.get()] == [None, None]
        tracker.transferred(100, 100)
        tracker.loading(5000)
        reported = await ticks.get()
        while reported is None:  # ticks already on their way when the tracker changed
            reported = await ticks.get()
        after = await ticks.get()

    assert reported == Snapshot(stage="load", rows_read=5000, bytes_done=100, total_bytes=100)
    assert after is None  # reported once


async def test_the_ticker_stops_with_the_block() -> None:
    ticked = asyncio.Event()

    async def tick(snapshot: Snapshot | None) -> None:
        ticked.set()

    def tickers() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__name__", "") == "_tick"]

    async with reporting(Tracker(), tick, interval_s=0.01):
        await ticked.wait()
        assert len(tickers()) == 1

    assert tickers() == []  # finished, not merely cancelled: nothing ticks after the block
