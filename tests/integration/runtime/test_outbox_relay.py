"""The outbox relay against real Kafka and PostgreSQL: order, deletion, surviving a lost connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from connect_events import RUNS_TOPIC, RunStarted, RunStartedPayload, decode
from connect_runtime import outbox
from connect_runtime.db import ensure_database, open_pool
from connect_runtime.kafka import ensure_topics, make_producer
from connect_runtime.outbox import OUTBOX_DDL, RELAY_APPLICATION_NAME, OutboxRelay
from tests.kafka_records import read_topics

pytestmark = pytest.mark.integration


def _started(job_id: int, attempt: int) -> RunStarted:
    return RunStarted(
        event_id=uuid4(),
        aggregate_id=f"{job_id}.1",
        aggregate_version=attempt + 1,
        occurred_at=datetime.now(UTC),
        actor="runner",
        correlation_id=uuid4(),
        payload=RunStartedPayload(job_id=job_id, run_id=1, attempt=attempt, runner="r", started_at=datetime.now(UTC)),
    )


@pytest.fixture
async def relay_db(database_url: str, unique: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    dsn = await ensure_database(database_url, f"relay_{unique}")
    pool = await open_pool(dsn, OUTBOX_DDL)
    yield dsn, pool
    await pool.close()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    await ensure_topics(kafka_bootstrap, 3)
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    yield producer
    await producer.stop()


async def _append(pool: asyncpg.Pool, events: list[RunStarted]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await outbox.append(conn, events)


async def _published(bootstrap: str, job_id: int) -> list[int]:
    events = [decode(RUNS_TOPIC, r.value) for r in await read_topics(bootstrap, [RUNS_TOPIC])]
    return [e.payload.attempt for e in events if isinstance(e, RunStarted) and e.payload.job_id == job_id]


async def _drained(pool: asyncpg.Pool, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while await pool.fetchval("SELECT count(*) FROM outbox"):
        assert time.monotonic() < deadline, "the outbox was not drained"
        await asyncio.sleep(0.05)


async def test_relay_publishes_in_order_and_survives_a_lost_connection(
    kafka_bootstrap: str, relay_db: tuple[str, asyncpg.Pool], producer: AIOKafkaProducer
) -> None:
    dsn, pool = relay_db
    job_id = int(uuid4().int % 10**12)
    relay = OutboxRelay(dsn, producer)
    task = asyncio.create_task(relay.run())
    try:
        await _append(pool, [_started(job_id, a) for a in (1, 2, 3)])
        await _drained(pool)
        # Kill the relay's database session: it must reconnect and carry on, not die.
        killed = await pool.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = $1",
            RELAY_APPLICATION_NAME,
        )
        assert killed == 1
        await _append(pool, [_started(job_id, a) for a in (4, 5)])
        await _drained(pool)
        assert not task.done()
    finally:
        relay.stop()
        await asyncio.wait_for(task, 15)
    assert await _published(kafka_bootstrap, job_id) == [1, 2, 3, 4, 5]
