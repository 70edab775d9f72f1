"""The scheduler's view of runs: `connect.runs` consumed into `run_status` with the contract's transition table,
offsets stored with it; run-now refused while the job's run has not ended there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from connect_events import (
    RUNS_TOPIC,
    Event,
    RunProgressed,
    RunProgressedPayload,
    RunStatus,
    encode,
)
from connect_runtime.db import Conn
from connect_scheduler.adapters import run_view
from connect_scheduler.entrypoints.runs import on_run_record
from connect_scheduler.handlers import load_job
from tests.integration.scheduler.runs_consumer import runs_consumer
from tests.integration.scheduler.scheduler_commands import (
    T0,
    count,
    last_request,
    outbox,
    run_now,
    run_started,
    run_succeeded,
    stop_run,
)
from tests.integration.scheduler.test_scheduler_handlers import accept, given_active_job, reject
from tests.polling import until

pytestmark = pytest.mark.integration

STORED_OFFSET = "SELECT next_offset FROM consumer_offsets WHERE topic = $1"


def progressed(job_id: int, run_id: int) -> RunProgressed:
    payload = RunProgressedPayload(job_id=job_id, run_id=run_id, rows_read=10, bytes_transferred=100, stage="parsed")
    return RunProgressed(
        event_id=uuid4(),
        aggregate_id=f"{job_id}.{run_id}",
        aggregate_version=4,
        occurred_at=T0,
        actor="runner",
        correlation_id=uuid4(),
        payload=payload,
    )


class TestRunStatus:
    async def test_follows_the_transition_table(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        await accept(conn, run_now(job_id))
        request = await last_request(conn)

        moves = [
            await run_view.apply(conn, event)
            for event in (
                request,
                run_started(job_id, 1),
                progressed(job_id, 1),  # moves no status
                run_started(job_id, 1),  # a new attempt: running again
                run_succeeded(job_id, 1),
                request,  # a late duplicate of the request cannot reopen an ended run
                progressed(job_id, 1),
            )
        ]

        assert moves == [RunStatus.QUEUED, RunStatus.RUNNING, None, RunStatus.RUNNING, RunStatus.SUCCEEDED, None, None]
        assert await run_view.run_status(conn, job_id, 1) == RunStatus.SUCCEEDED

    async def test_the_last_requested_run_is_in_progress_until_it_ends(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        await accept(conn, run_now(job_id))
        state, _ = await load_job(conn, job_id)
        assert state is not None

        assert await run_view.run_in_progress(conn, state) == 1  # requested, not yet seen on connect.runs
        for event in (await last_request(conn), run_started(job_id, 1)):
            await run_view.apply(conn, event)
        assert await run_view.run_in_progress(conn, state) == 1
        await run_view.apply(conn, run_succeeded(job_id, 1))
        assert await run_view.run_in_progress(conn, state) is None

    async def test_an_end_seen_without_its_request_is_not_taken(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        await accept(conn, run_now(job_id))

        assert await run_view.apply(conn, run_succeeded(job_id, 1)) is None  # the table has no way from nothing
        assert await run_view.run_status(conn, job_id, 1) is None


class TestRunRecords:
    async def test_a_stop_request_on_the_topic_moves_no_status(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        await accept(conn, run_now(job_id))
        await accept(conn, stop_run(job_id, 1))
        stop = [e for _, _, e in await outbox(conn) if e.TOPIC == RUNS_TOPIC][-1]

        async with conn.transaction():
            await on_run_record(conn, record(encode(stop)))

        assert await run_view.run_status(conn, job_id, 1) is None

    @pytest.mark.parametrize("value", [None, b"not json", encode(run_now(1))], ids=["empty", "not JSON", "command"])
    async def test_a_record_that_is_no_run_event_raises_for_the_dead_letter_topic(
        self, conn: Conn, value: bytes | None
    ) -> None:
        with pytest.raises(ValueError):
            await on_run_record(conn, record(value))
        assert await count(conn, "run_status") == 0


def record(value: bytes | None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(RUNS_TOPIC, 0, 5, 0, 0, b"1", value, None, 3, len(value or b""), ())  # type: ignore[arg-type]


@pytest.fixture
async def runs_topic(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A fresh runs topic with the scheduler's runs consumer on it, stopped after the test."""
    async with runs_consumer(kafka_bootstrap, pool, producer, "sched.runs") as topic:
        yield topic, pool


async def test_run_now_waits_for_the_runs_end_on_kafka(
    conn: Conn, producer: AIOKafkaProducer, runs_topic: tuple[str, asyncpg.Pool]
) -> None:
    topic, pool = runs_topic
    job_id = await given_active_job(conn)
    await accept(conn, run_now(job_id))
    request = await last_request(conn)

    await send(producer, topic, request, run_started(job_id, 1))
    await until(lambda: offset_reached(pool, topic, 2))
    assert await run_view.run_status(conn, job_id, 1) == RunStatus.RUNNING
    refused = await reject(conn, run_now(job_id))

    await send(producer, topic, run_succeeded(job_id, 1))
    await until(lambda: offset_reached(pool, topic, 3))
    accepted = await accept(conn, run_now(job_id))

    assert (refused.payload.reason, refused.payload.message) == ("JOB_RUNNING", f"job {job_id} is running (run 1.1)")
    assert accepted.payload.run_id == 2


async def send(producer: AIOKafkaProducer, topic: str, *events: Event) -> None:
    for event in events:
        await producer.send_and_wait(topic, value=encode(event), key=event.partition_key.encode())


async def offset_reached(pool: asyncpg.Pool, topic: str, offset: int) -> bool:
    return bool(await pool.fetchval(STORED_OFFSET, topic) == offset)
