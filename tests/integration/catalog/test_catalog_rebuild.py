"""Rebuilding the read models from offset 0 yields the live tables, and the projector continues after it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from connect_catalog.adapters.schemas import ProjectorRunningError
from connect_catalog.bootstrap import rebuild
from connect_catalog.config import CatalogSettings
from tests.integration.catalog.catalog_it import (
    eventually,
    log_lines,
    new_job_id,
    publish,
    run_row,
    running,
    stored_offsets,
    wait_caught_up,
)
from tests.unit.catalog.catalog_builders import (
    T0,
    command_accepted,
    command_rejected,
    job_activated,
    job_created,
    job_deactivated,
    job_deleted,
    job_updated,
    run_failed,
    run_progressed,
    run_requested,
    run_skipped,
    run_started,
    run_stop_requested,
    run_stopped,
    run_succeeded,
    scheduled_run_requested,
    table_defined,
)

pytestmark = pytest.mark.integration

READ_MODELS = {
    "jobs": "SELECT * FROM jobs ORDER BY job_id",
    "tables": "SELECT * FROM tables ORDER BY name",
    "runs": "SELECT * FROM runs ORDER BY job_id, run_id",
    # seq is a sequence number: only the order of a run's lines matters, not its values.
    "run_log": "SELECT job_id, run_id, at, level, message FROM run_log ORDER BY job_id, run_id, seq",
    "commands": "SELECT * FROM commands ORDER BY command_id",
    "job_history": "SELECT * FROM job_history ORDER BY job_id, version",
    "job_next_runs": "SELECT * FROM job_next_runs ORDER BY job_id",
    "processed_events": "SELECT event_id FROM processed_events ORDER BY event_id",
}


async def read_models(db: asyncpg.Pool) -> dict[str, list[tuple[Any, ...]]]:
    return {name: [tuple(row) for row in await db.fetch(sql)] for name, sql in READ_MODELS.items()}


def history(job: int, other: int) -> list[Any]:
    """A bit of everything: edits, a deletion, retries, duplicates, late progress, all three endings, a stop that
    came too late, replies."""
    retry_at = T0 + timedelta(minutes=5)
    duplicate = run_requested(job, 2)
    refused = command_rejected()
    return [
        command_accepted(job_id=job, run_id=1), refused, refused,
        job_created(job, name=f"Job {job}"), job_updated(job, version=2), job_activated(job, version=3),
        job_deactivated(job, version=4), job_created(other), job_deleted(other, version=2),
        table_defined(f"T_{job}"),
        run_requested(job, 1), run_started(job_id=job, run_id=1), run_progressed(job_id=job, run_id=1),
        run_started(attempt=2, job_id=job, run_id=1, started_at=retry_at, version=3), run_stop_requested(job, 1),
        run_succeeded(job_id=job, run_id=1, started_at=retry_at, version=5),
        run_progressed(job_id=job, run_id=1, rows=77, version=6),
        duplicate, run_started(job_id=job, run_id=2), duplicate, run_failed(job_id=job, run_id=2),
        run_requested(job, 3), run_stop_requested(job, 3), run_stopped(job_id=job, run_id=3),
        scheduled_run_requested(job, 4, missed_fires=2, next_run_at=retry_at), run_skipped(job, 5, running_run_id=4),
    ]  # fmt: skip


async def test_a_rebuild_yields_the_live_tables_and_the_projector_continues(
    catalog_settings: CatalogSettings, catalog_dsn: str, db: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    job, other = new_job_id(), new_job_id()
    await publish(producer, *history(job, other))
    async with running(catalog_settings, catalog_dsn):
        await wait_caught_up(db, catalog_settings)
    live = await read_models(db)
    assert (job, 4) in {(r[0], r[1]) for r in live["runs"]}
    assert str(job) in {r[4] for r in live["commands"]}
    assert [r[1] for r in live["job_history"] if r[0] == job] == [1, 2, 3, 4]
    assert job in {r[0] for r in live["job_next_runs"]}

    result = await rebuild(catalog_settings)

    assert await read_models(db) == live
    assert await stored_offsets(db, catalog_settings.consumer_group) == result.end_offsets
    assert result.replaced_schema is not None
    kept = await db.fetchval(f'SELECT count(*) FROM "{result.replaced_schema}".runs')
    assert kept == len(live["runs"])
    await db.execute(f'DROP SCHEMA "{result.replaced_schema}" CASCADE')

    # After the swap the projector resumes at the rebuild's end offsets: new events apply, old ones do not.
    await publish(producer, run_started(job_id=job, run_id=4), run_succeeded(job_id=job, run_id=4))
    async with running(catalog_settings, catalog_dsn):
        await eventually(lambda: run_row(db, job, 4), lambda row: row is not None and row["status"] == "succeeded")
    assert len(await log_lines(db, job, 4)) == 4  # requested, fires missed, started, succeeded
    assert len(await log_lines(db, job, 2)) == 3


async def test_the_swap_is_refused_while_a_projector_runs(
    catalog_settings: CatalogSettings, catalog_dsn: str, db: asyncpg.Pool
) -> None:
    before = await read_models(db)
    async with running(catalog_settings, catalog_dsn):
        with pytest.raises(ProjectorRunningError):
            await rebuild(catalog_settings, drop_old=True)
    assert await read_models(db) == before
    leftovers = await db.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild\\_%'")
    assert leftovers == 0


async def test_privileges_on_the_read_models_survive_a_rebuild(
    catalog_settings: CatalogSettings, catalog_dsn: str, db: asyncpg.Pool
) -> None:
    role = f"catalog_reader_{uuid4().hex[:8]}"
    await db.execute(f'CREATE ROLE "{role}"')
    try:
        await db.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"; GRANT SELECT ON jobs, runs TO "{role}"')
        await rebuild(catalog_settings, drop_old=True)
        privileges = await db.fetchrow(
            "SELECT has_schema_privilege($1, 'public', 'USAGE') AS usage,"
            " has_table_privilege($1, 'public.jobs', 'SELECT') AS jobs,"
            " has_table_privilege($1, 'public.tables', 'SELECT') AS tables",
            role,
        )
        assert privileges is not None
        assert (privileges["usage"], privileges["jobs"], privileges["tables"]) == (True, True, False)
    finally:
        await db.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')
