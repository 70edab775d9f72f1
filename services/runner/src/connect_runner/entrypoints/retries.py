"""The retry poller: every `interval_s` each runner takes up the runs whose next attempt is due, in the slots
it has free (shared with the run consumer, `Slots`), and carries out each in a task of its own.

A run whose attempt failed transiently waits in the ledger, not in a consumer task: its request was committed,
and its partition and slot went on to other runs. The poller begins the next attempt once `retry_at` has come
(claimed with `FOR UPDATE SKIP LOCKED`, so runners polling at once never begin it twice), ends a waiting run
*Stopped* within one interval of its stop request, and begins a new attempt of a run whose poller-begun
attempt went silent (its runner died; no request would bring the run back). On SIGTERM its attempts get the
drain grace like the consumer's, then are cancelled: another runner's poller resumes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

from connect_runner.entrypoints.slots import Slots

log = logging.getLogger(__name__)

CANCEL_WAIT_S = 30.0

T = TypeVar("T")


class RetryPoller(Generic[T]):
    """Calls `take_up(free slots)` every `interval_s` and runs `carry_out(each)` holding one slot per item."""

    def __init__(
        self,
        take_up: Callable[[int], Awaitable[Sequence[T]]],
        carry_out: Callable[[T], Coroutine[Any, Any, object]],
        slots: Slots,
        interval_s: float,
        drain_grace_s: float = 60.0,
    ) -> None:
        self._take_up = take_up
        self._carry_out = carry_out
        self._slots = slots
        self._interval_s = interval_s
        self._drain_grace_s = drain_grace_s
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()

    def stop(self) -> None:
        """Take up nothing more; let running attempts finish within the grace period, then return from `run()`."""
        self._stopping.set()

    @property
    def running(self) -> int:
        """How many attempts it carries out now."""
        return len(self._tasks)

    async def poll_once(self) -> None:
        """One pass; a failure (the database is unreachable, say) is logged, never raised. Every free slot is
        taken while the pass claims, so the consumer cannot start a run in a slot the claim counted on."""
        free = self._slots.take(self._slots.free)
        taken: Sequence[T] = ()
        try:
            taken = await self._take_up(free)
        except Exception as exc:  # the next pass tries again; the runner must go on either way
            log.warning("retries not taken up; trying again later", extra={"error": str(exc)})
            return
        finally:  # cancelled too: the slots not carried out go back
            assert len(taken) <= free, "take_up keeps to its limit"
            self._slots.give_back(free - len(taken))
        for item in taken:
            task = asyncio.create_task(self._carry_out(item))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        self._slots.give_back()
        if not task.cancelled() and task.exception() is not None:
            # It recorded nothing (a newer attempt has the run, or the database was down): the run's next attempt
            # is begun by a poller once this one's silence is long enough.
            log.warning("retried attempt did not end", extra={"error": str(task.exception())})

    async def run(self) -> None:
        """A pass every interval until stopped, then drain."""
        try:
            while not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self._interval_s)
                if not self._stopping.is_set():
                    await self.poll_once()
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=self._drain_grace_s)
        finally:
            await self._cancel()

    async def _cancel(self) -> None:
        """Cancel the attempts still running and wait for them to roll back."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            log.warning("retried attempts cancelled", extra={"count": len(tasks)})
            await asyncio.wait(tasks, timeout=CANCEL_WAIT_S)
