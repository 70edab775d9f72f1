"""Two catalog instances projecting a job's events from different topics at the same time."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from connect_catalog.adapters.store import PostgresReadModel
from connect_catalog.handlers import project_event
from connect_events import Event
from tests.integration.catalog.catalog_it import new_job_id, wait_blocked
from tests.unit.catalog.catalog_builders import job_created, run_requested

pytestmark = pytest.mark.integration


async def project_in_transaction(conn: asyncpg.Connection, event: Event) -> None:
    async with conn.transaction():
        await project_event(PostgresReadModel(conn), event)


@pytest.mark.parametrize("first", ["run", "job"])
async def test_last_run_id_survives_a_job_and_its_run_projected_at_once(
    catalog_dsn: str, db: asyncpg.Pool, first: str
) -> None:
    # connect.jobs and connect.runs may be consumed by two instances: each transaction starts before the
    # other commits, so neither sees the other's row unless they are serialised.
    job = new_job_id()
    events = {"job": job_created(job), "run": run_requested(job, 1)}
    second = "job" if first == "run" else "run"
    one, two = await asyncpg.connect(catalog_dsn), await asyncpg.connect(catalog_dsn)
    try:
        open_tx = one.transaction()
        await open_tx.start()
        await project_event(PostgresReadModel(one), events[first])
        other = asyncio.create_task(project_in_transaction(two, events[second]))
        await wait_blocked(db, two.get_server_pid(), other)
        await open_tx.commit()
        await other
    finally:
        await one.close()
        await two.close()

    assert await db.fetchval("SELECT last_run_id FROM jobs WHERE job_id = $1", job) == 1
