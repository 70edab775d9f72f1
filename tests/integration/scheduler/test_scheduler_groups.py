"""Groups against PostgreSQL and Kafka: definitions and their membership rows, the job rules membership imposes,
run now and stop through the command handler, and a group run moved on by member run ends read from
`connect.runs` by the scheduler's runs consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from connect_events import (
    CreateGroup,
    CreateGroupPayload,
    Cron,
    DeactivateJob,
    DeleteGroup,
    DeleteJob,
    Event,
    GroupCommandPayload,
    GroupDefinition,
    GroupDeleted,
    GroupRunEnded,
    GroupRunMemberRequested,
    GroupRunRequested,
    GroupRunStopRequested,
    GroupUpdated,
    RunCounts,
    RunEndedPayload,
    RunFailed,
    RunFailedPayload,
    RunGroupNow,
    RunGroupNowPayload,
    RunRequested,
    RunStatus,
    RunStopped,
    RunStopRequested,
    StopGroupRun,
    StopGroupRunPayload,
    UpdateGroup,
    UpdateGroupPayload,
    encode,
    run_key,
)
from connect_runtime.db import Conn
from connect_scheduler.adapters import event_store
from connect_scheduler.adapters.event_store import job_stream
from connect_scheduler.adapters.group_store import group_stream
from connect_scheduler.entrypoints.runs import on_run_record
from connect_scheduler.entrypoints.ticker import GROUPS, tick
from connect_scheduler.group_handlers import load_group
from tests.integration.scheduler.runs_consumer import runs_consumer
from tests.integration.scheduler.scheduler_commands import (
    T0,
    count,
    create_job,
    define_table,
    definition,
    job_command,
    meta,
    outbox,
    run_started,
    run_succeeded,
)
from tests.integration.scheduler.test_scheduler_handlers import accept, reject
from tests.integration.scheduler.test_scheduler_run_view import offset_reached, record, send
from tests.polling import until

pytestmark = pytest.mark.integration

GROUP_TABLES = "TRUNCATE job_groups, group_names, group_member_runs, group_schedules"
MEMBERS_OF = "SELECT job_id FROM job_groups WHERE group_id = $1 ORDER BY job_id"
RUN_STATUS = "SELECT status FROM run_status WHERE job_id = $1 AND run_id = $2"
GROUP_RUN_ENDED = "SELECT count(*) FROM events WHERE stream_id = $1 AND type = 'group_run.ended'"


@pytest.fixture
async def db(conn: Conn) -> AsyncIterator[Conn]:
    """The scheduler database reset, group tables included."""
    await conn.execute(GROUP_TABLES)
    yield conn


@pytest.fixture
async def runs_topic(kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer) -> AsyncIterator[str]:
    """A fresh runs topic with the scheduler's runs consumer on it, stopped after the test."""
    async with runs_consumer(kafka_bootstrap, pool, producer, "sched.group-runs") as topic:
        yield topic


async def given_jobs(conn: Conn, n: int = 3) -> list[int]:
    """`n` active on-demand jobs loading the same table."""
    await accept(conn, define_table())
    replies = [await accept(conn, create_job(definition(f"Load {i}"), activate=True)) for i in range(1, n + 1)]
    await conn.execute("TRUNCATE outbox")
    return [int(reply.payload.target_id) for reply in replies]


def group(members: list[int], name: str = "Morning loads", **fields: Any) -> GroupDefinition:
    return GroupDefinition(name=name, members=tuple(members), **fields)


def create_group(members: list[int], name: str = "Morning loads", **fields: Any) -> CreateGroup:
    return CreateGroup(**meta(), payload=CreateGroupPayload(definition=group(members, name, **fields)))


def run_group(group_id: int, key: str | None = None) -> RunGroupNow:
    return RunGroupNow(**meta(), payload=RunGroupNowPayload(group_id=group_id, idempotency_key=key))


def group_command(cls: type[Any], group_id: int) -> Any:
    return cls(**meta(), payload=GroupCommandPayload(group_id=group_id))


async def given_group(conn: Conn, members: list[int]) -> int:
    reply = await accept(conn, create_group(members))
    await conn.execute("TRUNCATE outbox")
    return int(reply.payload.target_id)


async def queued(conn: Conn) -> list[Event]:
    return [event for _, _, event in await outbox(conn)]


async def stream(conn: Conn, stream_id: str) -> list[Event]:
    events, _ = await event_store.load(conn, stream_id)
    return events


class TestDefinitions:
    async def test_a_group_is_created_with_its_members_and_ids_count_1_2(self, db: Conn) -> None:
        jobs = await given_jobs(db, 4)

        first = await accept(db, create_group(jobs[:2]))
        second = await accept(db, create_group(jobs[2:], "Evening loads"))

        assert [(r.payload.target_type, r.payload.target_id, r.payload.target_version) for r in (first, second)] == [
            ("group", "1", 1),
            ("group", "2", 1),
        ]
        assert [r["job_id"] for r in await db.fetch(MEMBERS_OF, 2)] == jobs[2:]
        [created] = await stream(db, group_stream(1))
        assert created.TOPIC == "connect.groups"

    async def test_a_job_in_one_group_is_refused_by_another_and_a_taken_name_too(self, db: Conn) -> None:
        jobs = await given_jobs(db)
        await given_group(db, jobs[:2])

        refused = await reject(db, create_group([jobs[1], jobs[2]], "MORNING LOADS"))

        assert refused.payload.reason == "NAME_TAKEN"  # the first precise reason
        assert [(e.field, e.message) for e in refused.payload.errors] == [
            ("name", "a group named MORNING LOADS already exists"),
            ("members[0]", f"job {jobs[1]} is already a member of group 1"),
        ]
        assert (await count(db, "group_names"), await count(db, "job_groups")) == (1, 2)

    async def test_an_update_moves_the_membership_and_a_delete_frees_the_jobs(self, db: Conn) -> None:
        jobs = await given_jobs(db, 4)
        group_id = await given_group(db, jobs[:2])
        update = UpdateGroup(
            **meta(), payload=UpdateGroupPayload(group_id=group_id, expected_version=1, definition=group(jobs[1:3]))
        )

        await accept(db, update)
        assert [r["job_id"] for r in await db.fetch(MEMBERS_OF, group_id)] == jobs[1:3]
        await accept(db, job_command(DeleteJob, jobs[0]))  # no longer a member

        await accept(db, group_command(DeleteGroup, group_id))
        assert await count(db, "job_groups") == 0
        await accept(db, job_command(DeactivateJob, jobs[1]))
        assert (await accept(db, create_group(jobs[2:]))).payload.target_id == "2"  # the name is free again

    @pytest.mark.parametrize("command", [DeleteJob, DeactivateJob])
    async def test_a_member_cannot_be_deleted_or_deactivated(self, db: Conn, command: type[Any]) -> None:
        jobs = await given_jobs(db)
        await given_group(db, jobs)

        refused = await reject(db, job_command(command, jobs[1]))

        assert (refused.payload.code, refused.payload.reason) == ("invalid_state", "JOB_IN_GROUP")


class TestRunAndStop:
    async def test_run_now_requests_the_group_run_and_its_first_member_at_once(self, db: Conn) -> None:
        jobs = await given_jobs(db)
        group_id = await given_group(db, jobs)

        reply = await accept(db, run_group(group_id, "k1"))
        again = await accept(db, run_group(group_id, "k1"))
        refused = await reject(db, run_group(group_id))

        assert (reply.payload.run_id, again.payload.run_id) == (1, 1)
        assert (refused.payload.reason, refused.payload.message) == (
            "GROUP_RUNNING",
            f"group {group_id} is running (group run {group_id}.1)",
        )
        events = [e for e in await queued(db) if not e.TOPIC.endswith("replies")]
        assert [type(e) for e in events] == [GroupRunRequested, RunRequested, GroupRunMemberRequested]
        request = events[1]
        assert isinstance(request, RunRequested)
        assert (request.aggregate_id, request.payload.trigger, request.payload.group_id) == (
            run_key(jobs[0], 1),
            "group",
            group_id,
        )
        assert [type(e) for e in await stream(db, job_stream(jobs[0]))][-1] is RunRequested

    async def test_a_stop_asks_the_member_in_progress_too(self, db: Conn) -> None:
        jobs = await given_jobs(db)
        group_id = await given_group(db, jobs)
        await accept(db, run_group(group_id))
        await db.execute("TRUNCATE outbox")

        await accept(db, StopGroupRun(**meta(), payload=StopGroupRunPayload(group_id=group_id, run_id=1)))

        events = [e for e in await queued(db) if not e.TOPIC.endswith("replies")]
        assert [(type(e), e.aggregate_id) for e in events] == [
            (GroupRunStopRequested, f"{group_id}.1"),
            (RunStopRequested, run_key(jobs[0], 1)),
        ]


async def test_a_stopped_member_ends_the_group_run_stopped_and_starts_no_other(db: Conn) -> None:
    first, second = await given_jobs(db, 2)
    group_id = await given_group(db, [first, second])
    await accept(db, run_group(group_id))
    await accept(db, StopGroupRun(**meta(), payload=StopGroupRunPayload(group_id=group_id, run_id=1)))
    request = await member_request(db, first)
    assert request is not None
    stopped = RunStopped(
        event_id=uuid4(),
        aggregate_id=run_key(first, 1),
        aggregate_version=3,
        occurred_at=T0,
        actor="runner",
        correlation_id=uuid4(),
        payload=RunEndedPayload(job_id=first, run_id=1, counts=RunCounts(), started_at=T0, finished_at=T0),
    )

    for event in (request, run_started(first, 1), stopped, stopped):  # the end redelivered
        async with db.transaction():
            await on_run_record(db, record(encode(event)))

    ended = [e for e in await stream(db, group_stream(group_id)) if isinstance(e, GroupRunEnded)]
    assert [(e.payload.status, e.payload.failed_job_id) for e in ended] == [(RunStatus.STOPPED, first)]
    assert await member_request(db, second) is None


async def test_a_member_end_that_meets_concurrent_group_changes_is_decided_again_on_fresh_state(
    db: Conn, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = await given_jobs(db, 2)
    group_id = await given_group(db, [first, second])
    await accept(db, run_group(group_id))
    request = await member_request(db, first)
    assert request is not None
    load = event_store.load
    renames = ["Morning loads 1", "Morning loads 2", "Morning loads 3"]

    async def load_then_rename(conn: Conn, stream_id: str) -> tuple[list[Event], int]:
        """Each of the runs consumer's first loads of the group is overtaken by an update on another connection."""
        loaded = await load(conn, stream_id)
        if conn is db and stream_id == group_stream(group_id) and renames:
            async with pool.acquire() as other:
                state, _ = await load_group(other, group_id)
                assert state is not None
                rename = group([first, second], renames.pop(0))
                payload = UpdateGroupPayload(group_id=group_id, expected_version=state.version, definition=rename)
                await accept(other, UpdateGroup(**meta(), payload=payload))
        return loaded

    monkeypatch.setattr(event_store, "load", load_then_rename)
    for event in (request, run_started(first, 1), run_succeeded(first, 1)):
        async with db.transaction():
            await on_run_record(db, record(encode(event)))

    assert renames == []
    events = await stream(db, group_stream(group_id))
    assert [type(e) for e in events][-4:] == [GroupUpdated, GroupUpdated, GroupUpdated, GroupRunMemberRequested]
    second_request = await member_request(db, second)
    assert second_request is not None and second_request.payload.group_run_id == 1
    assert await db.fetchval(RUN_STATUS, first, 1) == RunStatus.SUCCEEDED.value


def run_failed(job_id: int, run_id: int, error: str) -> RunFailed:
    payload = RunFailedPayload(
        job_id=job_id,
        run_id=run_id,
        counts=RunCounts(),
        started_at=T0,
        finished_at=T0,
        code="FILE_NOT_FOUND",
        error=error,
    )
    return RunFailed(
        event_id=uuid4(),
        aggregate_id=run_key(job_id, run_id),
        aggregate_version=3,
        occurred_at=T0,
        actor="runner",
        correlation_id=uuid4(),
        payload=payload,
    )


async def member_request(conn: Conn, job_id: int) -> RunRequested | None:
    """The run request of `job_id` in its stream, if any."""
    requests = [e for e in await stream(conn, job_stream(job_id)) if isinstance(e, RunRequested)]
    return requests[-1] if requests else None


async def test_a_failing_member_ends_the_group_run_and_the_rest_never_start(
    db: Conn, producer: AIOKafkaProducer, pool: asyncpg.Pool, runs_topic: str
) -> None:
    topic = runs_topic
    first, second, third = await given_jobs(db)
    group_id = await given_group(db, [first, second, third])
    await accept(db, run_group(group_id))
    first_request = await member_request(db, first)
    assert first_request is not None

    await send(producer, topic, first_request, run_started(first, 1), run_succeeded(first, 1))
    await until(lambda: offset_reached(pool, topic, 3))
    second_request = await member_request(db, second)
    assert second_request is not None and second_request.payload.group_run_id == 1

    failed = run_failed(second, 1, "the file upload/customers.csv was not found")
    await send(producer, topic, second_request, run_started(second, 1), failed)
    await until(lambda: group_run_ended(pool, group_id))

    ended = [e for e in await stream(db, group_stream(group_id)) if isinstance(e, GroupRunEnded)]
    assert [(e.payload.status, e.payload.failed_job_id, e.payload.failed_run_id, e.payload.error) for e in ended] == [
        (RunStatus.FAILED, second, 1, "the file upload/customers.csv was not found")
    ]
    assert ended[0].causation_id == failed.event_id
    assert await member_request(db, third) is None
    assert [e for e in await queued(db) if isinstance(e, GroupRunEnded)] == ended


async def group_run_ended(pool: asyncpg.Pool, group_id: int) -> bool:
    return bool(await pool.fetchval(GROUP_RUN_ENDED, group_stream(group_id)))


TEN = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)  # the first fire of AT_TEN after T0 (09:30)
AT_TEN = Cron(expression="0 10 * * *", time_zone="UTC")
GROUP_ROW = "SELECT fire_at, last_fire_at, wake_at FROM group_schedules WHERE group_id = $1"


class TestScheduledGroups:
    async def test_a_due_fire_runs_the_group_once_and_moves_its_row_to_the_next_fire(self, db: Conn) -> None:
        jobs = await given_jobs(db)
        reply = await accept(db, create_group(jobs, schedule=AT_TEN))
        group_id = int(reply.payload.target_id)
        assert tuple(await db.fetchrow(GROUP_ROW, group_id)) == (TEN, None, TEN)

        assert await tick(db, GROUPS, TEN - timedelta(seconds=1), 10) == 0
        assert await tick(db, GROUPS, TEN, 10) == 1
        assert await tick(db, GROUPS, TEN, 10) == 0  # recorded once

        [_, requested, *_] = await stream(db, group_stream(group_id))
        assert isinstance(requested, GroupRunRequested)
        assert (requested.payload.trigger, requested.payload.scheduled_for) == ("schedule", TEN)
        member = await member_request(db, jobs[0])
        assert member is not None and member.payload.group_run_id == 1
        assert tuple(await db.fetchrow(GROUP_ROW, group_id)) == (TEN + timedelta(days=1), TEN, TEN + timedelta(days=1))
        assert [type(e) for e in await queued(db)][-3:] == [GroupRunRequested, RunRequested, GroupRunMemberRequested]

    async def test_a_group_that_cannot_be_read_is_set_aside_and_the_others_fire(self, db: Conn) -> None:
        jobs = await given_jobs(db, 4)
        replies = [await accept(db, create_group(jobs[i : i + 2], f"Loads {i}", schedule=AT_TEN)) for i in (0, 2)]
        broken, fine = (int(reply.payload.target_id) for reply in replies)
        await db.execute("UPDATE events SET data = '{}'::jsonb WHERE stream_id = $1", group_stream(broken))

        assert await tick(db, GROUPS, TEN, 10) == 2

        requested = await db.fetch("SELECT stream_id FROM events WHERE type = 'group_run.requested'")
        assert [r["stream_id"] for r in requested] == [group_stream(fine)]
        assert await tick(db, GROUPS, TEN + timedelta(seconds=59), 10) == 0  # it waits a minute, not a tick
        assert tuple(await db.fetchrow(GROUP_ROW, broken)) == (TEN, None, TEN + timedelta(seconds=60))

    async def test_an_expired_group_is_deleted_and_frees_its_jobs_and_name(self, db: Conn) -> None:
        jobs = await given_jobs(db)
        expires_at = T0 + timedelta(minutes=10)
        reply = await accept(db, create_group(jobs, expires_at=expires_at))
        group_id = int(reply.payload.target_id)

        assert await tick(db, GROUPS, expires_at, 10) == 1

        deleted = (await stream(db, group_stream(group_id)))[-1]
        assert isinstance(deleted, GroupDeleted)
        assert deleted.payload.reason == "expired"
        assert (await count(db, "job_groups"), await count(db, "group_names"), await count(db, "group_schedules")) == (
            0,
            0,
            0,
        )
