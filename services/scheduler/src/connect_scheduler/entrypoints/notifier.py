"""The delivery loop: every scheduler instance runs a notifier that sends the notifications that are due.

A round claims a batch of due deliveries (`adapters/notifications.py`: skipped when another instance holds
them, each counted as an attempt and leased), sends them concurrently outside any transaction, and records
each outcome. A failed attempt is tried again after the back-off of `DELIVERY_RETRY` (the project's retry
policy, ADR 0006, with a receiver's numbers) until its attempts are used up; a refusal that no retry can
change (a 4xx answer, a 5xx SMTP reply other than an authentication refusal) and the last failed attempt mark
the delivery failed, with a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

import asyncpg

from connect_runtime.db import Conn
from connect_runtime.retry import INFRASTRUCTURE_ERRORS, Retries, RetryPolicy
from connect_scheduler.adapters import notifications
from connect_scheduler.adapters.notifications import Delivery
from connect_scheduler.domain.notifications import Attempt, Channel, next_step
from connect_scheduler.entrypoints.ticker import Clock, utc_now

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 2.0  # the pause after a round that found less than a full batch
BATCH_SIZE = 20  # deliveries claimed and sent together per round
SEND_DEADLINE_S = 120.0  # no send takes longer, whatever its receiver does; well inside the claim's lease
# A receiver's outage lasts minutes, not the instants our own infrastructure's do: 8 tries over about 20
# minutes, waits from 10 s doubling to at most 10 min, jittered so that deliveries to one receiver spread out.
DELIVERY_RETRY = RetryPolicy(initial_s=10.0, max_s=600.0, jitter_s=5.0, max_attempts=8)

Sender = Callable[[Delivery], Awaitable[Attempt]]


class Notifier:
    """Sends due deliveries until `stop()`: at once again after a full batch, else when the next one is due,
    at most `interval_s` later."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        senders: Mapping[Channel, Sender],
        *,
        interval_s: float = POLL_INTERVAL_S,
        batch_size: int = BATCH_SIZE,
        retry: RetryPolicy = DELIVERY_RETRY,
        clock: Clock = utc_now,
    ) -> None:
        self._pool = pool
        self._senders = senders
        self._interval_s = interval_s
        self._batch_size = batch_size
        self._retry = retry
        self._clock = clock
        self._stopping = asyncio.Event()
        self._retries = Retries(self._stopping)

    def stop(self) -> None:
        """Finish the current round and return; deliveries it did not record are sent again after their lease."""
        self._stopping.set()

    async def run(self) -> None:
        """Deliver until stopped; a lost database connection is retried, never fatal."""
        while not self._stopping.is_set():
            await self._retries.transient(
                self._step, "scheduler notifier interrupted; trying again", errors=INFRASTRUCTURE_ERRORS
            )

    async def _step(self) -> None:
        if await self.deliver_due() == self._batch_size:
            return
        async with self._pool.acquire() as conn:
            pause_s = self._pause_s(await notifications.next_due(conn))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=pause_s)

    async def deliver_due(self) -> int:
        """One round: claim, send and record the due deliveries; returns how many were claimed."""
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await notifications.claim(conn, self._clock(), self._batch_size)
        if not claimed:
            return 0
        attempts = await asyncio.gather(*(self._send(delivery) for delivery in claimed))
        async with self._pool.acquire() as conn, conn.transaction():
            for delivery, attempt in zip(claimed, attempts, strict=True):
                await self._record(conn, delivery, attempt)
        return len(claimed)

    async def _send(self, delivery: Delivery) -> Attempt:
        """One attempt; a sender's bug counts as a failed attempt (bounded like any), never stops the loop."""
        try:
            async with asyncio.timeout(SEND_DEADLINE_S):
                return await self._senders[delivery.channel](delivery)
        except TimeoutError:
            return Attempt(problem=f"sending took longer than {SEND_DEADLINE_S:g} s")
        except Exception:
            log.exception("notification sender failed unexpectedly", extra=_fields(delivery))
            return Attempt(problem="an unexpected error occurred while sending")

    async def _record(self, conn: Conn, delivery: Delivery, attempt: Attempt) -> None:
        now = self._clock()
        step = next_step(attempt, delivery.attempt, self._retry.max_attempts)
        if step == "delivered":
            await notifications.mark_delivered(conn, delivery, now)
            log.info("notification delivered", extra=_fields(delivery))
            return
        problem = attempt.problem or ""
        fields = {**_fields(delivery), "error": problem}
        if step == "retry":
            wait_s = self._retry.backoff_s(delivery.attempt)
            await notifications.retry_at(conn, delivery, now + timedelta(seconds=wait_s), problem)
            log.warning("notification not delivered; trying again", extra={**fields, "wait_s": wait_s})
        else:
            await notifications.mark_failed(conn, delivery, now, problem)
            log.error("notification failed; giving up", extra=fields)

    def _pause_s(self, next_due: datetime | None) -> float:
        """Until the next delivery is due, but at most `interval_s` (which also catches rows whose lease ran
        out, and rows another instance holds)."""
        if next_due is None:
            return self._interval_s
        ahead_s = (next_due - self._clock()).total_seconds()
        return min(ahead_s, self._interval_s) if ahead_s > 0 else self._interval_s


def _fields(delivery: Delivery) -> dict[str, object]:
    """Log fields of a delivery: never its target (addresses are personal, a webhook URL may hold a token)."""
    return {
        "delivery_id": str(delivery.delivery_id),
        "run": delivery.notice.run,
        "channel": delivery.channel,
        "attempt": delivery.attempt,
    }
