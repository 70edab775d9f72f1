"""Cooperative stop: an attempt that learns it must stop (a stop was requested, or its run was ended by the
reaper) ends its work at once, wherever it is: in a transfer, a COPY or a long check.

`StopScope` does for a stop what `asyncio.timeout` does for a deadline: the ticker calls `stop()`, which
cancels the block, and the block raises `StopRequested` instead of the cancellation. A cancellation from
outside (a rebalance, shutdown) stays a cancellation.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any


class StopRequested(Exception):
    """The attempt must stop working: a stop was requested, or the run already ended elsewhere."""


class StopScope:
    """Turns `stop()`, called from another task, into `StopRequested` raised from the `async with` block."""

    def __init__(self) -> None:
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0
        self.stopping = False

    async def __aenter__(self) -> StopScope:
        task = asyncio.current_task()
        assert task is not None, "a stop scope guards a task"
        self._task, self._cancelling = task, task.cancelling()
        return self

    def stop(self) -> None:
        """Interrupt the block (once); it raises `StopRequested`."""
        if self._task is None or self.stopping:
            return
        self.stopping = True
        self._task.cancel()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.stopping:
            return
        assert self._task is not None
        cancelled_from_outside = self._task.uncancel() > self._cancelling
        if exc_type is asyncio.CancelledError and cancelled_from_outside:
            return
        if isinstance(exc, StopRequested):
            return
        # Whatever the interrupted step raised (a library may turn a cancellation into its own error), the
        # stop caused it: the attempt ends stopped, not failed.
        raise StopRequested from exc
