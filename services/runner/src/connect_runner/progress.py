"""Live progress and heartbeat: the run updates a tracker cheaply; a ticker reports it once a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

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

    def loading(self, rows_read: int) -> None:
        """Rows parsed and staged so far."""
        self._set(replace(self.snapshot, stage="load", rows_read=rows_read))

    def _set(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.changes += 1


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
