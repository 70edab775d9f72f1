"""The ticker ticks every interval (the heartbeat), with the progress only when it changed, and never fails
the run. The execution log keeps its entries until a transaction records them, and gets them back when it
fails; the validated entry groups rejects by reason."""

from __future__ import annotations

import asyncio

import pytest

from connect_runner.domain.events import LogEntry
from connect_runner.domain.rejects import RejectReason
from connect_runner.domain.run import Snapshot
from connect_runner.pipeline import rejects_message
from connect_runner.progress import Journal, Tracker, reporting


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


def test_the_journal_hands_each_entry_to_one_transaction() -> None:
    journal = Journal("42.7")
    journal.add("parsed", "parsed 2 data rows", rows=2)

    with journal.taking() as first, journal.taking() as second:  # e.g. the ticker's beat and a checkpoint's
        journal.add("validated", "no rows rejected")
    with journal.taking() as third:
        pass

    assert first == [LogEntry("parsed", "parsed 2 data rows", details={"rows": 2})]
    assert second == []
    assert third == [LogEntry("validated", "no rows rejected")]


def test_entries_of_a_failed_transaction_come_back_ahead_of_newer_ones() -> None:
    journal = Journal("42.7")
    journal.add("file_found", "found 'in/a.csv' (10 bytes)")

    with pytest.raises(ConnectionError), journal.taking():
        journal.add("parsed", "parsed 1 data row")
        raise ConnectionError("database gone")
    with journal.taking() as again:
        pass

    assert [e.stage for e in again] == ["file_found", "parsed"]


def test_an_entry_for_the_callers_own_transaction_is_not_kept() -> None:
    journal = Journal("42.7")

    entry = journal.entry("archived", "'in/a.csv' was not archived", level="WARN")

    assert entry.level == "WARN"
    with journal.taking() as kept:
        assert kept == []


@pytest.mark.parametrize(
    ("reasons", "message"),
    [
        ([], "no rows rejected"),
        ([RejectReason.INVALID_DATE], "1 row rejected: INVALID_DATE 1"),
        (
            [RejectReason.VALUE_TOO_LONG] * 9 + [RejectReason.INVALID_DATE] * 3,
            "12 rows rejected: INVALID_DATE 3, VALUE_TOO_LONG 9",
        ),
    ],
)
def test_rejects_are_grouped_by_reason(reasons: list[RejectReason], message: str) -> None:
    assert rejects_message(reasons) == message
