"""Cooperative stop on real Kafka, PostgreSQL and sshd: stop requests go through the runner's stops consumer
into the ledger; the executing run sees them and ends stopped with the target unchanged. A stop recorded
before the final commit wins; one that comes after it (or while it commits) changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from connect_events import RunProgressed, RunStopped, RunStopRequested, encode
from connect_runner.entrypoints.stop_records import handle_stop_record
from connect_runtime.kafka import ensure_topics
from connect_runtime.offsets import TransactionalConsumer
from tests.integration.runner.runner_it import ANN, PEOPLE_HEADER, RunnerWorld, succeeded
from tests.polling import until
from tests.unit.runner.runner_builders import stop_request

pytestmark = pytest.mark.integration
BIG_ROWS = 600_000


@dataclass(frozen=True)
class Stops:
    """The runner's stops consumer on a topic of this test's own."""

    topic: str
    group: str
    producer: AIOKafkaProducer
    pool: asyncpg.Pool

    async def send(self, request: RunStopRequested) -> None:
        """Publish the stop request and wait until the consumer has handled it (its offset is stored)."""
        sent = await self.producer.send_and_wait(self.topic, encode(request), key=request.partition_key.encode())

        async def handled() -> bool:
            stored = await self.pool.fetchval(
                "SELECT next_offset FROM consumer_offsets WHERE consumer_group = $1 AND topic = $2",
                self.group,
                self.topic,
            )
            return stored is not None and stored > sent.offset

        await until(handled)


@pytest.fixture
async def stops(world: RunnerWorld, kafka_bootstrap: str, producer: AIOKafkaProducer) -> AsyncIterator[Stops]:
    topic, group = f"runner-stops-{world.unique}", f"runner-stops-{world.unique}"
    await ensure_topics(kafka_bootstrap, partitions=1, topics=[topic])
    consumer = TransactionalConsumer(
        bootstrap=kafka_bootstrap,
        group=group,
        topics=[topic],
        pool=world.pool,
        handler=partial(handle_stop_record, world.deps.ledger),
        dead_letters=producer,
    )
    task = asyncio.create_task(consumer.run())
    yield Stops(topic, group, producer, world.pool)
    consumer.stop()
    await task


def _big_people(rows: int, first_id: int) -> str:
    lines = [f"{first_id + i},n{i % 1000},{i % 100}.5,true,2024-01-{i % 28 + 1:02d},\n" for i in range(rows)]
    return PEOPLE_HEADER + "".join(lines)


def _now() -> datetime:
    return datetime.now(UTC)


def _loading(world: RunnerWorld, run_id: int) -> Callable[[], Awaitable[bool]]:
    """Whether the run has reported staged rows."""

    async def check() -> bool:
        return any(
            isinstance(e, RunProgressed) and e.payload.stage == "load" and e.payload.rows_read > 0
            for e in await world.events(run_id)
        )

    return check


async def test_a_stop_during_the_load_ends_it_stopped_and_leaves_the_table_unchanged(
    world: RunnerWorld, stops: Stops
) -> None:
    table = world.table()
    succeeded(await world.run(1, world.put("ann.csv", ANN), table))
    big = world.put("big.csv", _big_people(BIG_ROWS, first_id=1000))
    running = asyncio.create_task(world.run(2, big, table, write_mode="overwrite"))

    await until(_loading(world, 2), timeout_s=60)
    await stops.send(stop_request(world.job_id, 2, at=_now(), actor="ada"))
    event = await asyncio.wait_for(running, timeout=60)

    assert isinstance(event, RunStopped), f"the load committed before the stop was seen: raise BIG_ROWS ({event})"
    assert 0 < event.payload.counts.rows_read < BIG_ROWS
    assert (event.payload.counts.inserted, event.payload.counts.updated) == (0, 0)
    assert await world.names(table) == [(1, "Ann")]  # overwrite never happened
    assert await world.ledger_status(2) == "stopped"
    assert not await world.staging(2)
    emitted = await world.events(2)
    assert [e.type for e in emitted if e.type not in ("run.progressed", "run.logged")] == ["run.started", "run.stopped"]
    assert [e.aggregate_version for e in emitted] == list(range(2, 2 + len(emitted)))
    requested_at = await world.pool.fetchval(
        "SELECT requested_at FROM run_stops WHERE job_id = $1 AND run_id = 2", world.job_id
    )
    assert event.payload.finished_at - requested_at < timedelta(seconds=5)  # seen within about a second


async def test_a_stop_taken_before_the_request_ends_the_run_without_starting_it(
    world: RunnerWorld, stops: Stops
) -> None:
    table = world.table()
    await stops.send(stop_request(world.job_id, 1, at=_now()))

    event = await world.run(1, world.put("ann.csv", ANN), table)

    assert isinstance(event, RunStopped)
    assert [e.type for e in await world.events(1)] == ["run.stopped"]
    assert event.aggregate_version == 2
    assert await world.execute(world.request(1, "/nowhere.csv", table)) == event


async def test_a_stop_after_success_changes_nothing(
    world: RunnerWorld, stops: Stops, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connect_runner")
    table = world.table()
    done = succeeded(await world.run(1, world.put("ann.csv", ANN), table))

    await stops.send(stop_request(world.job_id, 1, at=_now()))

    assert await world.ledger_status(1) == "succeeded"
    assert await world.names(table) == [(1, "Ann")]
    assert await world.pool.fetchval("SELECT count(*) FROM run_stops WHERE job_id = $1", world.job_id) == 0
    assert "stop arrived after the load committed; the run stays succeeded" in caplog.messages
    assert [e.type for e in await world.events(1)][-1] == "run.succeeded"
    assert await world.execute(world.request(1, "/nowhere.csv", table)) == done


@pytest.fixture
async def held_table(world: RunnerWorld) -> AsyncIterator[tuple[Any, asyncio.Event]]:
    """The people table with one row, written to by another transaction until the test releases it."""
    table = world.table("held")
    succeeded(await world.run(1, world.put("ann.csv", ANN), table))
    release, holding = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with world.pool.acquire() as conn, conn.transaction():
            await conn.execute(f'LOCK TABLE custom."{table.name}" IN ROW EXCLUSIVE MODE')
            holding.set()
            await release.wait()

    task = asyncio.create_task(hold())
    await holding.wait()
    yield table, release
    release.set()
    await task


async def _waiting_for(pool: asyncpg.Pool, locktype: str) -> bool:
    """Whether some session waits for a lock of this type (`relation`: the table, `advisory`: a run's lock)."""
    return bool(await pool.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = $1", locktype))


async def test_a_stop_that_arrives_during_the_final_commit_is_kept_at_once_and_changes_nothing(
    world: RunnerWorld, stops: Stops, held_table: tuple[Any, asyncio.Event], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connect_runner")
    table, release = held_table
    running = asyncio.create_task(world.run(2, world.put("bob.csv", PEOPLE_HEADER + "2,Bob,,,,\n"), table))
    # The final transaction holds the run's lock and waits for the table.
    await until(lambda: _waiting_for(world.pool, "relation"))

    # The stops consumer handles it (its offset is stored) while the run's lock is still held.
    await stops.send(stop_request(world.job_id, 2, at=_now()))
    assert not running.done() and await _waiting_for(world.pool, "relation")
    kept = "SELECT count(*) FROM run_stops WHERE job_id = $1 AND run_id = 2"
    assert await world.pool.fetchval(kept, world.job_id) == 1
    release.set()
    event = await asyncio.wait_for(running, timeout=30)

    # The commit read the run before the stop was kept: the stop changes nothing.
    assert succeeded(event).payload.counts.inserted == 1
    assert await world.names(table) == [(1, "Ann"), (2, "Bob")]
    assert await world.ledger_status(2) == "succeeded"
    assert "stop recorded" in caplog.messages
