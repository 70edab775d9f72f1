"""Live progress and heartbeat: the run updates a tracker cheaply; a ticker reports it once a second. And the
attempt's execution log, which the ledger records with the next report (or the attempt's end)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace

from connect_events import LogLevel
from connect_runner.domain.events import LogEntry
from connect_runner.domain.run import Snapshot

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.0

Tick = Callable[[Snapshot | None], Awaitable[None]]
"""Called every interval with the progress, or None when nothing changed since the last report."""


class Tracker:
    """Mutable progress of one attempt; updates are synchronous and cheap (called per batch or chunk)."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()
        self.changes = 0

    def transferred(self, done: int, total: int | None) -> None:
        """Bytes of the source file downloaded so far."""
        self._set(replace(self.snapshot, stage="transfer", bytes_done=done, total_bytes=total))

    def exporting(self, rows: int, written: int) -> None:
        """Rows of an export and bytes of its file written so far."""
        self._set(replace(self.snapshot, stage="transfer", rows_read=rows, bytes_done=written, total_bytes=None))

    def loading(self, rows_read: int) -> None:
        """Rows parsed and staged so far."""
        self._set(replace(self.snapshot, stage="load", rows_read=rows_read))

    def _set(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.changes += 1


class Journal:
    """The attempt's execution log: an entry as each stage ends, logged for operators at once (with the stage's
    duration) and kept until a ledger transaction records it as `run.logged`."""

    def __init__(self, run: str) -> None:
        self._run = run
        self._pending: list[LogEntry] = []
        self._last = time.monotonic()

    def add(self, stage: str, message: str, *, level: LogLevel = "INFO", **details: int | str) -> None:
        """A stage ended: keep its entry for the next recording."""
        self._pending.append(self.entry(stage, message, level=level, **details))

    def entry(self, stage: str, message: str, *, level: LogLevel = "INFO", **details: int | str) -> LogEntry:
        """A stage ended: its entry, logged for operators but not kept (the caller records it itself)."""
        now = time.monotonic()
        extra = {"run": self._run, "stage": stage, "duration_ms": round((now - self._last) * 1000), **details}
        log.log(logging.WARNING if level == "WARN" else logging.INFO, message, extra=extra)
        self._last = now
        return LogEntry(stage, message, level, dict(details))

    @contextlib.contextmanager
    def taking(self) -> Iterator[list[LogEntry]]:
        """The entries kept so far, handed to one transaction; given back (ahead of newer ones) when it fails.
        Taken at once, so two recordings at the same time (the ticker's and a checkpoint's) never share one."""
        taken, self._pending = self._pending, []
        try:
            yield list(taken)
        except BaseException:
            self._pending[:0] = taken
            raise


@contextlib.asynccontextmanager
async def reporting(tracker: Tracker, tick: Tick, interval_s: float = PROGRESS_INTERVAL_S) -> AsyncIterator[None]:
    """Tick while the block runs; stopped before the terminal event so no progress follows it."""
    task = asyncio.create_task(_tick(tracker, tick, interval_s))
    try:
        yield
    finally:
        task.cancel()
        # wait() rather than awaiting the task: the ticker's CancelledError must not hide our own.
        await asyncio.wait({task})


async def _tick(tracker: Tracker, tick: Tick, interval_s: float) -> None:
    reported = 0
    while True:
        await asyncio.sleep(interval_s)
        changes = tracker.changes
        try:
            await tick(tracker.snapshot if changes != reported else None)
        except Exception as exc:  # best-effort: a missed tick is made up by the next one
            log.warning("progress not reported", extra={"error": str(exc)})
        reported = changes  # a failed report is not retried: the next change is reported instead
