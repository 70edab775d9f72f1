"""The per-attempt staging tables: COPY the records in, then find the rows that cannot be loaded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence

import asyncpg

from connect_runner.adapters.csv_source import StagedRecord
from connect_runner.domain.plan import LoadPlan
from connect_runner.domain.rejects import RejectReason
from connect_runner.domain.statements import (
    STAGING_SCHEMA,
    Staging,
    analyze,
    create_staging,
    drop_tables,
    find_duplicates,
    find_invalid,
    has_duplicates,
    prove_valid,
    remove_rejected,
)
from connect_runtime.db import Conn

log = logging.getLogger(__name__)

# JIT compilation costs more than it saves on these one-off scans, and it slows parallel workers down.
# The proofs compare dates with their ISO text, so the output style is pinned too.
SESSION_SETTINGS = (
    "SELECT set_config('jit', 'off', false), set_config('work_mem', $1, false),"
    " set_config('datestyle', 'ISO, YMD', false)"
)
COPY_CHUNK_ROWS = 50_000  # one chunk keeps the event loop busy for about a tenth of a second
FIND_RUN_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename LIKE $2"
# Staging tables (`s_<job>_<run>_<attempt>[_rej]`) of runs that already ended: nobody needs them any more.
FIND_ENDED_TABLES = r"""
SELECT s.tablename
FROM (
    SELECT tablename, regexp_match(tablename, '^s_(\d+)_(\d+)_\d+(?:_rej)?$') AS m
    FROM pg_tables WHERE schemaname = $1
) s
JOIN run_ledger l ON l.job_id = s.m[1]::bigint AND l.run_id = s.m[2]::bigint
ORDER BY s.tablename
"""
# A sweep must not queue behind a lingering attempt's lock on its table; that table goes next time.
SWEEP_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', '5s', true)"
SWEEP_BATCH = 100


async def prepare_session(conn: Conn, work_mem: str) -> None:
    """Session settings for the set-based checks (reset when the connection returns to the pool)."""
    await conn.execute(SESSION_SETTINGS, work_mem)


async def stage_records(
    conn: Conn,
    staging: Staging,
    plan: LoadPlan,
    batches: Iterator[list[StagedRecord]],
    on_batch: Callable[[], None],
) -> None:
    """Create the staging tables and stream the records into them with binary COPY, a chunk per command.

    Records are handed to asyncpg as a plain iterator (an async one costs a third more per row), which
    means parsing runs without returning to the event loop during a COPY; so each COPY stops after
    `COPY_CHUNK_ROWS` rows and the loop gets its turn (heartbeats, progress) between chunks.
    """
    await conn.execute(create_staging(staging, plan))
    columns = ["line_no", *(c.staging_name for c in plan.columns)]
    chunks = _Chunks(batches, on_batch)
    while not chunks.exhausted:
        await conn.copy_records_to_table(
            staging.rows_name, schema_name=STAGING_SCHEMA, columns=columns, records=chunks.next_chunk()
        )
        await asyncio.sleep(0)


class _Chunks:
    """Cuts one stream of batches into consecutive chunks of about `COPY_CHUNK_ROWS` records."""

    def __init__(self, batches: Iterator[list[StagedRecord]], on_batch: Callable[[], None]) -> None:
        self._batches = batches
        self._on_batch = on_batch
        self.exhausted = False

    def next_chunk(self) -> Iterator[StagedRecord]:
        taken = 0
        for batch in self._batches:
            self._on_batch()
            yield from batch
            taken += len(batch)
            if taken >= COPY_CHUNK_ROWS:
                return
        self.exhausted = True


async def gather_statistics(conn: Conn, staging: Staging) -> None:
    """ANALYZE the staged rows (only worth its time when they are joined with the target next)."""
    await conn.execute(analyze(staging))


async def find_rejects(conn: Conn, staging: Staging, plan: LoadPlan) -> list[tuple[int, str]]:
    """Rows failing a value check, then earlier rows of a repeated key; both are removed from staging.

    Each exact (and costly) search runs only when a cheap test could not rule its problem out.
    """
    invalid = await reject_invalid(conn, staging, plan)
    # Keys are compared as typed values (007 = 7), so the casts need the invalid rows gone first.
    duplicates: list[tuple[int, str]] = []
    if (await conn.fetch(has_duplicates(staging, plan)))[0]["repeated"]:
        repeated = await conn.fetch(find_duplicates(staging, plan))
        duplicates = [(r["line_no"], str(RejectReason.DUPLICATE_KEY)) for r in repeated]
        await add_rejects(conn, staging, duplicates)
    return invalid + duplicates


async def reject_invalid(conn: Conn, staging: Staging, plan: LoadPlan) -> list[tuple[int, str]]:
    """Rows failing a value check (removed from staging)."""
    if await _proven_valid(conn, staging, plan):
        return []
    invalid = [(r["line_no"], r["reason"]) for r in await conn.fetch(find_invalid(staging, plan))]
    await add_rejects(conn, staging, invalid)
    return invalid


async def _proven_valid(conn: Conn, staging: Staging, plan: LoadPlan) -> bool:
    query = prove_valid(staging, plan)
    if query is None:
        return True
    try:
        # fetch(), not fetchval(): a row limit would keep PostgreSQL from running the scan in parallel.
        rows = await conn.fetch(query)
    except asyncpg.DataError:  # a value that does not even cast: the exact checks will name it
        return False
    return rows[0]["proven"] is not False  # NULL: no rows at all


async def add_rejects(conn: Conn, staging: Staging, rejects: Sequence[tuple[int, str]]) -> None:
    """Remove these lines from the staged rows (the load never sees them)."""
    if rejects:
        await conn.copy_records_to_table(staging.rejects_name, schema_name=STAGING_SCHEMA, records=rejects)
        await conn.execute(remove_rejected(staging))


async def drop_run_staging(conn: Conn, staging: Staging) -> None:
    """Drop the staging tables of every attempt of the run (earlier ones may have been left by a crash)."""
    rows = await conn.fetch(FIND_RUN_TABLES, STAGING_SCHEMA, staging.run_pattern)
    if rows:
        await conn.execute(drop_tables([r["tablename"] for r in rows]))


async def drop_attempt_staging(conn: Conn, staging: Staging) -> None:
    """Drop this attempt's staging tables only."""
    await conn.execute(drop_tables([staging.rows_name, staging.rejects_name]))


async def drop_ended_staging(pool: asyncpg.Pool) -> int:
    """Drop the staging tables of every run that already ended; returns how many were dropped.

    A run drops its staging when it ends, but only best-effort (the database may be unreachable just then):
    this sweep, at start-up, catches what was left behind. A batch that cannot be dropped now is left for
    the next sweep.
    """
    names = [r["tablename"] for r in await pool.fetch(FIND_ENDED_TABLES, STAGING_SCHEMA)]
    dropped = 0
    for start in range(0, len(names), SWEEP_BATCH):
        batch = names[start : start + SWEEP_BATCH]
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(SWEEP_LOCK_TIMEOUT)
                await conn.execute(drop_tables(batch))
        except asyncpg.PostgresError as exc:
            log.warning("staging tables not dropped", extra={"count": len(batch), "error": str(exc)})
            continue
        dropped += len(batch)
    return dropped
