"""The DB-offset consumer against real Kafka and PostgreSQL: exactly-once application, retries, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from connect_runtime import offsets
from connect_runtime.db import Conn, ensure_database, open_pool
from connect_runtime.kafka import DEAD_LETTER_TOPIC, ensure_topics
from connect_runtime.offsets import OFFSETS_DDL, TransactionalConsumer
from connect_runtime.retry import RetryPolicy
from tests.kafka_records import read_topics
from tests.polling import until

pytestmark = pytest.mark.integration

FAST = RetryPolicy(initial_s=0.05, max_s=0.2, jitter_s=0.01)

APPLIED_DDL = "CREATE TABLE IF NOT EXISTS applied (topic text, partition int, record_offset bigint, value text)"


@pytest.fixture
async def pool(database_url: str, unique: str) -> AsyncIterator[asyncpg.Pool]:
    dsn = await ensure_database(database_url, f"rt_{unique}")
    pool = await open_pool(dsn, OFFSETS_DDL + APPLIED_DDL)
    yield pool
    await pool.close()


async def _topic(bootstrap: str, producer: AIOKafkaProducer, values: list[str]) -> str:
    topic = f"rt.{uuid4().hex[:10]}"
    await ensure_topics(bootstrap, 1, [topic])
    for value in values:
        await producer.send_and_wait(topic, value=value.encode(), key=b"k")
    return topic


async def _record(conn: Conn, record: Any) -> None:
    await conn.execute(
        "INSERT INTO applied VALUES ($1, $2, $3, $4)",
        record.topic,
        record.partition,
        record.offset,
        record.value.decode(),
    )


@contextlib.asynccontextmanager
async def _consuming(consumer: TransactionalConsumer) -> AsyncIterator[None]:
    task = asyncio.create_task(consumer.run())
    try:
        yield
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 15)


def _consumer(
    bootstrap: str, topic: str, pool: asyncpg.Pool, producer: AIOKafkaProducer, handler: offsets.Handler
) -> TransactionalConsumer:
    return TransactionalConsumer(
        bootstrap=bootstrap,
        group=f"g-{topic}",
        topics=[topic],
        pool=pool,
        handler=handler,
        dead_letters=producer,
        retry=FAST,
    )


async def _count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM applied"))


async def test_records_below_the_stored_offset_are_never_applied_again(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = await _topic(kafka_bootstrap, producer, [f"v{i}" for i in range(5)])
    await pool.execute("INSERT INTO consumer_offsets VALUES ($1, $2, 0, 3)", f"g-{topic}", topic)

    # As after a rebalance in mid-batch, or a listener whose database read failed: Kafka hands out records
    # from offset 0 although offsets 0..2 were applied. The offset-row fence must skip them.
    async def no_seek(self: object, assigned: object) -> None:
        return None

    monkeypatch.setattr(offsets._SeekToStored, "on_partitions_assigned", no_seek)
    async with _consuming(_consumer(kafka_bootstrap, topic, pool, producer, _record)):
        await until(lambda: _stored(pool, topic, 5))
    rows = await pool.fetch("SELECT record_offset FROM applied ORDER BY record_offset")
    assert [r["record_offset"] for r in rows] == [3, 4]


async def _stored(pool: asyncpg.Pool, topic: str, wanted: int) -> bool:
    stored = await pool.fetchval("SELECT next_offset FROM consumer_offsets WHERE topic = $1", topic)
    return stored == wanted


async def test_a_database_outage_is_retried_until_it_passes(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    topic = await _topic(kafka_bootstrap, producer, ["only"])
    failures = {"left": FAST.max_attempts + 2}  # more than the attempts a bad record gets

    async def flaky(conn: Conn, record: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        await _record(conn, record)

    async with _consuming(_consumer(kafka_bootstrap, topic, pool, producer, flaky)):
        await until(lambda: _stored(pool, topic, 1))
    assert await _count(pool) == 1
    assert await _dead_letters(kafka_bootstrap, topic) == []


async def test_a_record_that_keeps_failing_goes_to_the_dead_letter_topic(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    topic = await _topic(kafka_bootstrap, producer, ["poison", "fine"])

    async with _consuming(_consumer(kafka_bootstrap, topic, pool, producer, _picky)):
        await until(lambda: _stored(pool, topic, 2))
    assert [r["value"] for r in await pool.fetch("SELECT value FROM applied")] == ["fine"]
    assert await _dead_letters(kafka_bootstrap, topic) == [(b"poison", b"cannot read this record")]


async def _picky(conn: Conn, record: Any) -> None:
    if record.value == b"poison":
        raise ValueError("cannot read this record")
    await _record(conn, record)


class _BrokerAwayAtFirst:
    """The real producer, except that its first `failures` sends fail as if the broker were away."""

    def __init__(self, producer: AIOKafkaProducer, failures: int) -> None:
        self._producer = producer
        self._failures = failures
        self.attempts = 0

    async def send_and_wait(self, topic: str, **message: Any) -> Any:
        self.attempts += 1
        if self.attempts <= self._failures:
            raise KafkaConnectionError("broker unreachable")
        return await self._producer.send_and_wait(topic, **message)


async def test_a_dead_letter_that_cannot_be_sent_yet_is_retried_not_lost(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    topic = await _topic(kafka_bootstrap, producer, ["poison", "fine"])
    away = _BrokerAwayAtFirst(producer, failures=2)

    async with _consuming(_consumer(kafka_bootstrap, topic, pool, away, _picky)):
        await until(lambda: _stored(pool, topic, 2))
    assert away.attempts == 3
    assert await _dead_letters(kafka_bootstrap, topic) == [(b"poison", b"cannot read this record")]


async def _dead_letters(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    """Dead letters whose source is `topic`."""
    found = []
    for record in await read_topics(bootstrap, [DEAD_LETTER_TOPIC]):
        headers = dict(record.headers)
        if topic.encode() in headers["source"]:
            found.append((record.value, headers["error"]))
    return found


async def test_records_that_arrive_together_are_applied_in_one_transaction(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    topic = await _topic(kafka_bootstrap, producer, [f"v{i}" for i in range(20)])
    batches: list[int] = []

    async def many(conn: Conn, records: Sequence[Any]) -> None:
        batches.append(len(records))
        for record in records:
            await _record(conn, record)

    consumer = TransactionalConsumer(
        bootstrap=kafka_bootstrap,
        group=f"g-{topic}",
        topics=[topic],
        pool=pool,
        batch_handler=many,
        dead_letters=producer,
        retry=FAST,
    )
    async with _consuming(consumer):
        await until(lambda: _stored(pool, topic, 20))
    rows = await pool.fetch("SELECT record_offset FROM applied ORDER BY record_offset")
    assert [r["record_offset"] for r in rows] == list(range(20))
    assert sum(batches) == 20
    assert max(batches) > 1  # all were on the topic before the consumer started: they came in one fetch


async def test_a_bad_record_in_a_batch_is_dead_lettered_and_the_others_applied_once(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    values = [f"v{i}" for i in range(10)]
    values[6] = "poison"
    topic = await _topic(kafka_bootstrap, producer, values)
    consumer = TransactionalConsumer(
        bootstrap=kafka_bootstrap,
        group=f"g-{topic}",
        topics=[topic],
        pool=pool,
        batch_handler=offsets.one_by_one(_picky),
        dead_letters=producer,
        retry=FAST,
    )

    async with _consuming(consumer):
        await until(lambda: _stored(pool, topic, 10))
    rows = await pool.fetch("SELECT record_offset, value FROM applied ORDER BY record_offset")
    assert [(r["record_offset"], r["value"]) for r in rows] == [(i, v) for i, v in enumerate(values) if i != 6]
    assert await _dead_letters(kafka_bootstrap, topic) == [(b"poison", b"cannot read this record")]


def test_a_consumer_takes_exactly_one_handler(pool: asyncpg.Pool, producer: AIOKafkaProducer) -> None:
    with pytest.raises(TypeError, match="exactly one"):
        TransactionalConsumer(bootstrap="127.0.0.1:1", group="g", topics=["t"], pool=pool, dead_letters=producer)
