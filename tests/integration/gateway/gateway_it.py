"""A fake scheduler for the gateway's integration tests: it answers commands on Kafka like the real one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import uuid4

from aiokafka import AIOKafkaProducer, TopicPartition

from connect_events import (
    COMMANDS_TOPIC,
    Command,
    CommandAccepted,
    CommandAcceptedPayload,
    CommandRejected,
    CommandRejectedPayload,
    FieldError,
    RejectionCode,
    decode,
    encode,
)
from connect_gateway.ports import Reply
from connect_runtime.kafka import make_consumer


def accept(command: Command, target_id: str = "1", version: int = 1, run_id: int | None = None) -> Reply:
    """An acceptance of `command`, as the scheduler writes it."""
    return CommandAccepted(
        event_id=uuid4(),
        aggregate_id=str(command.command_id),
        aggregate_version=1,
        occurred_at=datetime.now(UTC),
        actor=command.actor,
        correlation_id=command.correlation_id,
        causation_id=command.command_id,
        payload=CommandAcceptedPayload(
            command_id=command.command_id,
            command_type=getattr(command, "type"),  # noqa: B009 - every concrete command has one
            target_type="job",
            target_id=target_id,
            target_version=version,
            run_id=run_id,
        ),
    )


def reject(command: Command, code: RejectionCode, message: str, errors: tuple[FieldError, ...] = ()) -> Reply:
    """A refusal of `command`."""
    return CommandRejected(
        event_id=uuid4(),
        aggregate_id=str(command.command_id),
        aggregate_version=1,
        occurred_at=datetime.now(UTC),
        actor=command.actor,
        correlation_id=command.correlation_id,
        causation_id=command.command_id,
        payload=CommandRejectedPayload(
            command_id=command.command_id,
            command_type=getattr(command, "type"),  # noqa: B009
            code=code,
            message=message,
            errors=errors,
        ),
    )


@dataclass
class FakeScheduler:
    """Consumes the commands topic and produces `decide(command)` (None: stays silent) on the replies topic."""

    bootstrap: str
    producer: AIOKafkaProducer
    commands_topic: str
    replies_topic: str
    decide: Callable[[Command], Reply | None] = accept
    received: list[Command] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = make_consumer(self.bootstrap, None)
        await consumer.start()
        partitions = await self.producer.partitions_for(self.commands_topic)
        consumer.assign([TopicPartition(self.commands_topic, p) for p in partitions])
        self._task = asyncio.create_task(self._serve(consumer))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _serve(self, consumer: object) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)  # type: ignore[attr-defined]
                for records in batches.values():
                    for record in records:
                        await self._answer(record.key, record.value)
        finally:
            await consumer.stop()  # type: ignore[attr-defined]

    async def _answer(self, key: bytes, value: bytes) -> None:
        command = decode(COMMANDS_TOPIC, value)
        assert isinstance(command, Command)
        self.received.append(command)
        self.keys.append(key)
        reply = self.decide(command)
        if reply is not None:
            await self.producer.send_and_wait(self.replies_topic, encode(reply), key=key)
