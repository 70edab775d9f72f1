"""The scheduler's clock against PostgreSQL (and Kafka): fires on time, skip-if-running, catch-up, expiration,
two instances sharing one database, and the due row following every change to a job."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from connect_events import (
    RUNS_TOPIC,
    ActivateJob,
    CommandAccepted,
    Cron,
    DeactivateJob,
    DeleteJob,
    Event,
    JobDeleted,
    RunCounts,
    RunEndedPayload,
    RunRequested,
    RunSkipped,
    RunStarted,
    RunStartedPayload,
    RunSucceeded,
    Schedule,
    decode,
    run_key,
)
from connect_runtime.db import Conn
from connect_runtime.kafka import ensure_topics, make_producer
from connect_runtime.outbox import OutboxRelay
from connect_scheduler.adapters import due, event_store, job_names, run_view
from connect_scheduler.adapters.event_store import job_stream
from connect_scheduler.adapters.targets import Targets
from connect_scheduler.domain.slots import Due, Slot
from connect_scheduler.entrypoints.ticker import JOBS, Ticker, tick
from connect_scheduler.handlers import handle_command
from tests.integration.scheduler.scheduler_commands import (
    create_job,
    define_table,
    definition,
    job_command,
    outbox,
    run_now,
)
from tests.kafka_records import read_topics
from tests.polling import until

pytestmark = pytest.mark.integration

T = datetime(2030, 1, 7, 9, 0, 30, tzinfo=UTC)  # half a minute before a whole minute
EVERY_MINUTE = Cron(expression="* * * * *")
MINUTE = timedelta(minutes=1)
ROW = "SELECT fire_at, due_at, expires_at FROM job_schedules WHERE job_id = $1"


async def accept(conn: Conn, command: Any, now: datetime) -> CommandAccepted:
    async with conn.transaction():
        reply = await handle_command(conn, command, now)
    assert isinstance(reply, CommandAccepted), reply
    return reply


async def given_job(
    conn: Conn,
    now: datetime,
    schedule: Schedule = EVERY_MINUTE,
    name: str = "Nightly customers",
    *,
    activate: bool = True,
    **changes: Any,
) -> int:
    """A job on table Customers (defined when missing) created, and activated unless told not to, at `now`."""
    if await Targets(conn).table_spec("Customers") is None:
        await accept(conn, define_table(), now)
    job = definition(name).model_copy(update={"schedule": schedule, **changes})
    reply = await accept(conn, create_job(job, activate=activate), now)
    return int(reply.payload.target_id)


async def stream(conn: Conn, job_id: int) -> list[Event]:
    events, _ = await event_store.load(conn, job_stream(job_id))
    return events


async def row(conn: Conn, job_id: int) -> tuple[datetime | None, ...] | None:
    found = await conn.fetchrow(ROW, job_id)
    return None if found is None else tuple(found)


async def succeeded(conn: Conn, requested: RunRequested, at: datetime) -> None:
    """The run's events on `connect.runs` up to `run.succeeded`, as the scheduler's runs consumer applies them."""
    job_id, run_id = requested.payload.job_id, requested.payload.run_id
    envelope: dict[str, Any] = {"aggregate_id": run_key(job_id, run_id), "occurred_at": at, "actor": "runner"}
    started = RunStartedPayload(job_id=job_id, run_id=run_id, attempt=1, runner="r", started_at=at)
    ended = RunEndedPayload(job_id=job_id, run_id=run_id, counts=RunCounts(), started_at=at, finished_at=at)
    async with conn.transaction():
        for event in (
            requested,
            RunStarted(**envelope, event_id=uuid4(), aggregate_version=2, correlation_id=uuid4(), payload=started),
            RunSucceeded(**envelope, event_id=uuid4(), aggregate_version=3, correlation_id=uuid4(), payload=ended),
        ):
            await run_view.apply(conn, event)


class TestFires:
    async def test_a_cron_fire_requests_its_run_on_kafka_on_time(
        self, conn: Conn, pool: asyncpg.Pool, scheduler_dsn: str, kafka_bootstrap: str, unique: str
    ) -> None:
        real = datetime.now(UTC)
        fire = (real + 2 * MINUTE).replace(second=0, microsecond=0)
        shift = fire - (real + timedelta(seconds=2))  # the ticker's clock reaches the fire two seconds from now
        clock: Callable[[], datetime] = lambda: datetime.now(UTC) + shift  # noqa: E731
        name = f"On time {unique}"
        job_id = await given_job(conn, clock(), name=name)
        assert await row(conn, job_id) == (fire, fire, None)
        await ensure_topics(kafka_bootstrap, 3)
        producer = make_producer(kafka_bootstrap)
        await producer.start()
        ticker, relay = Ticker(pool, interval_s=0.1, clock=clock), OutboxRelay(scheduler_dsn, producer)
        tasks = [asyncio.create_task(ticker.run()), asyncio.create_task(relay.run())]
        try:
            found: list[tuple[Any, RunRequested]] = []

            async def published() -> bool:
                found[:] = [
                    (r, e)
                    for r in await read_topics(kafka_bootstrap, [RUNS_TOPIC])
                    if isinstance(e := decode(RUNS_TOPIC, r.value), RunRequested) and e.payload.definition.name == name
                ]
                return bool(found)

            await until(published, timeout_s=30)
        finally:
            ticker.stop()
            relay.stop()
            await asyncio.wait_for(asyncio.gather(*tasks), 15)
            await producer.stop()
        [(record, event)] = found
        p = event.payload
        assert (p.job_id, p.run_id, p.trigger, p.scheduled_for, p.missed_fires) == (job_id, 1, "schedule", fire, 0)
        assert p.next_run_at == fire + MINUTE
        assert event.actor == "scheduler" and record.key == str(job_id).encode()
        on_kafka = datetime.fromtimestamp(record.timestamp / 1000, UTC) + shift
        assert timedelta(0) <= event.occurred_at - fire < timedelta(seconds=1)
        assert on_kafka - fire < timedelta(seconds=2)
        assert await row(conn, job_id) == (fire + MINUTE, fire + MINUTE, None)

    async def test_a_fire_that_meets_the_previous_run_still_going_is_recorded_skipped(self, conn: Conn) -> None:
        job_id = await given_job(conn, T)
        first = T + timedelta(seconds=30)  # 09:01

        assert await tick(conn, JOBS, first + timedelta(milliseconds=200), 10) == 1
        assert await tick(conn, JOBS, first + MINUTE + timedelta(milliseconds=100), 10) == 1
        [first_run] = [e for e in await stream(conn, job_id) if isinstance(e, RunRequested)]
        await succeeded(conn, first_run, first + MINUTE + timedelta(seconds=5))
        assert await tick(conn, JOBS, first + 2 * MINUTE, 10) == 1

        runs = [e for e in await stream(conn, job_id) if isinstance(e, RunRequested | RunSkipped)]
        assert [(type(e), e.payload.run_id, e.payload.scheduled_for) for e in runs] == [
            (RunRequested, 1, first),
            (RunSkipped, 2, first + MINUTE),
            (RunRequested, 3, first + 2 * MINUTE),
        ]
        skipped = runs[1]
        assert isinstance(skipped, RunSkipped) and skipped.payload.running_run_id == 1
        assert (RUNS_TOPIC, str(job_id), skipped) in await outbox(conn)

    async def test_after_downtime_one_run_stands_for_the_missed_fires(self, conn: Conn) -> None:
        job_id = await given_job(conn, T)
        back = T + timedelta(minutes=5)  # 09:05:30: the fires of 09:01 to 09:05 have passed

        assert await tick(conn, JOBS, back, 10) == 1
        assert await tick(conn, JOBS, back, 10) == 0

        [run] = [e for e in await stream(conn, job_id) if isinstance(e, RunRequested)]
        assert (run.payload.scheduled_for, run.payload.missed_fires) == (T + timedelta(seconds=30), 4)
        next_fire = T + timedelta(minutes=5, seconds=30)
        assert run.payload.next_run_at == next_fire
        assert await row(conn, job_id) == (next_fire, next_fire, None)

    async def test_the_backlog_counts_due_rows_a_full_batch_left(self, conn: Conn) -> None:
        for i in range(3):
            await given_job(conn, T, name=f"Backlog {i}")
        now = T + timedelta(seconds=31)
        before = await due.backlog(conn, due.JOBS, now)
        assert before >= 3
        assert await tick(conn, JOBS, now, 2) == 2
        assert await due.backlog(conn, due.JOBS, now) == before - 2
        while await tick(conn, JOBS, now, 10):
            pass
        assert await due.backlog(conn, due.JOBS, now) == 0

    async def test_two_instances_record_each_due_fire_exactly_once(self, conn: Conn, pool: asyncpg.Pool) -> None:
        jobs = [await given_job(conn, T, name=f"Job {i}") for i in range(60)]
        now = T + timedelta(seconds=31)
        claimed = [0, 0]

        async def instance(index: int) -> None:
            async with pool.acquire() as own:
                while taken := await tick(own, JOBS, now, 4):
                    claimed[index] += taken

        await asyncio.gather(instance(0), instance(1))

        assert sum(claimed) == len(jobs) and min(claimed) > 0, claimed
        requested = await conn.fetch("SELECT stream_id FROM events WHERE type = 'run.requested'")
        assert sorted(r["stream_id"] for r in requested) == sorted(job_stream(j) for j in jobs)
        assert await conn.fetchval("SELECT count(*) FROM job_schedules WHERE wake_at <= $1", now) == 0

    async def test_a_job_that_cannot_be_read_is_set_aside_and_the_others_fire(self, conn: Conn) -> None:
        jobs = [await given_job(conn, T, name=f"Job {i}") for i in range(3)]
        broken = jobs[1]
        await conn.execute(
            "UPDATE events SET data = '{}'::jsonb WHERE stream_id = $1 AND stream_version = 2", job_stream(broken)
        )
        now = T + timedelta(seconds=31)

        assert await tick(conn, JOBS, now, 10) == 3

        requested = await conn.fetch("SELECT stream_id FROM events WHERE type = 'run.requested'")
        assert sorted(r["stream_id"] for r in requested) == sorted(job_stream(j) for j in jobs if j != broken)
        assert await tick(conn, JOBS, now + timedelta(seconds=58), 10) == 0  # the broken job waits a minute, not a tick
        assert await row(conn, broken) == (now - timedelta(seconds=1), now - timedelta(seconds=1), None)

    async def test_jobs_waking_soon_are_folded_ahead_and_an_unreadable_one_stops_nothing(
        self, conn: Conn, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        jobs = [await given_job(conn, T, name=f"Job {i}") for i in range(3)]
        broken = jobs[1]
        await conn.execute(
            "UPDATE events SET data = '{}'::jsonb WHERE stream_id = $1 AND stream_version = 2", job_stream(broken)
        )
        ticker = Ticker(pool, clock=lambda: T)  # each job's first fire is half a minute ahead

        assert await ticker._prepare(conn)  # folded the readable ones; set the unreadable one aside
        assert not await ticker._prepare(conn)  # nothing left to fold: the ticker may pause
        decoded: list[str] = []
        decode = event_store._event

        def counting(topic: str, data: str) -> Event:
            decoded.append(topic)
            return decode(topic, data)

        monkeypatch.setattr(event_store, "_event", counting)
        async with conn.transaction():
            recorded = await ticker._kinds[0].record(
                conn, [Due(job_id, Slot(T, T, None, None)) for job_id in jobs[::2]], T
            )
        assert [decision.outcome for _, decision in recorded] == ["requested", "requested"]
        assert decoded == ["connect.tables"]  # the jobs came from the cache; only their table was read


class TestExpiration:
    async def test_an_expired_job_is_deleted_with_reason_expired_and_frees_its_name(self, conn: Conn) -> None:
        job_id = await given_job(conn, T, Cron(expression="0 12 * * *"), expires_at=T + timedelta(seconds=20))

        assert await tick(conn, JOBS, T + timedelta(seconds=19), 10) == 0
        assert await tick(conn, JOBS, T + timedelta(seconds=20), 10) == 1

        last = (await stream(conn, job_id))[-1]
        assert isinstance(last, JobDeleted) and last.payload.reason == "expired"
        assert await row(conn, job_id) is None
        assert await job_names.name_owner(conn, "Nightly customers") is None
        assert await given_job(conn, T + MINUTE, activate=False) != job_id


class TestDueRowFollowsTheJob:
    async def test_activation_deactivation_run_now_and_delete_move_the_row(self, conn: Conn) -> None:
        job_id = await given_job(conn, T, activate=False)
        assert await row(conn, job_id) == (None, None, None)

        await accept(conn, job_command(ActivateJob, job_id), T)
        fire = T + timedelta(seconds=30)
        assert await row(conn, job_id) == (fire, fire, None)

        # A run-now after the fire came but before a ticker recorded it keeps that fire pending.
        await accept(conn, run_now(job_id), fire + timedelta(seconds=1))
        assert await row(conn, job_id) == (fire, fire, None)

        await accept(conn, job_command(DeactivateJob, job_id), T)
        assert await row(conn, job_id) == (None, None, None)

        await accept(conn, job_command(ActivateJob, job_id), T)
        await accept(conn, job_command(DeleteJob, job_id), T)
        assert await row(conn, job_id) is None

    async def test_a_command_issued_before_a_recorded_fire_does_not_bring_it_back(self, conn: Conn) -> None:
        job_id = await given_job(conn, T)
        fire = T + timedelta(seconds=30)
        assert await tick(conn, JOBS, fire + timedelta(seconds=1), 10) == 1

        await accept(conn, job_command(DeactivateJob, job_id), T)  # issued before the fire, handled after it
        await accept(conn, job_command(ActivateJob, job_id), T)

        assert await row(conn, job_id) == (fire + MINUTE, fire + MINUTE, None)
        assert await tick(conn, JOBS, fire + timedelta(seconds=2), 10) == 0
