"""Listens to `connect.replies` and hands each reply to the request waiting for it.

Every gateway instance reads every partition (no consumer group) and keeps only the replies it waits for.
It starts at the end offsets read *before* it reports ready: a command sent afterwards can only be
answered at a later offset, so no reply is missed and no history is replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from connect_events import REPLIES_TOPIC, CommandAccepted, CommandRejected, decode
from connect_gateway.ports import Reply

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 1000


class ReplyListener:
    """Resolves one future per correlation id with the reply that carries it."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str = REPLIES_TOPIC) -> None:
        self._consumer = consumer
        self._topic = topic
        self._waiting: dict[UUID, asyncio.Future[Reply]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self, partitions: set[int]) -> None:
        """Assign all `partitions`, fix the positions at their current ends, then start listening."""
        await self._consumer.start()
        assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        # Let the default position reset finish first, so it cannot overwrite the seek below.
        for tp in assigned:
            await self._consumer.position(tp)
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(assigned)
        for tp, offset in ends.items():
            self._consumer.seek(tp, offset)
        self._task = asyncio.create_task(self._listen(), name="reply-listener")
        log.info("reply listener ready", extra={"positions": {tp.partition: o for tp, o in ends.items()}})

    async def stop(self) -> None:
        """Stop listening; requests still waiting get no reply (they answer 202 pending)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def ready(self) -> bool:
        """Whether positions are fixed and the listening task runs."""
        return self._task is not None and not self._task.done()

    def expect(self, correlation_id: UUID) -> asyncio.Future[Reply]:
        """A future for the reply to the command with `correlation_id`; register it before sending."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = future
        return future

    def forget(self, correlation_id: UUID) -> None:
        """Stop waiting for `correlation_id` (answered, timed out or abandoned)."""
        future = self._waiting.pop(correlation_id, None)
        if future is not None and not future.done():
            future.cancel()

    async def _listen(self) -> None:
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
                for records in batches.values():
                    for record in records:
                        self.dispatch(record.value)
        except Exception:
            # Readiness turns false, so the orchestrator restarts this instance; until then requests
            # answer 202 pending.
            log.exception("reply listener failed")

    def dispatch(self, value: bytes) -> None:
        """Resolve the future waiting for this reply, if this instance has one."""
        try:
            # Decoded as the replies contract whatever the topic is called (tests use their own topics).
            reply = decode(REPLIES_TOPIC, value)
        except ValidationError:
            log.warning("undecodable record on the replies topic skipped")
            return
        if not isinstance(reply, CommandAccepted | CommandRejected):
            return
        future = self._waiting.pop(reply.correlation_id, None)
        if future is not None and not future.done():
            future.set_result(reply)
