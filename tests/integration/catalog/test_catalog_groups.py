"""Group read models against real PostgreSQL: projected by the catalog's store, read by the gateway's.

Events go through the use case (`project_event`) one transaction each, as the consumer applies them; the
gateway's `PgReadStore` then reads the same database, so the two agree on the tables they share.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import asyncpg
import pytest

from connect_catalog.adapters.schema import catalog_ddl
from connect_catalog.adapters.store import PostgresReadModel
from connect_catalog.handlers import project_event
from connect_events import Event, RunStatus
from connect_gateway.adapters.catalog import PgReadStore
from connect_gateway.domain.listing import Sort
from connect_gateway.read_models import GroupQuery, GroupRunQuery, JobQuery
from tests.databases import throwaway_pool
from tests.unit.catalog.catalog_builders import (
    T0,
    job_created,
    run_failed,
    run_requested,
    run_started,
    run_succeeded,
)
from tests.unit.catalog.group_builders import (
    DAILY,
    group_created,
    group_deleted,
    group_run_ended,
    group_run_requested,
    group_stop_requested,
    group_updated,
    member_requested,
)

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with throwaway_pool(database_url, f"catalog_groups_{uuid4().hex[:8]}", catalog_ddl()) as pool:
        yield pool


async def feed(db: asyncpg.Pool, *events: Event) -> None:
    for event in events:
        async with db.acquire() as conn, conn.transaction():
            await project_event(PostgresReadModel(conn), event)


async def test_a_group_run_links_its_member_runs_and_the_jobs_show_their_group(db: asyncpg.Pool) -> None:
    reads = PgReadStore(db)
    await feed(
        db, job_created(1042), job_created(1043, "Second"),
        group_created(schedule=DAILY, next_run_at=T0 + HOUR), group_run_requested(),
        member_requested(0, 7, 2), run_requested(1042, 7), run_started(1, 1042, 7), run_succeeded(1042, 7, T0, 3),
        member_requested(1, 3, 3), run_requested(1043, 3), run_failed(1043, 3, T0, 2),
        group_run_ended(4, RunStatus.FAILED, failed=(1043, 3), error="no file matching x"),
    )  # fmt: skip
    jobs = (await reads.list_jobs(JobQuery())).items
    assert {j.job_id: j.group_id for j in jobs} == {1042: 31, 1043: 31}
    group = await reads.get_group(31)
    assert group is not None
    assert (group.definition.members, group.next_run_at, group.last_run_id, group.running_run_id) == (
        (1042, 1043), T0 + HOUR, 4, None,
    )  # fmt: skip
    run = await reads.get_group_run(31, 4)
    assert run is not None
    assert (run.status, run.failed_job_id, run.failed_run_id, run.duration_ms) == ("failed", 1043, 3, 300_000)
    assert [(m.job_id, m.run_id, m.status) for m in run.members] == [(1042, 7, "succeeded"), (1043, 3, "failed")]
    log = [line.message for line in await reads.group_run_log(31, 4)]
    assert log == [
        "Group run requested (manual); members 1042, 1043",
        "Member 1 started as run 1042.7",
        "Member 2 started as run 1043.3",
        "Failed at 1043.3: no file matching x; the rest did not start",
    ]


async def test_groups_list_sorted_and_their_runs_newest_first(db: asyncpg.Pool) -> None:
    reads = PgReadStore(db)
    await feed(
        db, group_created(group_id=41, members=(2001, 2002)),
        group_run_requested(41, 1), group_stop_requested(2, run_id=1, group_id=41),
        group_run_ended(3, RunStatus.STOPPED, run_id=1, group_id=41),
        group_created(group_id=42, members=(2003, 2004), at=T0 + HOUR),
        group_updated(group_id=42, version=2, members=(2004, 2003), at=T0 + 2 * HOUR),
    )  # fmt: skip
    newest = Sort("created_at", descending=True)
    page = await reads.list_groups(GroupQuery(sort=newest, limit=1))
    assert [g.group_id for g in page.items] == [42] and page.next is not None
    rest = await reads.list_groups(GroupQuery(sort=newest, after=page.next))
    assert 41 in [g.group_id for g in rest.items] and 42 not in [g.group_id for g in rest.items]
    assert [g.group_id for g in (await reads.list_groups(GroupQuery(q="RENAMED"))).items] == [42]
    runs = await reads.list_group_runs(41, GroupRunQuery())
    assert runs is not None
    assert [(r.run_id, r.status, r.stop_requested) for r in runs.items] == [(1, "stopped", True)]
    updated = await reads.get_group(42)
    assert updated is not None and (updated.name, updated.definition.members) == ("Renamed", (2004, 2003))


async def test_a_deleted_group_leaves_the_tab_frees_its_jobs_and_keeps_its_runs(db: asyncpg.Pool) -> None:
    reads = PgReadStore(db)
    skipped = group_run_ended(1, RunStatus.SKIPPED, run_id=1, error="group run 51.0 was still running", group_id=51)
    await feed(db, job_created(3001), group_created(group_id=51, members=(3001, 3002)), skipped)
    await feed(db, group_deleted(group_id=51, version=2, reason="expired"))
    assert await reads.get_group(51) is None
    assert [j.group_id for j in (await reads.list_jobs(JobQuery(q="Nightly"))).items if j.job_id == 3001] == [None]
    runs = await reads.list_group_runs(51, GroupRunQuery())
    assert runs is not None
    assert [(r.run_id, r.status, r.group_name) for r in runs.items] == [(1, "skipped", "Nightly chain")]
    assert await reads.list_group_runs(99, GroupRunQuery()) is None
