"""The live projector against real Kafka and PostgreSQL: read models, exactly-once, restarts."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from connect_catalog.config import CatalogSettings
from tests.integration.catalog.catalog_it import eventually, log_lines, new_job_id, publish, run_row, running
from tests.unit.catalog.catalog_builders import (
    T0,
    command_accepted,
    command_rejected,
    job_activated,
    job_created,
    run_failed,
    run_progressed,
    run_requested,
    run_started,
    run_succeeded,
    table_defined,
)

pytestmark = pytest.mark.integration


async def test_projects_jobs_tables_and_runs(
    catalog_settings: CatalogSettings, catalog_dsn: str, db: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    job = new_job_id()
    table = f"Orders_{job}"
    await publish(
        producer,
        job_created(job, name=f"Job {job}"),
        job_activated(job, version=2),
        table_defined(table),
        run_requested(job, 1),
        run_started(job_id=job, run_id=1),
        run_progressed(job_id=job, run_id=1, rows=5),
        run_succeeded(job_id=job, run_id=1),
        run_progressed(job_id=job, run_id=1, rows=99),  # late: must not touch the finished run
        run_requested(job, 2),  # same partition, after the late progress: once seen, everything was
    )
    async with running(catalog_settings, catalog_dsn):
        await eventually(lambda: run_row(db, job, 2), lambda row: row is not None)
        await eventually(lambda: db.fetchrow("SELECT * FROM jobs WHERE job_id = $1", job), lambda r: r is not None)
        await eventually(lambda: db.fetchval("SELECT spec FROM tables WHERE name = $1", table), lambda s: s)

    row = await db.fetchrow("SELECT * FROM jobs WHERE job_id = $1", job)
    assert row is not None
    assert (row["name"], row["state"], row["version"], row["job_type"], row["schedule_type"]) == (
        f"Job {job}", "active", 2, "import_custom_table", "on_demand",
    )  # fmt: skip
    assert (row["created_by"], row["deleted"], row["last_run_id"]) == ("alice", False, 2)
    assert json.loads(row["definition"])["name"] == f"Job {job}"
    spec = await db.fetchval("SELECT spec FROM tables WHERE name = $1", table)
    assert json.loads(spec)["primary_key"] == ["id"]

    run = await run_row(db, job, 1)
    assert run is not None
    assert (run["status"], run["job_name"], run["trigger"], run["attempt"], run["runner"]) == (
        "succeeded", "Nightly orders", "manual", 1, "runner-a",
    )  # fmt: skip
    assert (run["rows_read"], run["inserted"], run["rejected"], run["duration_ms"]) == (10, 6, 1, 90_250)
    assert await log_lines(db, job, 1) == [
        ("INFO", "Run requested (manual)"),
        ("INFO", "Started attempt 1 on runner-a"),
        ("INFO", "Succeeded: 10 rows read, 6 inserted, 2 updated, 1 unchanged, 1 rejected"),
    ]


async def test_an_event_published_twice_is_applied_once(
    catalog_settings: CatalogSettings, catalog_dsn: str, db: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    job = new_job_id()
    requested, failed = run_requested(job, 1), run_failed(job_id=job, run_id=1)
    # What an outbox relay does after a crash between publishing and deleting its batch.
    await publish(producer, requested, run_started(job_id=job, run_id=1), requested, failed, failed)
    async with running(catalog_settings, catalog_dsn):
        await eventually(lambda: run_row(db, job, 1), lambda row: row is not None and row["status"] == "failed")
        await eventually(lambda: log_lines(db, job, 1), lambda lines: len(lines) >= 3)
    assert await log_lines(db, job, 1) == [
        ("INFO", "Run requested (manual)"),
        ("INFO", "Started attempt 1 on runner-a"),
        ("ERROR", "Failed (FILE_NOT_FOUND): no file matching x"),
    ]


async def test_a_restart_continues_from_the_stored_offsets(
    catalog_settings: CatalogSettings, catalog_dsn: str, db: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    job = new_job_id()
    await publish(producer, run_requested(job, 1), run_started(job_id=job, run_id=1))
    async with running(catalog_settings, catalog_dsn):
        await eventually(lambda: run_row(db, job, 1), lambda row: row is not None and row["status"] == "running")

    # Forget which events were applied: only the stored offsets now keep old records from being re-applied.
    await db.execute("TRUNCATE processed_events")
    await publish(producer, run_succeeded(job_id=job, run_id=1), run_requested(job, 2))
    async with running(catalog_settings, catalog_dsn):
        await eventually(lambda: run_row(db, job, 2), lambda row: row is not None)

    assert [message for _, message in await log_lines(db, job, 1)] == [
        "Run requested (manual)",
        "Started attempt 1 on runner-a",
        "Succeeded: 10 rows read, 6 inserted, 2 updated, 1 unchanged, 1 rejected",
    ]
    assert await log_lines(db, job, 2) == [("INFO", "Run requested (manual)")]


async def test_projects_command_outcomes(
    catalog_settings: CatalogSettings, catalog_dsn: str, db: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    job = new_job_id()
    accepted, refused = command_accepted(job_id=job, run_id=3), command_rejected()
    await publish(producer, accepted, refused, refused)  # the relay may publish a reply twice
    async with running(catalog_settings, catalog_dsn):
        await eventually(lambda: command_row(db, refused.payload.command_id), lambda row: row is not None)
        await eventually(lambda: command_row(db, accepted.payload.command_id), lambda row: row is not None)

    assert await command_row(db, accepted.payload.command_id) == {
        "command_id": accepted.payload.command_id, "command_type": "job.run_now", "status": "accepted",
        "target_type": "job", "target_id": str(job), "target_version": 2, "run_id": 3, "code": None,
        "message": None, "errors": [], "replied_at": T0, "reason": None,
    }  # fmt: skip
    row = await command_row(db, refused.payload.command_id)
    assert row is not None
    assert (row["status"], row["code"], row["message"], row["target_id"], row["run_id"]) == (
        "rejected", "validation", "the job has 2 error(s)", None, None,
    )  # fmt: skip
    assert row["errors"] == [
        {"field": "name", "message": "a job named X already exists"},
        {"field": "settings.table", "message": "no table named Nope"},
    ]


async def command_row(db: asyncpg.Pool, command_id: UUID) -> dict[str, Any] | None:
    row = await db.fetchrow("SELECT * FROM commands WHERE command_id = $1", command_id)
    if row is None:
        return None
    return {**dict(row), "errors": json.loads(row["errors"])}
