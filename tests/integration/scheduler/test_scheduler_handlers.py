"""`handle_command` end to end against PostgreSQL: accepted commands store events and queue them with the
reply; refused ones queue only the reply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from connect_events import (
    COMMANDS_TOPIC,
    ActivateJob,
    Command,
    CommandAccepted,
    CommandRejected,
    DeleteJob,
    JobActivated,
    JobCreated,
    JobDeleted,
    JobUpdated,
    ReplyEvent,
    RunRequested,
    TableDefined,
    encode,
)
from connect_runtime.db import Conn
from connect_scheduler.adapters import event_store, job_names
from connect_scheduler.adapters.event_store import job_stream
from connect_scheduler.domain.jobs import decide_create_job
from connect_scheduler.entrypoints.commands import on_command_record
from connect_scheduler.handlers import causation_of, handle_command
from connect_scheduler.policy import STRICT, Policy
from tests.integration.scheduler.scheduler_commands import (
    T0,
    count,
    create_job,
    customers,
    define_table,
    definition,
    job_command,
    outbox,
    run_ended,
    run_now,
    update_job,
    wait_blocked,
)

pytestmark = pytest.mark.integration


async def handle(conn: Conn, command: Command, policy: Policy = STRICT) -> ReplyEvent:
    """Handle `command` the way the consumer does: inside an outer transaction."""
    async with conn.transaction():
        reply = await handle_command(conn, command, policy=policy)
    assert reply is not None
    return reply


async def accept(conn: Conn, command: Command, policy: Policy = STRICT) -> CommandAccepted:
    reply = await handle(conn, command, policy)
    assert isinstance(reply, CommandAccepted), reply
    return reply


async def reject(conn: Conn, command: Command) -> CommandRejected:
    reply = await handle(conn, command)
    assert isinstance(reply, CommandRejected), reply
    return reply


async def given_active_job(conn: Conn) -> int:
    await accept(conn, define_table())
    reply = await accept(conn, create_job(activate=True))
    await conn.execute("TRUNCATE outbox")
    return int(reply.payload.target_id)


class TestAccepted:
    async def test_define_table_stores_the_event_and_queues_it_with_the_reply(self, conn: Conn) -> None:
        cmd = define_table()

        reply = await accept(conn, cmd)

        [(table_topic, table_key, defined), (reply_topic, reply_key, queued_reply)] = await outbox(conn)
        assert isinstance(defined, TableDefined)
        assert (table_topic, table_key) == ("connect.tables", "customers")
        assert (reply_topic, reply_key, queued_reply) == ("connect.replies", str(cmd.command_id), reply)
        assert await event_store.load(conn, "table:customers") == ([defined], 1)
        p = reply.payload
        assert (p.command_id, p.command_type, p.target_type, p.target_id, p.target_version, p.run_id) == (
            cmd.command_id,
            "table.define",
            "table",
            "Customers",
            1,
            None,
        )

    async def test_the_reply_envelope_names_the_command(self, conn: Conn) -> None:
        cmd = define_table()

        reply = await accept(conn, cmd)

        assert (reply.aggregate_type, reply.aggregate_id, reply.aggregate_version) == (
            "command",
            str(cmd.command_id),
            1,
        )
        assert (reply.correlation_id, reply.causation_id, reply.actor) == (cmd.correlation_id, cmd.command_id, "alice")
        await conn.execute("TRUNCATE events, outbox, handled_commands")
        assert await accept(conn, cmd) == reply  # deterministic: the same command, the same reply id

    async def test_create_job_takes_id_1_and_claims_the_name(self, conn: Conn) -> None:
        await accept(conn, define_table())
        await conn.execute("TRUNCATE outbox")

        reply = await accept(conn, create_job(activate=True))

        assert (reply.payload.target_type, reply.payload.target_id, reply.payload.target_version) == ("job", "1", 2)
        queued = await outbox(conn)
        assert [(topic, key, type(e)) for topic, key, e in queued] == [
            ("connect.jobs", "1", JobCreated),
            ("connect.jobs", "1", JobActivated),
            ("connect.replies", str(reply.payload.command_id), CommandAccepted),
        ]
        assert await event_store.load(conn, job_stream(1)) == ([e for _, _, e in queued[:2]], 2)
        assert await job_names.name_owner(conn, "NIGHTLY CUSTOMERS") == 1

    async def test_update_rename_frees_the_old_name(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)

        reply = await accept(conn, update_job(job_id, 2, definition("Renamed")))

        assert reply.payload.target_version == 3
        [(_, _, updated), _] = await outbox(conn)
        assert isinstance(updated, JobUpdated)
        assert await job_names.name_owner(conn, "renamed") == job_id
        assert await job_names.name_owner(conn, "nightly customers") is None

    async def test_delete_frees_the_name(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)

        await accept(conn, job_command(DeleteJob, job_id))

        assert isinstance((await outbox(conn))[0][2], JobDeleted)
        assert await job_names.name_owner(conn, "nightly customers") is None
        await accept(conn, create_job())  # the name can be reused by a new job


class TestRunNow:
    async def test_runs_are_numbered_1_2_3_and_keyed_by_job(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)

        replies = []
        for run_id in (1, 2, 3):
            replies.append(await accept(conn, run_now(job_id)))
            await run_ended(conn, job_id, run_id)  # each ends before the next is asked for

        assert [r.payload.run_id for r in replies] == [1, 2, 3]
        assert {r.payload.target_version for r in replies} == {2}
        requests = [(key, e) for _, key, e in await outbox(conn) if isinstance(e, RunRequested)]
        assert [(key, e.aggregate_id) for key, e in requests] == [("1", "1.1"), ("1", "1.2"), ("1", "1.3")]
        assert requests[0][1].payload.table == customers()
        assert requests[0][1].payload.job_version == 2

    async def test_a_repeated_idempotency_key_answers_with_the_first_run(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        first = await accept(conn, run_now(job_id, "req-1"))
        _, stream_version = await event_store.load(conn, job_stream(job_id))

        again = await accept(conn, run_now(job_id, "req-1"))

        assert (first.payload.run_id, again.payload.run_id) == (1, 1)
        assert (await event_store.load(conn, job_stream(job_id)))[1] == stream_version
        assert [type(e) for _, _, e in await outbox(conn)] == [RunRequested, CommandAccepted, CommandAccepted]

    async def test_an_inactive_job_is_refused(self, conn: Conn) -> None:
        await accept(conn, define_table())
        job_id = int((await accept(conn, create_job())).payload.target_id)

        rejected = await reject(conn, run_now(job_id))

        assert (rejected.payload.code, rejected.payload.reason, rejected.payload.message) == (
            "invalid_state",
            "JOB_INACTIVE",
            f"job {job_id} is inactive",
        )

    async def test_an_unknown_job_is_not_found(self, conn: Conn) -> None:
        rejected = await reject(conn, run_now(404))
        assert (rejected.payload.code, rejected.payload.reason) == ("not_found", "JOB_NOT_FOUND")


class TestRejected:
    async def test_a_job_that_cannot_be_kept_stores_nothing_but_the_reply(self, conn: Conn) -> None:
        cmd = create_job(definition("bad/name", table="Nope"))

        rejected = await reject(conn, cmd)

        assert (rejected.payload.code, rejected.payload.reason) == ("validation", "JOB_HAS_ERRORS")
        assert [e.field for e in rejected.payload.errors] == ["name", "settings.table"]
        assert [(topic, key, e) for topic, key, e in await outbox(conn)] == [
            ("connect.replies", str(cmd.command_id), rejected)
        ]
        assert (await count(conn, "events"), await count(conn, "job_names")) == (0, 0)
        assert await conn.fetchval("SELECT value FROM counters WHERE name = 'job_id'") == 0

    async def test_a_refused_create_does_not_use_up_an_id(self, conn: Conn) -> None:
        await accept(conn, define_table())
        await reject(conn, create_job(definition("bad/name")))

        assert (await accept(conn, create_job())).payload.target_id == "1"

    async def test_a_taken_name_in_another_case_is_a_validation_error(self, conn: Conn) -> None:
        await given_active_job(conn)

        rejected = await reject(conn, create_job(definition("NIGHTLY CUSTOMERS")))

        assert (rejected.payload.code, rejected.payload.reason) == ("validation", "NAME_TAKEN")
        assert [(e.field, e.message) for e in rejected.payload.errors] == [
            ("name", "a job named NIGHTLY CUSTOMERS already exists")
        ]

    async def test_a_stale_version_is_a_conflict_and_changes_nothing(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        before = await event_store.load(conn, job_stream(job_id))

        rejected = await reject(conn, update_job(job_id, 1, definition("Renamed")))

        assert (rejected.payload.code, rejected.payload.reason) == ("conflict", "STALE_VERSION")
        assert await event_store.load(conn, job_stream(job_id)) == before
        assert await job_names.name_owner(conn, "renamed") is None

    async def test_a_table_defined_twice_is_a_conflict(self, conn: Conn) -> None:
        await accept(conn, define_table())
        rejected = await reject(conn, define_table(customers("CUSTOMERS")))
        assert (rejected.payload.code, rejected.payload.message) == (
            "conflict",
            "a table named Customers already exists",
        )

    async def test_activating_without_a_table_names_the_field(self, conn: Conn) -> None:
        await accept(conn, define_table())
        job_id = int((await accept(conn, create_job())).payload.target_id)
        await conn.execute("DELETE FROM events WHERE stream_id = 'table:customers'")  # a table that vanished

        rejected = await reject(conn, job_command(ActivateJob, job_id))

        assert (rejected.payload.code, rejected.payload.reason) == ("validation", "JOB_HAS_ERRORS")
        assert [e.field for e in rejected.payload.errors] == ["settings.table"]

    async def test_a_stream_written_concurrently_is_a_conflict_and_rolls_back(self, conn: Conn) -> None:
        await accept(conn, define_table())
        # Another writer already appended job 1's first event, but the id counter has not moved here.
        other = create_job(definition("Other writer"))
        events = decide_create_job(1, other, customers(), None, T0, causation_of(other))
        await event_store.append(conn, job_stream(1), 0, events)
        await conn.execute("TRUNCATE outbox")
        cmd = create_job()

        rejected = await reject(conn, cmd)

        assert rejected.payload.code == "conflict"
        assert [e for _, _, e in await outbox(conn)] == [rejected]
        assert await conn.fetchval("SELECT value FROM counters WHERE name = 'job_id'") == 0
        assert await job_names.name_owner(conn, "nightly customers") is None


class TestRedelivery:
    async def test_a_command_handled_before_changes_nothing(self, conn: Conn) -> None:
        await accept(conn, define_table())
        cmd = create_job()
        await accept(conn, cmd)
        rows_before = (await count(conn, "events"), await count(conn, "outbox"))

        async with conn.transaction():
            assert await handle_command(conn, cmd) is None

        assert (await count(conn, "events"), await count(conn, "outbox")) == rows_before

    async def test_a_rejected_command_handled_before_is_not_decided_again(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        cmd = create_job()
        first = await reject(conn, cmd)  # its name is taken
        # Meanwhile the state changed so that a second decision would accept it: it must not be taken.
        await accept(conn, job_command(DeleteJob, job_id))
        await conn.execute("TRUNCATE outbox")

        async with conn.transaction():
            assert await handle_command(conn, cmd) is None

        assert first.payload.reason == "NAME_TAKEN"
        assert (await count(conn, "outbox"), await count(conn, "job_names")) == (0, 0)

    @pytest.mark.parametrize("kind", ["accepted", "rejected"])
    async def test_a_duplicate_handled_while_the_first_is_uncommitted_writes_nothing(
        self, conn: Conn, pool: asyncpg.Pool, kind: str
    ) -> None:
        # A stalled instance and the one that took its partition over handle the same command at once.
        job_id = await given_active_job(conn)
        cmd = run_now(job_id if kind == "accepted" else 404)
        async with pool.acquire() as first, pool.acquire() as second:
            stalled = first.transaction()
            await stalled.start()
            reply = await handle_command(first, cmd)
            duplicate = asyncio.create_task(handle_in_transaction(second, cmd))
            await wait_blocked(conn, second.get_server_pid(), duplicate)
            await stalled.commit()
            assert await duplicate is None

        assert [e for _, _, e in await outbox(conn) if isinstance(e, ReplyEvent)] == [reply]
        assert isinstance(reply, CommandAccepted if kind == "accepted" else CommandRejected)


class TestNameRace:
    async def test_losing_a_race_for_a_name_answers_like_a_taken_name(self, conn: Conn, pool: asyncpg.Pool) -> None:
        await accept(conn, define_table())
        async with pool.acquire() as first, pool.acquire() as second:
            winner = first.transaction()
            await winner.start()
            await handle_command(first, create_job(definition("Same name")))
            # Both checked the name before either claimed it; the loser finds out when claiming.
            loser = asyncio.create_task(handle_in_transaction(second, create_job(definition("SAME NAME"))))
            await wait_blocked(conn, second.get_server_pid(), loser)
            await winner.commit()
            raced = await loser

        normal = await reject(conn, create_job(definition("SAME NAME")))
        assert isinstance(raced, CommandRejected)
        assert (raced.payload.code, raced.payload.message, raced.payload.errors) == (
            normal.payload.code,
            normal.payload.message,
            normal.payload.errors,
        )
        assert [(e.field, e.message) for e in raced.payload.errors] == [
            ("name", "a job named SAME NAME already exists")
        ]
        assert (await count(conn, "job_names"), await count(conn, "events")) == (1, 2)

    async def test_losing_a_rename_race_answers_like_a_taken_name(self, conn: Conn, pool: asyncpg.Pool) -> None:
        await accept(conn, define_table())
        one = int((await accept(conn, create_job(definition("One")))).payload.target_id)
        two = int((await accept(conn, create_job(definition("Two")))).payload.target_id)
        async with pool.acquire() as first, pool.acquire() as second:
            winner = first.transaction()
            await winner.start()
            await handle_command(first, update_job(one, 1, definition("Three")))
            loser = asyncio.create_task(handle_in_transaction(second, update_job(two, 1, definition("three"))))
            await wait_blocked(conn, second.get_server_pid(), loser)
            await winner.commit()
            raced = await loser

        assert isinstance(raced, CommandRejected)
        assert (raced.payload.code, raced.payload.message) == ("validation", f"job {two} has 1 error(s)")
        assert [(e.field, e.message) for e in raced.payload.errors] == [("name", "a job named three already exists")]
        assert await job_names.name_owner(conn, "two") == two


class TestContention:
    """Two commands decided on the same state at once: the one that commits second is refused `conflict`, as a
    stale version only when it named the version it was based on."""

    @pytest.mark.parametrize(
        ("second_command", "reason"),
        [
            (run_now, "CONCURRENT_CHANGE"),
            (lambda job_id: update_job(job_id, 2, definition("Renamed")), "STALE_VERSION"),
        ],
        ids=["run now", "edit with its version"],
    )
    async def test_the_loser_of_a_race_on_one_job(
        self, conn: Conn, pool: asyncpg.Pool, second_command: Callable[[int], Command], reason: str
    ) -> None:
        job_id = await given_active_job(conn)
        async with pool.acquire() as first, pool.acquire() as second:
            winner = first.transaction()
            await winner.start()
            await handle_command(first, run_now(job_id))
            # Both read the job before either appended to its stream; the loser finds out when appending.
            loser = asyncio.create_task(handle_in_transaction(second, second_command(job_id)))
            await wait_blocked(conn, second.get_server_pid(), loser)
            await winner.commit()
            raced = await loser

        assert isinstance(raced, CommandRejected)
        assert (raced.payload.code, raced.payload.reason) == ("conflict", reason)
        if reason == "CONCURRENT_CHANGE":
            assert raced.payload.message == "changed concurrently by another command; try again"


async def handle_in_transaction(conn: Conn, command: Command) -> ReplyEvent | None:
    async with conn.transaction():
        return await handle_command(conn, command)


class TestConsumerEntrypoint:
    async def test_a_command_record_is_decoded_and_handled(self, conn: Conn) -> None:
        cmd = define_table()

        async with conn.transaction():
            await on_command_record(conn, record(encode(cmd)))

        [_, (_, _, reply)] = await outbox(conn)
        assert isinstance(reply, CommandAccepted)
        assert reply.payload.command_id == cmd.command_id

    @pytest.mark.parametrize("value", [b"not json", b'{"type": "job.explode"}', None])
    async def test_a_poison_record_raises_for_the_dead_letter_topic(self, conn: Conn, value: bytes | None) -> None:
        with pytest.raises(ValueError):
            await on_command_record(conn, record(value))
        assert await count(conn, "outbox") == 0


def record(value: bytes | None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(COMMANDS_TOPIC, 0, 5, 0, 0, b"new", value, None, 3, len(value or b""), ())  # type: ignore[arg-type]
