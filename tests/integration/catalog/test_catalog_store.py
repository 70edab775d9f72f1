"""The catalog store's statements against real PostgreSQL: the lifecycle read models an event sequence leaves.

Events are applied through the use case (`project_event`) on a `PostgresReadModel`, one transaction each, as
the consumer does; no Kafka is involved.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import asyncpg
import pytest

from connect_catalog.adapters.schema import catalog_ddl
from connect_catalog.adapters.store import PostgresReadModel
from connect_catalog.handlers import project_event
from connect_events import (
    AudienceDefined,
    AudienceUpdated,
    ColumnSpec,
    ColumnType,
    Daily,
    Event,
    FieldError,
    RunCounts,
)
from tests.databases import throwaway_pool
from tests.unit.catalog.catalog_builders import (
    T0,
    TOTAL,
    audience_deleted,
    audience_event,
    definition,
    job_activated,
    job_created,
    job_deactivated,
    job_deleted,
    job_updated,
    list_column_added,
    list_defined,
    pet_column_added,
    pet_defined,
    run_logged,
    run_requested,
    run_skipped,
    run_started,
    run_stop_requested,
    run_succeeded,
    scheduled_run_requested,
)

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with throwaway_pool(database_url, f"catalog_store_{uuid4().hex[:8]}", catalog_ddl()) as pool:
        yield pool


async def feed(db: asyncpg.Pool, *events: Event) -> None:
    for event in events:
        async with db.acquire() as conn, conn.transaction():
            await project_event(PostgresReadModel(conn), event)


job_ids = iter(range(1000, 2000))


async def test_a_job_keeps_its_draft_errors_copy_source_and_history(db: asyncpg.Pool) -> None:
    job = next(job_ids)
    errors = (FieldError(field="settings.table", message="no table named Nope"),)
    daily = definition("Edited").model_copy(update={"schedule": Daily(time=T0.time())})
    await feed(
        db,
        job_created(job, errors=errors, copied_from=41),
        job_updated(job, version=2, new=daily, at=T0 + HOUR),
        job_activated(job, version=3, at=T0 + 2 * HOUR),
        job_deactivated(job, version=4, at=T0 + 3 * HOUR),
        job_deleted(job, version=5, at=T0 + 4 * HOUR, reason="user"),
    )
    row = await db.fetchrow("SELECT errors, copied_from, deleted, deleted_reason FROM jobs WHERE job_id = $1", job)
    assert row is not None
    assert (row["copied_from"], row["deleted"], row["deleted_reason"]) == (41, True, "user")
    assert json.loads(row["errors"]) == []  # the edit was saved without errors
    history = await db.fetch(
        "SELECT version, at, actor, what, reason, copied_from, changed FROM job_history WHERE job_id = $1 "
        "ORDER BY version",
        job,
    )
    assert [(h["version"], h["what"], h["actor"], h["reason"], h["copied_from"]) for h in history] == [
        (1, "copied", "alice", None, 41), (2, "updated", "alice", None, None), (3, "activated", "alice", None, None),
        (4, "deactivated", "alice", None, None), (5, "deleted", "alice", "user", None),
    ]  # fmt: skip
    assert json.loads(history[1]["changed"]) == ["name", "schedule"]
    assert history[4]["at"] == T0 + 4 * HOUR


async def test_a_draft_job_row_holds_its_errors(db: asyncpg.Pool) -> None:
    job = next(job_ids)
    errors = (FieldError(field="schedule.time_zone", message="no time zone named Mars/Olympus"),)
    await feed(db, job_created(job, errors=errors))
    stored = await db.fetchval("SELECT errors FROM jobs WHERE job_id = $1", job)
    assert json.loads(stored) == [{"field": "schedule.time_zone", "message": "no time zone named Mars/Olympus"}]


@pytest.mark.parametrize("runs_first", [False, True], ids=["jobs first", "runs first"])
async def test_next_and_previous_run_do_not_depend_on_topic_order(db: asyncpg.Pool, runs_first: bool) -> None:
    job = next(job_ids)
    fire = T0 + HOUR
    job_events = [job_created(job), job_activated(job, version=2, next_run_at=fire)]
    run_events = [
        run_requested(job, 1, at=T0 + timedelta(minutes=5)),
        scheduled_run_requested(job, 2, at=fire, scheduled_for=fire, next_run_at=fire + 24 * HOUR),
    ]
    await feed(db, *(run_events + job_events if runs_first else job_events + run_events))
    row = await db.fetchrow("SELECT last_run_id, previous_run_at FROM jobs WHERE job_id = $1", job)
    assert row is not None and (row["last_run_id"], row["previous_run_at"]) == (2, fire)
    assert await db.fetchval("SELECT next_run_at FROM job_next_runs WHERE job_id = $1", job) == fire + 24 * HOUR


async def test_deleting_a_job_leaves_nothing_scheduled(db: asyncpg.Pool) -> None:
    job = next(job_ids)
    await feed(db, job_created(job), job_activated(job, version=2, next_run_at=T0 + HOUR))
    await feed(db, job_deleted(job, version=3, at=T0 + timedelta(minutes=1)))
    assert await db.fetchval("SELECT next_run_at FROM job_next_runs WHERE job_id = $1", job) is None


async def test_a_skipped_fire_and_a_stop_request_are_in_the_runs_and_the_log(db: asyncpg.Pool) -> None:
    job = next(job_ids)
    await feed(
        db,
        job_created(job),
        run_requested(job, 1),
        run_started(job_id=job, run_id=1),
        run_skipped(job, 2, running_run_id=1, at=T0 + HOUR),
        run_stop_requested(job, 1),
        run_succeeded(job_id=job, run_id=1),
        run_stop_requested(job, 1, at=T0 + 2 * HOUR),
    )
    skipped = await db.fetchrow("SELECT status, scheduled_for FROM runs WHERE job_id = $1 AND run_id = 2", job)
    assert skipped is not None and (skipped["status"], skipped["scheduled_for"]) == ("skipped", T0 + HOUR)
    lines = [
        r["message"] for r in await db.fetch("SELECT message FROM run_log WHERE job_id = $1 ORDER BY run_id, seq", job)
    ]
    assert lines == [
        "Run requested (manual)",
        "Started attempt 1 on runner-a",
        "Stop requested by alice",
        "Succeeded: 10 rows read, 6 inserted, 2 updated, 1 unchanged, 1 rejected",
        "The stop came after the load had committed; the run succeeded and its data stays.",
        "Stop requested by alice after the run had ended; nothing changed",
        f"Skipped: run {job}.1 was still running",
    ]
    ended = await db.fetchrow("SELECT status, stop_requested FROM runs WHERE job_id = $1 AND run_id = 1", job)
    assert ended is not None and (ended["status"], ended["stop_requested"]) == ("succeeded", True)


async def test_a_member_run_names_its_group_run(db: asyncpg.Pool) -> None:
    job = next(job_ids)
    await feed(db, scheduled_run_requested(job, 1, group_run=(12, 3)))
    row = await db.fetchrow("SELECT group_id, group_run_id FROM runs WHERE job_id = $1", job)
    assert row is not None and (row["group_id"], row["group_run_id"]) == (12, 3)


async def test_a_dry_run_is_marked_and_its_execution_log_kept(db: asyncpg.Pool) -> None:
    job = next(job_ids)
    await feed(
        db,
        run_requested(job, 1, dry_run=True),
        run_started(job_id=job, run_id=1),
        run_logged("File found: upload/orders.csv (2 KB)", job_id=job, run_id=1),
        run_logged("2 rows would be rejected", "WARN", job_id=job, run_id=1),
        run_succeeded(job_id=job, run_id=1),
        run_logged("Archived to archive/orders.csv", job_id=job, run_id=1),  # the runner archives after the end
        run_requested(job, 2),
    )
    rows = await db.fetch("SELECT run_id, dry_run FROM runs WHERE job_id = $1 ORDER BY run_id", job)
    assert [(r["run_id"], r["dry_run"]) for r in rows] == [(1, True), (2, False)]
    lines = await db.fetch("SELECT level, message FROM run_log WHERE job_id = $1 AND run_id = 1 ORDER BY seq", job)
    assert [(r["level"], r["message"]) for r in lines] == [
        ("INFO", "Dry run requested (manual)"),
        ("INFO", "Started attempt 1 on runner-a"),
        ("INFO", "File found: upload/orders.csv (2 KB)"),
        ("WARN", "2 rows would be rejected"),
        ("INFO", "Succeeded: 10 rows read, 6 inserted, 2 updated, 1 unchanged, 1 rejected"),
        ("INFO", "Archived to archive/orders.csv"),
    ]


async def test_the_ddl_upgrades_a_catalog_made_before_the_lifecycle(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        upgrade = conn.transaction()  # rolled back: DDL is transactional, the module's database stays as it was
        await upgrade.start()
        try:
            for table, column in [("jobs", "errors"), ("jobs", "previous_run_at"), ("runs", "scheduled_for"),
                                  ("runs", "stop_requested"), ("runs", "dry_run"), ("commands", "reason")]:  # fmt: skip
                await conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
            await conn.execute("DROP TABLE job_history")
            await conn.execute(catalog_ddl())
            await conn.execute(catalog_ddl())  # and is idempotent
            assert await conn.fetchval("SELECT count(*) FROM job_history") == 0
            assert await conn.fetchval("SELECT bool_or(dry_run) FROM runs") is False  # earlier runs: not dry runs
            assert await conn.fetchval("SELECT count(*) FROM jobs WHERE errors = '[]'") == await conn.fetchval(
                "SELECT count(*) FROM jobs"
            )
        finally:
            await upgrade.rollback()


async def test_lists_and_pets_grow_a_column_at_a_time(db: asyncpg.Pool) -> None:
    score = ColumnSpec(name="SCORE", type=ColumnType.INTEGER)
    added = list_column_added(score)
    await feed(db, list_defined(), pet_defined(), added, added, pet_column_added(score, at=T0 + HOUR))

    members = await db.fetchrow("SELECT name, columns, version, defined_by FROM lists WHERE lower(name) = 'members'")
    assert members is not None
    assert (members["name"], members["version"], members["defined_by"]) == ("Members", 2, "alice")
    assert [c["name"] for c in json.loads(members["columns"])] == ["FIRST_NAME", "SCORE"]
    orders = await db.fetchrow("SELECT list_name, columns, version, updated_at FROM pets WHERE name = 'Orders'")
    assert orders is not None
    assert (orders["list_name"], orders["version"], orders["updated_at"]) == ("Members", 2, T0 + HOUR)
    assert json.loads(orders["columns"]) == [json.loads(TOTAL.model_dump_json()), json.loads(score.model_dump_json())]


async def test_a_profile_runs_skipped_rows_and_duplicates_are_stored_and_logged(db: asyncpg.Pool) -> None:
    job = next(job_ids)
    counts = RunCounts(rows_read=5, inserted=1, skipped=2, duplicates=2)
    succeeded = run_succeeded(job, 1)
    ended = succeeded.model_copy(update={"payload": succeeded.payload.model_copy(update={"counts": counts})})
    await feed(db, run_requested(job, 1), run_started(job_id=job, run_id=1), ended)

    row = await db.fetchrow("SELECT skipped, duplicates FROM runs WHERE job_id = $1 AND run_id = 1", job)
    assert row is not None and (row["skipped"], row["duplicates"]) == (2, 2)
    last = await db.fetchval("SELECT message FROM run_log WHERE job_id = $1 ORDER BY seq DESC LIMIT 1", job)
    assert last == "Succeeded: 5 rows read, 1 inserted, 0 updated, 0 unchanged, 0 rejected, 2 skipped, 2 duplicates"


async def test_an_audience_is_replaced_whole_removed_and_defined_again(db: asyncpg.Pool) -> None:
    async def row() -> tuple[str, int, str] | None:
        found = await db.fetchrow("SELECT name, version, spec FROM audiences WHERE key = 'gold'")
        if found is None:
            return None
        return found["name"], found["version"], json.loads(found["spec"])["filter"]["conditions"][0]["values"][0]

    await feed(db, audience_event(AudienceDefined, 1), audience_event(AudienceUpdated, 2, city="Oslo"))
    assert await row() == ("Gold", 2, "Oslo")
    await feed(db, audience_event(AudienceUpdated, 2, city="Rome"))  # not newer: changes nothing
    assert await row() == ("Gold", 2, "Oslo")
    await feed(db, audience_deleted(3))
    assert await row() is None
    await feed(db, audience_event(AudienceDefined, 4, name="GOLD", city="Rome"))
    assert await row() == ("GOLD", 4, "Rome")
