"""The command bus and reply listener against real Kafka, answered by a fake scheduler."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer

from connect_events import (
    ActivateJob,
    CommandAccepted,
    CommandRejected,
    FieldError,
    JobCommandPayload,
    RunJobNow,
    RunJobNowPayload,
    encode,
)
from connect_gateway.adapters.command_bus import KafkaCommandBus
from connect_gateway.adapters.replies import ReplyListener
from connect_runtime.kafka import make_consumer
from tests.integration.gateway.gateway_it import FakeScheduler
from tests.unit.gateway.gateway_fakes import accepted, rejected

pytestmark = pytest.mark.integration
REPLY_WAIT_S = 10.0


def activate(job_id: int) -> ActivateJob:
    return ActivateJob(
        command_id=uuid4(),
        correlation_id=uuid4(),
        issued_at=datetime.now(UTC),
        actor="it",
        payload=JobCommandPayload(job_id=job_id),
    )


async def test_an_accepted_command_resolves_with_its_reply(bus: KafkaCommandBus, scheduler: FakeScheduler) -> None:
    scheduler.decide = lambda c: accepted(c, target_id="77", version=3)
    command = activate(77)
    reply = await bus.submit(command, REPLY_WAIT_S)
    assert isinstance(reply, CommandAccepted)
    assert reply.payload.command_id == command.command_id
    assert (reply.payload.target_id, reply.payload.target_version) == ("77", 3)
    assert scheduler.keys[-1] == b"77"  # keyed by the job, so one job's commands stay in order


async def test_a_rejected_command_resolves_with_the_field_errors(
    bus: KafkaCommandBus, scheduler: FakeScheduler
) -> None:
    errors = (FieldError(field="settings.table", message="no such table"),)
    scheduler.decide = lambda c: rejected(c, "validation", "1 error", errors)
    reply = await bus.submit(activate(5), REPLY_WAIT_S)
    assert isinstance(reply, CommandRejected)
    assert reply.payload.errors == errors


async def test_no_reply_in_time_is_none(bus: KafkaCommandBus, scheduler: FakeScheduler) -> None:
    scheduler.decide = lambda c: None
    command = activate(6)
    assert await bus.submit(command, 1.0) is None
    assert command.command_id in {c.command_id for c in scheduler.received}  # it was sent


async def test_concurrent_commands_each_get_their_own_reply(bus: KafkaCommandBus, scheduler: FakeScheduler) -> None:
    scheduler.decide = lambda c: accepted(c, target_id=str(c.payload.job_id), run_id=c.payload.job_id * 10)  # type: ignore[attr-defined]
    commands = [
        RunJobNow(
            command_id=uuid4(),
            correlation_id=uuid4(),
            issued_at=datetime.now(UTC),
            actor="it",
            payload=RunJobNowPayload(job_id=job_id),
        )
        for job_id in range(1, 31)
    ]
    replies = await asyncio.gather(*(bus.submit(c, REPLY_WAIT_S) for c in commands))
    for command, reply in zip(commands, replies, strict=True):
        assert isinstance(reply, CommandAccepted)
        assert reply.correlation_id == command.correlation_id
        assert reply.payload.run_id == command.payload.job_id * 10


async def test_the_listener_starts_at_the_end_of_the_replies_topic(
    kafka_bootstrap: str, producer: AIOKafkaProducer, topics: tuple[str, str], bus: KafkaCommandBus
) -> None:
    replies_topic = topics[1]
    old_command, new_command = activate(8), activate(9)
    # A reply already on the topic before the listener starts must not be replayed to it ...
    await producer.send_and_wait(replies_topic, encode(accepted(old_command)), key=b"8")
    listener = ReplyListener(make_consumer(kafka_bootstrap, None), topic=replies_topic)
    await listener.start(await producer.partitions_for(replies_topic))
    try:
        assert listener.ready()
        old = listener.expect(old_command.correlation_id)
        new = listener.expect(new_command.correlation_id)
        # ... while one produced right after `start` returned is seen, whatever partition it lands on.
        await producer.send_and_wait(replies_topic, encode(accepted(new_command)), key=b"9")
        reply = await asyncio.wait_for(new, REPLY_WAIT_S)
        assert reply.correlation_id == new_command.correlation_id
        await asyncio.sleep(1.0)
        assert not old.done()
    finally:
        await listener.stop()
    assert not listener.ready()


async def test_undecodable_records_are_skipped(
    producer: AIOKafkaProducer, topics: tuple[str, str], bus: KafkaCommandBus, scheduler: FakeScheduler
) -> None:
    await producer.send_and_wait(topics[1], b"not json", key=b"x")
    reply = await bus.submit(activate(10), REPLY_WAIT_S)
    assert isinstance(reply, CommandAccepted)
    assert bus.ready()
