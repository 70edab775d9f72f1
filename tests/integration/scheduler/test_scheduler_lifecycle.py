"""The definition lifecycle and run control against PostgreSQL: drafts, activation after a fix, copy, ids never
reused, run-now refused while a run is in progress, stop."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from connect_events import (
    ActivateJob,
    Daily,
    DeactivateJob,
    DeleteJob,
    JobActivated,
    JobCreated,
    JobUpdated,
    RunStopRequested,
)
from connect_runtime.db import Conn
from connect_scheduler.adapters import event_store, job_names, run_view
from connect_scheduler.adapters.event_store import job_stream
from tests.integration.scheduler.scheduler_commands import (
    copy_job,
    count,
    create_job,
    define_table,
    definition,
    job_command,
    last_request,
    outbox,
    run_ended,
    run_now,
    run_started,
    run_succeeded,
    stop_run,
    update_job,
)
from tests.integration.scheduler.test_scheduler_handlers import accept, given_active_job, reject

pytestmark = pytest.mark.integration

MORNINGS = Daily(time=time(6, 30), time_zone="Europe/Paris")
# The commands are issued at T0 (09:30 UTC on 1 March): the next 06:30 in Paris (UTC+1) is on 2 March.
NEXT_MORNING = datetime.fromisoformat("2025-03-02T05:30:00+00:00")


async def given_draft(conn: Conn) -> int:
    """Job 1 saved with a port out of range, its table defined; the outbox emptied."""
    await accept(conn, define_table())
    reply = await accept(conn, create_job(definition(port=0, schedule=MORNINGS), activate=True))
    await conn.execute("TRUNCATE outbox")
    return int(reply.payload.target_id)


class TestDrafts:
    async def test_a_definition_with_errors_is_stored_inactive_and_its_errors_answered(self, conn: Conn) -> None:
        cmd = create_job(definition(table="Nope", port=0), activate=True)

        reply = await accept(conn, cmd)

        assert (reply.payload.target_id, reply.payload.target_version) == ("1", 1)  # not activated
        assert [(e.field, e.message) for e in reply.payload.errors] == [
            ("settings.source.port", "must be 1 to 65535"),
            ("settings.table", "no table named Nope"),
        ]
        [(_, key, created), _] = await outbox(conn)
        assert isinstance(created, JobCreated)
        assert (key, created.payload.errors) == ("1", reply.payload.errors)
        assert await event_store.load(conn, job_stream(1)) == ([created], 1)
        assert await job_names.name_owner(conn, "nightly customers") == 1

    async def test_activation_is_refused_until_the_draft_is_fixed(self, conn: Conn) -> None:
        job_id = await given_draft(conn)

        refused = await reject(conn, job_command(ActivateJob, job_id))
        assert (refused.payload.code, refused.payload.reason) == ("validation", "JOB_HAS_ERRORS")
        assert [e.field for e in refused.payload.errors] == ["settings.source.port"]
        assert [e for _, _, e in await outbox(conn)] == [refused]

        fixed = await accept(conn, update_job(job_id, 1, definition(schedule=MORNINGS)))
        assert (fixed.payload.target_version, fixed.payload.errors) == (2, ())
        activated = await accept(conn, job_command(ActivateJob, job_id, expected_version=2))

        assert activated.payload.target_version == 3
        [event] = [e for _, _, e in await outbox(conn) if isinstance(e, JobActivated)]
        assert event.payload.next_run_at == NEXT_MORNING

    async def test_an_active_job_takes_no_edit_with_errors(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        before = await event_store.load(conn, job_stream(job_id))

        refused = await reject(conn, update_job(job_id, 2, definition(port=0)))

        assert (refused.payload.code, refused.payload.reason) == ("validation", "JOB_HAS_ERRORS")
        assert await event_store.load(conn, job_stream(job_id)) == before

    async def test_an_inactive_job_keeps_an_edit_with_errors_as_a_draft(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        await accept(conn, job_command(DeactivateJob, job_id))

        reply = await accept(conn, update_job(job_id, 3, definition(port=0)))

        assert [e.field for e in reply.payload.errors] == ["settings.source.port"]
        [updated] = [e for _, _, e in await outbox(conn) if isinstance(e, JobUpdated)]
        assert updated.payload.errors == reply.payload.errors


class TestCopy:
    async def test_copies_an_inactive_job_under_a_new_id_and_name(self, conn: Conn) -> None:
        job_id = await given_draft(conn)

        reply = await accept(conn, copy_job(job_id, "Second nightly"))

        assert (reply.payload.target_id, reply.payload.target_version) == ("2", 1)
        assert [e.field for e in reply.payload.errors] == ["settings.source.port"]  # found afresh, still there
        [(_, key, copied), _] = await outbox(conn)
        assert isinstance(copied, JobCreated)
        assert (key, copied.payload.copied_from, copied.payload.definition.name) == ("2", job_id, "Second nightly")
        assert await job_names.name_owner(conn, "second nightly") == 2

    async def test_an_active_job_cannot_be_copied(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)

        refused = await reject(conn, copy_job(job_id, "Second nightly"))

        assert (refused.payload.code, refused.payload.reason) == ("invalid_state", "COPY_REQUIRES_INACTIVE")
        assert await conn.fetchval("SELECT value FROM counters WHERE name = 'job_id'") == 1  # no id used up

    async def test_a_copy_needs_a_free_name(self, conn: Conn) -> None:
        job_id = await given_draft(conn)

        refused = await reject(conn, copy_job(job_id, "NIGHTLY CUSTOMERS"))

        assert (refused.payload.code, refused.payload.reason) == ("validation", "NAME_TAKEN")
        assert (await count(conn, "job_names"), await count(conn, "events")) == (1, 2)


async def test_a_deleted_jobs_id_is_never_reused(conn: Conn) -> None:
    job_id = await given_active_job(conn)
    await accept(conn, job_command(DeleteJob, job_id))

    reply = await accept(conn, create_job())

    assert (job_id, reply.payload.target_id) == (1, "2")


class TestRunControl:
    async def test_run_now_is_refused_while_the_last_run_has_not_ended(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        await accept(conn, run_now(job_id))

        before_seen = await reject(conn, run_now(job_id))  # requested, not yet seen on connect.runs
        for event in (await last_request(conn), run_started(job_id, 1)):
            await run_view.apply(conn, event)
        while_running = await reject(conn, run_now(job_id))
        await run_view.apply(conn, run_succeeded(job_id, 1))
        after = await accept(conn, run_now(job_id))

        for refused in (before_seen, while_running):
            assert (refused.payload.code, refused.payload.reason, refused.payload.message) == (
                "invalid_state",
                "JOB_RUNNING",
                f"job {job_id} is running (run {job_id}.1)",
            )
        assert after.payload.run_id == 2

    async def test_a_repeated_idempotency_key_answers_with_the_running_run(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        first = await accept(conn, run_now(job_id, "req-1"))

        again = await accept(conn, run_now(job_id, "req-1"))

        assert (first.payload.run_id, again.payload.run_id) == (1, 1)

    async def test_stop_asks_the_running_run_once(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        await accept(conn, run_now(job_id))
        await conn.execute("TRUNCATE outbox")

        first = await accept(conn, stop_run(job_id, 1))
        second = await accept(conn, stop_run(job_id, 1))

        assert (first.payload.target_id, first.payload.target_version, first.payload.run_id) == (str(job_id), 2, 1)
        assert second.payload.run_id == 1
        [(topic, key, stop), *replies] = await outbox(conn)
        assert isinstance(stop, RunStopRequested)
        assert (topic, key, stop.aggregate_type, stop.aggregate_id) == ("connect.runs", "1", "run_stop", "1.1")
        assert len(replies) == 2
        history, _ = await event_store.load(conn, job_stream(job_id))
        assert history[-1] == stop

    async def test_stop_of_a_deleted_jobs_run_is_accepted(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        await accept(conn, run_now(job_id))
        await accept(conn, job_command(DeleteJob, job_id))

        assert (await accept(conn, stop_run(job_id, 1))).payload.run_id == 1

    async def test_stop_is_refused_for_an_ended_or_unknown_run(self, conn: Conn) -> None:
        job_id = await given_active_job(conn)
        await accept(conn, run_now(job_id))
        await run_ended(conn, job_id, 1)

        ended = await reject(conn, stop_run(job_id, 1))
        unknown = await reject(conn, stop_run(job_id, 2))
        no_job = await reject(conn, stop_run(404, 1))

        assert (ended.payload.code, ended.payload.reason, ended.payload.message) == (
            "invalid_state",
            "RUN_NOT_RUNNING",
            f"run {job_id}.1 already ended",
        )
        assert (unknown.payload.code, unknown.payload.reason) == ("not_found", "RUN_NOT_FOUND")
        assert (no_job.payload.code, no_job.payload.reason) == ("not_found", "JOB_NOT_FOUND")
