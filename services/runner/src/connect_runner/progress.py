"""Best-effort live progress: the run updates a tracker cheaply; a ticker publishes it at most once a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Snapshot:
    """Progress at one moment."""

    stage: str = "transfer"
    rows_read: int = 0
    bytes_done: int = 0
    total_bytes: int | None = None


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
async def reporting(
    tracker: Tracker, emit: Callable[[Snapshot], Awaitable[None]], interval_s: float = PROGRESS_INTERVAL_S
) -> AsyncIterator[None]:
    """Publish the tracker while the block runs; stopped before the terminal event so none follows it."""
    task = asyncio.create_task(_tick(tracker, emit, interval_s))
    try:
        yield
    finally:
        task.cancel()
        # wait() rather than awaiting the task: the ticker's CancelledError must not hide our own.
        await asyncio.wait({task})


async def _tick(tracker: Tracker, emit: Callable[[Snapshot], Awaitable[None]], interval_s: float) -> None:
    published = 0
    while True:
        await asyncio.sleep(interval_s)
        if tracker.changes == published:
            continue
        published = tracker.changes
        try:
            await emit(tracker.snapshot)
        except Exception as exc:  # progress is best-effort; the run goes on without it
            log.warning("progress not published", extra={"error": str(exc)})
