"""The catalog read store against real PostgreSQL, on the catalog service's own schema file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from connect_devstack import demo
from connect_events import (
    ColumnMapping,
    ColumnSpec,
    ColumnType,
    FieldError,
    ImportCustomTable,
    JobDefinition,
    SftpLocation,
    TableSpec,
)
from connect_gateway.adapters.catalog import PgReadStore
from connect_gateway.domain.listing import Position, Sort, Value, encode_cursor
from connect_gateway.entrypoints.http.app import create_app
from connect_gateway.ports import Deps, ReadModelsUnavailableError
from connect_gateway.read_models import CommandRecord, HistoryQuery, JobQuery, Page, RunQuery
from connect_runtime.db import ensure_database
from connect_runtime.settings import database_dsn
from tests.databases import drop_databases
from tests.unit.gateway.gateway_fakes import FakeBus, FakeCredentials, FakeHostKeys
from tests.unit.gateway.identity_fake import FastHasher, InMemoryIdentityStore, seed_admin

pytestmark = pytest.mark.integration

# Read, not imported: services never import each other, but the gateway must match the catalog's tables.
SCHEMA = Path(__file__).parents[3] / "services/catalog/src/connect_catalog/adapters/schema.sql"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
RAN = UUID("00000000-0000-0000-0000-0000000000a1")
REFUSED = UUID("00000000-0000-0000-0000-0000000000a2")


def definition(name: str) -> JobDefinition:
    source = SftpLocation(
        host="sftp.example.com",
        user="acme",
        path="upload/a.csv",
        credential_ref=uuid4(),
        host_key="ssh-ed25519 AAAAkey",
        host_key_fingerprint="SHA256:abc",
    )
    settings = ImportCustomTable(source=source, table="Stores", mapping=(ColumnMapping(source="id", target="ID"),))
    return JobDefinition(name=name, settings=settings)


@pytest.fixture(scope="module")
async def catalog(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    name = f"gwcat_{uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(await ensure_database(database_url, name), min_size=1, max_size=2)
    await pool.execute(SCHEMA.read_text())
    await seed(pool)
    yield pool
    await pool.close()
    await drop_databases(database_url, name)


async def seed(pool: asyncpg.Pool) -> None:
    spec = TableSpec(name="Stores", columns=(ColumnSpec(name="ID", type=ColumnType.INTEGER),), primary_key=("ID",))
    await pool.execute(
        "INSERT INTO tables VALUES ($1, $2::jsonb, $3, $4)", spec.name, spec.model_dump_json(), T0, "ann"
    )
    jobs = [
        (1, "Stores 100%", "active", False, "daily", T0 + timedelta(hours=2)),
        (2, "Stores_daily", "inactive", False, "on_demand", None),
        (3, "Gone", "inactive", True, "on_demand", None),
        (4, "stores weekly", "active", False, "weekly", T0 + timedelta(hours=1)),
    ]
    errors = json.dumps([{"field": "settings.table", "message": "no table named Nope"}])
    for job_id, name, state, deleted, schedule_type, next_run_at in jobs:
        await pool.execute(
            """INSERT INTO jobs (job_id, name, description, job_type, state, schedule_type, definition, version,
                   created_at, created_by, updated_at, updated_by, deleted, last_run_id, previous_run_at, errors)
               VALUES ($1, $2, '', 'import_custom_table', $3, $7, $4::jsonb, 2,
                       $5, 'ann', $5, 'bob', $6, 1, $5, $8::jsonb)""",
            job_id,
            name,
            state,
            definition(name).model_dump_json(),
            T0,
            deleted,
            schedule_type,
            errors if job_id == 2 else "[]",
        )
        await pool.execute("INSERT INTO job_next_runs VALUES ($1, $2, $3)", job_id, next_run_at, T0)
    for version, what in [(1, "created"), (2, "updated"), (3, "deleted")]:
        await pool.execute(
            """INSERT INTO job_history (job_id, version, at, actor, what, reason, changed)
               VALUES (3, $1, $2, 'dora', $3, $4, $5::jsonb)""",
            version,
            T0 + timedelta(minutes=version),
            what,
            "user" if what == "deleted" else None,
            json.dumps(["settings.mapping"] if what == "updated" else []),
        )
    for job_id, run_id, status, minutes in [
        (1, 1, "succeeded", 0),
        (1, 2, "failed", 10),
        (3, 1, "succeeded", 5),
        (4, 1, "running", 7),
    ]:
        await pool.execute(
            """INSERT INTO runs (job_id, run_id, job_name, status, trigger, attempt, rows_read, inserted,
                   requested_at, started_at, finished_at, duration_ms, error_code, error)
               VALUES ($1, $2, 'job', $3, 'manual', 1, 10, 9,
                       $4, $4, $4::timestamptz + interval '2 seconds', $7, $5, $6)""",
            job_id,
            run_id,
            status,
            T0 + timedelta(minutes=minutes),
            "LOAD_FAILED" if status == "failed" else None,
            "boom" if status == "failed" else None,
            None if status == "running" else 2000,
        )
    await pool.execute(
        """INSERT INTO commands (command_id, command_type, status, target_type, target_id, target_version,
               run_id, replied_at)
           VALUES ($1, 'job.run_now', 'accepted', 'job', '1', 2, 3, $2)""",
        RAN,
        T0,
    )
    errors = [{"field": "settings.mapping[0].target", "message": "no column X"}]
    await pool.execute(
        """INSERT INTO commands (command_id, command_type, status, code, message, errors, replied_at)
           VALUES ($1, 'job.create', 'rejected', 'validation', '1 error', $2::jsonb, $3)""",
        REFUSED,
        json.dumps(errors),
        T0,
    )
    for message in ("file found", "loaded"):
        await pool.execute(
            "INSERT INTO run_log (job_id, run_id, at, level, message) VALUES (1, 2, $1, 'INFO', $2)", T0, message
        )


async def test_tables(catalog: asyncpg.Pool) -> None:
    store = PgReadStore(catalog)
    [table] = await store.list_tables()
    assert table.spec.name == "Stores" and table.defined_by == "ann"
    assert (await store.get_table("STORES")) == table
    assert await store.get_table("nope") is None


def ids(page: Page[Any]) -> list[Any]:
    return [getattr(row, "job_id", None) or row.version for row in page.items]


async def test_jobs(catalog: asyncpg.Pool) -> None:
    store = PgReadStore(catalog)
    assert ids(await store.list_jobs(JobQuery())) == [1, 2, 4]  # deleted job 3 hidden
    assert ids(await store.list_jobs(JobQuery(state="inactive"))) == [2]
    assert ids(await store.list_jobs(JobQuery(q="100%"))) == [1]  # % is literal
    assert ids(await store.list_jobs(JobQuery(q="s_1"))) == []  # _ is literal, not "any char"
    assert ids(await store.list_jobs(JobQuery(q="s_d"))) == [2]
    assert ids(await store.list_jobs(JobQuery(q="STORES"))) == [1, 2, 4]
    assert ids(await store.list_jobs(JobQuery(schedule_type="weekly"))) == [4]
    job = await store.get_job(1)
    assert job is not None
    assert (job.version, job.updated_by, job.last_run_id) == (2, "bob", 1)
    assert (job.next_run_at, job.previous_run_at) == (T0 + timedelta(hours=2), T0)
    assert (job.running_run_id, job.errors) == (None, ())
    draft = await store.get_job(2)
    assert draft is not None and draft.errors == (FieldError(field="settings.table", message="no table named Nope"),)
    running = await store.get_job(4)
    assert running is not None and running.running_run_id == 1
    assert (job.definition.name, job.definition.settings.table) == ("Stores 100%", "Stores")  # from jsonb
    assert job.definition.settings.source.host_key_fingerprint == "SHA256:abc"
    assert await store.get_job(3) is None


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (Sort("job_id"), [1, 2, 4]),
        (Sort("name", descending=True), None),
        (Sort("next_run_at"), [4, 1, 2]),  # none scheduled: last
        (Sort("next_run_at", descending=True), [2, 1, 4]),
    ],
)
async def test_jobs_sorted_and_paged_one_row_at_a_time(
    catalog: asyncpg.Pool, sort: Sort, expected: list[int] | None
) -> None:
    if expected is None:  # names: whatever order the database's collation gives, without case
        rows = await catalog.fetch("SELECT job_id FROM jobs WHERE NOT deleted ORDER BY lower(name) DESC, job_id DESC")
        expected = [r["job_id"] for r in rows]
    store = PgReadStore(catalog)
    seen: list[int] = []
    page = await store.list_jobs(JobQuery(sort=sort, limit=1))
    while True:
        seen += ids(page)
        if page.next is None or len(seen) > len(expected):  # a cursor that does not advance would loop
            break
        page = await store.list_jobs(JobQuery(sort=sort, after=page.next, limit=1))
    assert seen == expected


async def test_history_newest_first_also_of_a_deleted_job(catalog: asyncpg.Pool) -> None:
    store = PgReadStore(catalog)
    first = await store.job_history(3, HistoryQuery(limit=2))
    assert first is not None and ids(first) == [3, 2] and first.next is not None
    assert first.items[1].changed == ("settings.mapping",) and first.items[0].reason == "user"
    rest = await store.job_history(3, HistoryQuery(after=first.next, limit=2))
    assert rest is not None and (ids(rest), rest.next) == ([1], None)
    assert await store.job_history(1, HistoryQuery()) == Page([])  # a job from before the history: none yet
    assert await store.job_history(99, HistoryQuery()) is None


async def test_runs_and_log(catalog: asyncpg.Pool) -> None:
    store = PgReadStore(catalog)
    runs = (await store.list_runs(RunQuery())).items
    assert [(r.job_id, r.run_id) for r in runs] == [(1, 2), (4, 1), (3, 1), (1, 1)]
    assert [r.job_deleted for r in runs] == [False, False, True, False]
    assert runs[0].job_type == "import_custom_table"
    failed = runs[0]
    assert (failed.error_code, failed.error, failed.duration_ms) == ("LOAD_FAILED", "boom", 2000)
    assert (failed.counts.rows_read, failed.counts.inserted) == (10, 9)
    assert [r.run_id for r in (await store.list_runs(RunQuery(job_id=1, status="succeeded"))).items] == [1]
    window = RunQuery(since=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=10))
    assert [(r.job_id, r.run_id) for r in (await store.list_runs(window)).items] == [(4, 1), (3, 1)]
    by_duration = RunQuery(sort=Sort("duration_ms", descending=True), limit=2)
    page = await store.list_runs(by_duration)
    rest = await store.list_runs(RunQuery(sort=by_duration.sort, after=page.next, limit=2))
    # A run still going has no duration: it sorts as the longest; equal ones by JobID.RunID.
    assert [(r.job_id, r.run_id) for r in page.items + rest.items] == [(4, 1), (3, 1), (1, 2), (1, 1)]
    assert await store.get_run(1, 3) is None
    assert [line.message for line in await store.run_log(1, 2)] == ["file found", "loaded"]
    await store.ping()


async def test_commands(catalog: asyncpg.Pool) -> None:
    store = PgReadStore(catalog)
    assert await store.get_command(RAN) == CommandRecord(
        command_id=RAN,
        command_type="job.run_now",
        status="accepted",
        target_type="job",
        target_id="1",
        target_version=2,
        run_id=3,
        code=None,
        message=None,
        errors=(),
        replied_at=T0,
    )
    refused = await store.get_command(REFUSED)
    assert refused is not None
    assert (refused.status, refused.code, refused.message) == ("rejected", "validation", "1 error")
    assert refused.errors == (FieldError(field="settings.mapping[0].target", message="no column X"),)
    assert await store.get_command(uuid4()) is None


@asynccontextmanager
async def api(catalog: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's API over the catalog database, as its admin."""
    deps = Deps(
        commands=FakeBus(),
        reads=PgReadStore(catalog),
        credentials=FakeCredentials(),
        host_keys=FakeHostKeys(""),
        identity=InMemoryIdentityStore(),
        hasher=FastHasher(),
    )
    headers = demo.bearer(await seed_admin(deps))
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=headers) as client:
        yield client


async def test_the_api_over_the_catalog(catalog: asyncpg.Pool) -> None:
    async with api(catalog) as client:
        too_big = await client.get("/api/v1/jobs/100000000000000000000")  # beyond bigint: not "unavailable"
        assert too_big.status_code == 422
        assert [e["field"] for e in too_big.json()["errors"]] == ["job_id"]
        assert (await client.get("/api/v1/jobs/9223372036854775807")).status_code == 404
        assert (await client.get("/api/v1/runs?job_id=9223372036854775808")).status_code == 422
        listed = await client.get("/api/v1/jobs", params={"sort": "-next_run_at", "limit": 2})
        assert [j["job_id"] for j in listed.json()] == [2, 1]
        rest = await client.get(listed.links["next"]["url"])
        assert [j["job_id"] for j in rest.json()] == [4] and "link" not in rest.headers
        ran = await client.get(f"/api/v1/commands/{RAN}")
        assert ran.status_code == 200
        assert (ran.json()["status"], ran.json()["url"]) == ("accepted", "/api/v1/runs/1.3")
        refused = (await client.get(f"/api/v1/commands/{REFUSED}")).json()
        assert refused["code"] == "validation_failed"
        assert refused["errors"] == [{"field": "mapping[0].target", "message": "no column X"}]
        assert (await client.get(f"/api/v1/commands/{uuid4()}")).status_code == 404


def cursor(sort: str, value: Value, keys: list[int]) -> str:
    """A cursor as a client could write it (the encoding is base64url JSON, see domain.listing)."""
    order = Sort(sort.removeprefix("-"), descending=sort.startswith("-"))
    return encode_cursor(Position(order, value, tuple(keys)))


EDGE_OF_INT = 2**31 - 1
EDGE_OF_BIGINT = 2**63 - 1
PAST_INT, PAST_BIGINT = EDGE_OF_INT + 1, EDGE_OF_BIGINT + 1
FIRST = datetime(1, 1, 1, tzinfo=UTC)
# Every value the API takes reaches PostgreSQL as a value its column holds: the extremes are answered, one
# step beyond them is refused naming the parameter, and none of them comes back "unavailable".
EDGES: list[tuple[str, dict[str, str], int, str | None]] = [
    ("/api/v1/runs", {"cursor": cursor("-requested_at", FIRST, [EDGE_OF_BIGINT, EDGE_OF_INT])}, 200, None),
    ("/api/v1/runs", {"cursor": cursor("-requested_at", FIRST, [1, PAST_INT])}, 422, "cursor"),
    ("/api/v1/runs", {"sort": "duration_ms", "cursor": cursor("duration_ms", EDGE_OF_BIGINT, [1, 1])}, 200, None),
    ("/api/v1/runs", {"sort": "duration_ms", "cursor": cursor("duration_ms", PAST_BIGINT, [1, 1])}, 422, "cursor"),
    ("/api/v1/runs", {"cursor": cursor("-requested_at", "0001-01-01T00:00:00+01:00", [1, 1])}, 422, "cursor"),
    ("/api/v1/runs", {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"}, 200, None),
    ("/api/v1/runs", {"since": "0001-01-01T00:00:00+01:00"}, 422, "since"),
    ("/api/v1/runs", {"until": "9999-12-31T23:30:00-01:00"}, 422, "until"),
    ("/api/v1/jobs", {"cursor": cursor("job_id", EDGE_OF_BIGINT, [EDGE_OF_BIGINT])}, 200, None),
    ("/api/v1/jobs", {"cursor": cursor("job_id", PAST_BIGINT, [1])}, 422, "cursor"),
    ("/api/v1/jobs", {"sort": "name", "cursor": cursor("name", "a\u0000", [1])}, 422, "cursor"),
    ("/api/v1/jobs/3/history", {"cursor": cursor("-version", EDGE_OF_INT, [])}, 200, None),
    ("/api/v1/jobs/3/history", {"cursor": cursor("-version", PAST_INT, [])}, 422, "cursor"),
    ("/api/v1/groups", {"cursor": cursor("group_id", EDGE_OF_BIGINT, [EDGE_OF_BIGINT])}, 200, None),
    ("/api/v1/groups/1/runs", {"cursor": cursor("-run_id", EDGE_OF_INT, [])}, 404, None),  # no such group
    ("/api/v1/groups/1/runs", {"cursor": cursor("-run_id", PAST_INT, [])}, 422, "cursor"),
    (f"/api/v1/runs/{'9' * 18}.{'9' * 9}", {}, 404, None),
    (f"/api/v1/groups/{EDGE_OF_BIGINT}/runs/{EDGE_OF_INT}", {}, 404, None),
]


async def test_the_extreme_values_the_api_takes_are_answered(catalog: asyncpg.Pool) -> None:
    async with api(catalog) as client:
        for url, params, status, field in EDGES:
            answer = await client.get(url, params=params)
            assert answer.status_code == status, (url, params, answer.text)
            if field is not None:
                assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_missing_read_models_are_unavailable(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_dsn(database_url, "postgres"), min_size=1, max_size=1)
    try:
        with pytest.raises(ReadModelsUnavailableError):
            await PgReadStore(pool).list_jobs(JobQuery())
    finally:
        await pool.close()
