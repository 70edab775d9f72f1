"""The load transaction's writes: the target table's rows and the run's rejects."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from connect_runner.domain.failures import RunFailure
from connect_runner.domain.statements import affected_rows
from connect_runner.domain.writes import WriteSteps
from connect_runtime.db import Conn

REJECT_COLUMNS = ["job_id", "run_id", "line_no", "reason", "raw_line"]
# Transaction-local (`true`): the limit ends with the load transaction, whatever happens.
SET_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', $1, true)"
NO_LOCK_TIMEOUT = "0"  # no limit: PostgreSQL's default


async def lock_target_table(conn: Conn, lock: str, timeout_s: float) -> None:
    """Take the target's write lock (`lock`: its LOCK statement), waiting at most `timeout_s` for another writer
    to let go of it.

    Without a limit a load would wait for as long as any other transaction keeps writing to the table. The
    limit covers this one wait only: once the lock is held nobody else can hold a conflicting one.
    """
    await conn.execute(SET_LOCK_TIMEOUT, f"{round(timeout_s * 1000)}ms")
    try:
        await conn.execute(lock)
    except asyncpg.LockNotAvailableError as exc:
        raise RunFailure(
            "LOAD_FAILED", f"the target table stayed locked by another writer for {timeout_s:g} s"
        ) from exc
    await conn.execute(SET_LOCK_TIMEOUT, NO_LOCK_TIMEOUT)


async def find_existing(conn: Conn, steps: WriteSteps) -> list[int]:
    """Append mode: lines whose key is already in the target."""
    if steps.reject_existing is None:
        return []
    return [r["line_no"] for r in await conn.fetch(steps.reject_existing)]


async def apply_writes(conn: Conn, steps: WriteSteps) -> tuple[int, int]:
    """Run the mode's statements; returns (inserted, updated)."""
    if steps.delete is not None:
        await conn.execute(steps.delete)
    updated = affected_rows(await conn.execute(steps.update)) if steps.update is not None else 0
    inserted = affected_rows(await conn.execute(steps.insert)) if steps.insert is not None else 0
    if steps.upsert is not None:
        merged = (await conn.fetch(steps.upsert))[0]
        inserted, updated = merged["inserted"], merged["updated"]
    return inserted, updated


async def store_rejects(
    conn: Conn, job_id: int, run_id: int, rejects: Mapping[int, str], raw: Mapping[int, str]
) -> None:
    """Keep each rejected row with its line (or record) number, reason (a `RejectReason`, or the code a marketing
    API gave) and raw text."""
    if rejects:
        records = [(job_id, run_id, line, str(reason), raw.get(line)) for line, reason in sorted(rejects.items())]
        await conn.copy_records_to_table("run_rejects", columns=REJECT_COLUMNS, records=records)
