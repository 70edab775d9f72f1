"""`PgRunLedger` and the in-memory fake keep the same run ledger contract; PostgreSQL specifics after.

The PostgreSQL ledger runs on a database of its own, emptied before each test and dropped at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4, uuid5

import asyncpg
import pytest

from connect_events import RUNS_TOPIC, RunCounts, RunStarted, RunStatus, RunSucceeded, decode, encode
from connect_runner.adapters.ledger import PgRunLedger
from connect_runner.adapters.schema import LEDGER_DDL, RUNNER_DDL
from connect_runner.domain.events import Origin, RunNumbers
from connect_runner.domain.run import Attempt, Fail, Succeed
from connect_runner.domain.unreadable import FALLBACK_NAMESPACE
from connect_runtime.db import ensure_database, open_pool
from tests.databases import drop_databases, throwaway_pool
from tests.unit.runner.ledger_contract import (
    CHECKS,
    COUNTS,
    RETRY,
    T0,
    Check,
    at,
    begin,
    check_id,
    claim,
    read,
    request,
    run,
    wait,
)
from tests.unit.runner.ledger_fake import InMemoryRunLedger

pytestmark = pytest.mark.integration
TABLES = "run_attempts, run_ledger, run_stops, run_archives, outbox"


@pytest.fixture(scope="module")
async def ledger_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with throwaway_pool(database_url, f"ledger_{uuid4().hex[:8]}", RUNNER_DDL) as pool:
        yield pool


@pytest.fixture
async def pg_ledger(ledger_pool: asyncpg.Pool) -> PgRunLedger:
    await ledger_pool.execute(f"TRUNCATE {TABLES}")
    return PgRunLedger(ledger_pool)


@pytest.fixture(params=["memory", "postgres"])
def ledger(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return InMemoryRunLedger()
    return request.getfixturevalue("pg_ledger")


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
async def test_the_run_ledger_contract(ledger: Any, check: Check) -> None:
    await check(ledger)


async def test_a_terminal_event_commits_with_its_ledger_row_and_outbox_row(
    pg_ledger: PgRunLedger, ledger_pool: asyncpg.Pool
) -> None:
    req = request()
    await run(pg_ledger, req, begin())
    await run(pg_ledger, req, Succeed(1, T0, COUNTS, at(5)))

    rows = await ledger_pool.fetch("SELECT topic, key, value FROM outbox ORDER BY id")
    assert [(r["topic"], r["key"]) for r in rows] == [(RUNS_TOPIC, "42")] * 2
    assert [type(decode(RUNS_TOPIC, bytes(r["value"]))) for r in rows] == [RunStarted, RunSucceeded]
    ledger_row = await ledger_pool.fetchrow(
        "SELECT status, heartbeat_at FROM run_ledger JOIN run_attempts USING (job_id, run_id)"
    )
    assert ledger_row is not None
    assert (ledger_row["status"], ledger_row["heartbeat_at"]) == ("succeeded", None)


async def test_a_database_of_an_older_runner_is_upgraded_in_place(database_url: str) -> None:
    name = f"ledger_old_{uuid4().hex[:8]}"
    dsn = await ensure_database(database_url, name)
    try:
        old = await open_pool(dsn, LEDGER_DDL, max_size=2)
        try:
            # An older runner's attempts: one still going (its runner died), one whose run ended.
            await old.execute("INSERT INTO run_attempts (job_id, run_id, attempt, next_seq) VALUES (7, 1, 1, 4)")
            await old.execute("INSERT INTO run_attempts (job_id, run_id, attempt, next_seq) VALUES (7, 2, 1, 4)")
            await old.execute("INSERT INTO run_ledger VALUES (7, 2, 'failed', '{}'::jsonb, now(), '\\x00'::bytea)")
        finally:
            await old.close()
        upgraded = await open_pool(dsn, RUNNER_DDL, max_size=2)
        try:
            ledger = PgRunLedger(upgraded)
            stand_in = uuid5(FALLBACK_NAMESPACE, "7.1")
            later = datetime.now(UTC) + timedelta(minutes=1)

            assert await ledger.silent(later, 10) == [Origin(stand_in, "7.1", stand_in, RunNumbers(7, 1))]
            state = await read(ledger, request(1, job_id=7))
            assert state.status is RunStatus.RUNNING and state.next_version == 4
            assert state.attempt == Attempt(1, None, state.heartbeat_at)  # the upgrade's time stands in
            assert (state.failed_attempts, state.retry_at) == (0, None)
        finally:
            await upgraded.close()
    finally:
        await drop_databases(database_url, name)


async def test_a_run_that_began_waiting_under_an_older_runner_is_claimed_once_its_request_is_kept_again(
    pg_ledger: PgRunLedger, ledger_pool: asyncpg.Pool
) -> None:
    req = request()
    await run(pg_ledger, req, begin())
    refused = Fail(1, T0, RunCounts(), "CONNECTION_FAILED", "refused", at(5), transient=True, retry=RETRY)
    await run(pg_ledger, req, refused)  # an older runner kept no request, and its wait beat
    await ledger_pool.execute("UPDATE run_attempts SET heartbeat_at = $1", at(30))

    assert await claim(pg_ledger, 100) == []
    assert await pg_ledger.silent(at(100_000), 10) == []  # waiting: never lost, heartbeat or not
    async with pg_ledger.transaction() as tx:
        await pg_ledger.keep_request(tx, req)  # its request, redelivered to a runner of this version
    assert await claim(pg_ledger, 100) == [req]


async def test_a_kept_request_this_runner_cannot_read_is_passed_over(
    pg_ledger: PgRunLedger, ledger_pool: asyncpg.Pool
) -> None:
    unreadable, readable = request(1), request(2)
    for req, failed_s in [(unreadable, 1), (readable, 2)]:
        await run(pg_ledger, req, begin())
        await wait(pg_ledger, req, failed_s)
    newer = encode(unreadable).replace(b'"schema_version":1', b'"schema_version":99')
    assert newer != encode(unreadable)
    await ledger_pool.execute("UPDATE run_attempts SET request = $1 WHERE run_id = 1", newer)

    assert await claim(pg_ledger, 100) == [readable]  # a newer runner kept it; one of those takes it up
