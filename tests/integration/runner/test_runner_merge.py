"""Merge loads over real SFTP into real PostgreSQL: counts, values, the ledger and the outbox."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import asyncpg

from connect_events import RunProgressed, RunStarted
from connect_runner.handlers import RunDeps, execute_run
from tests.conftest import SftpServer
from tests.integration.runner.runner_it import (
    PEOPLE_HEADER,
    Put,
    run_events,
    sftp_location,
    staging_tables,
    succeeded,
    table_rows,
)
from tests.unit.runner.runner_builders import people_table, run_request


async def test_merge_inserts_updates_and_counts_unchanged_rows(
    deps: RunDeps,
    audience_pool: asyncpg.Pool,
    sftp_server: SftpServer,
    key_ref: UUID,
    put_file: Put,
    job_id: int,
    unique: str,
) -> None:
    table = people_table(f"people_{unique}")
    content = (
        PEOPLE_HEADER
        + "1,Ann,1.5,true,1990-01-02,2024-05-06 07:08:09\n"
        + "2,Bob,,no,,\n"
        + "3, Cy ,-3,1,2000-02-29,2024-01-01T00:00\n"
    )
    first = put_file("first.csv", content)
    request = run_request(job_id, 1, source=sftp_location(sftp_server, first, key_ref), table=table)

    event = succeeded(await execute_run(request, deps))

    counts = event.payload.counts
    assert (counts.rows_read, counts.inserted, counts.updated, counts.unchanged, counts.rejected) == (3, 3, 0, 0, 0)
    assert counts.bytes_transferred == len(content.encode())
    assert await table_rows(audience_pool, table) == [
        {
            "id": 1,
            "name": "Ann",
            "score": Decimal("1.50"),
            "active": True,
            "born": date(1990, 1, 2),
            "seen": datetime(2024, 5, 6, 7, 8, 9),
        },
        {"id": 2, "name": "Bob", "score": None, "active": False, "born": None, "seen": None},
        {
            "id": 3,
            "name": "Cy",
            "score": Decimal("-3.00"),
            "active": True,
            "born": date(2000, 2, 29),
            "seen": datetime(2024, 1, 1),
        },
    ]

    second = put_file(
        "second.csv", PEOPLE_HEADER + "1,Ann,1.50,t,1990-01-02,2024-05-06 07:08:09\n2,Bo,,n,,\n4,Dee,,,,\n"
    )
    again = succeeded(
        await execute_run(run_request(job_id, 2, source=sftp_location(sftp_server, second, key_ref), table=table), deps)
    )

    counts = again.payload.counts
    assert (counts.rows_read, counts.inserted, counts.updated, counts.unchanged, counts.rejected) == (3, 1, 1, 1, 0)
    assert [(r["id"], r["name"]) for r in await table_rows(audience_pool, table)] == [
        (1, "Ann"),
        (2, "Bo"),
        (3, "Cy"),
        (4, "Dee"),
    ]


async def test_events_ledger_and_cleanup(
    deps: RunDeps,
    audience_pool: asyncpg.Pool,
    sftp_server: SftpServer,
    key_ref: UUID,
    put_file: Put,
    job_id: int,
    unique: str,
) -> None:
    path = put_file("people.csv", PEOPLE_HEADER + "1,Ann,,,,\n")
    request = run_request(
        job_id, 7, source=sftp_location(sftp_server, path, key_ref), table=people_table(f"p_{unique}")
    )

    event = await execute_run(request, deps)

    emitted = await run_events(audience_pool, job_id, 7)
    assert isinstance(emitted[0], RunStarted)
    assert emitted[0].payload.attempt == 1 and emitted[0].payload.runner == "test-runner:1"
    assert emitted[-1] == event
    assert all(isinstance(e, RunProgressed) for e in emitted[1:-1])
    assert [e.aggregate_version for e in emitted] == list(range(2, 2 + len(emitted)))
    assert {e.causation_id for e in emitted} == {request.event_id}
    assert {e.correlation_id for e in emitted} == {request.correlation_id}
    ledger = await audience_pool.fetchrow(
        "SELECT status, counts FROM run_ledger WHERE job_id = $1 AND run_id = 7", job_id
    )
    assert ledger is not None and ledger["status"] == "succeeded"
    assert await staging_tables(audience_pool) == [] or all(
        not t.startswith(f"s_{job_id}_") for t in await staging_tables(audience_pool)
    )
    assert list(deps.work_dir.iterdir()) == []


async def test_executing_the_same_run_again_is_a_no_op(
    deps: RunDeps,
    audience_pool: asyncpg.Pool,
    sftp_server: SftpServer,
    key_ref: UUID,
    put_file: Put,
    job_id: int,
    unique: str,
) -> None:
    table = people_table(f"people_{unique}")
    path = put_file("people.csv", PEOPLE_HEADER + "1,Ann,,,,\n")
    request = run_request(job_id, 1, source=sftp_location(sftp_server, path, key_ref), table=table)
    first = await execute_run(request, deps)
    before = await run_events(audience_pool, job_id, 1)
    put_file("people.csv", PEOPLE_HEADER + "1,Changed,,,,\n2,New,,,,\n")

    second = await execute_run(request, deps)

    assert second == first
    assert await run_events(audience_pool, job_id, 1) == before
    assert [r["name"] for r in await table_rows(audience_pool, table)] == ["Ann"]
