"""Reads the catalog's read models (schema owned by the catalog service) with named SQL."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from connect_events import FieldError, JobDefinition, RunCounts, TableSpec
from connect_gateway.ports import ReadModelsUnavailableError
from connect_gateway.read_models import (
    CommandRecord,
    JobQuery,
    JobRecord,
    JobSummary,
    LogLine,
    RunQuery,
    RunRecord,
    TableRecord,
)

PING = "SELECT 1"
LIST_TABLES = "SELECT name, spec, defined_at, defined_by FROM tables ORDER BY lower(name)"
GET_TABLE = "SELECT name, spec, defined_at, defined_by FROM tables WHERE lower(name) = lower($1)"

_JOB_COLUMNS = """job_id, name, description, job_type, state, schedule_type, version, expires_at,
    created_at, created_by, updated_at, updated_by, last_run_id"""
LIST_JOBS = f"""
SELECT {_JOB_COLUMNS} FROM jobs
WHERE NOT deleted
  AND ($1::text IS NULL OR state = $1)
  AND ($2::text IS NULL OR name ILIKE '%' || $2 || '%' ESCAPE '\\')
ORDER BY job_id
LIMIT $3 OFFSET $4
"""
GET_JOB = f"SELECT {_JOB_COLUMNS}, definition FROM jobs WHERE job_id = $1 AND NOT deleted"

_RUN_COLUMNS = """r.job_id, r.run_id, r.job_name, coalesce(j.deleted, false) AS job_deleted, r.status,
    r.trigger, r.attempt, r.rows_read, r.inserted, r.updated, r.unchanged, r.rejected, r.bytes_transferred,
    r.total_bytes, r.stage, r.error_code, r.error, r.requested_at, r.started_at, r.finished_at,
    r.duration_ms"""
LIST_RUNS = f"""
SELECT {_RUN_COLUMNS} FROM runs r LEFT JOIN jobs j ON j.job_id = r.job_id
WHERE ($1::bigint IS NULL OR r.job_id = $1)
  AND ($2::text IS NULL OR r.status = $2)
ORDER BY r.requested_at DESC, r.job_id DESC, r.run_id DESC
LIMIT $3 OFFSET $4
"""
GET_RUN = f"""
SELECT {_RUN_COLUMNS} FROM runs r LEFT JOIN jobs j ON j.job_id = r.job_id
WHERE r.job_id = $1 AND r.run_id = $2
"""
RUN_LOG = "SELECT at, level, message FROM run_log WHERE job_id = $1 AND run_id = $2 ORDER BY seq"
GET_COMMAND = """
SELECT command_id, command_type, status, target_type, target_id, target_version, run_id, code, message,
    errors, replied_at
FROM commands WHERE command_id = $1
"""

T = TypeVar("T")


class PgReadStore:
    """`ReadStore` over the catalog database (the pool should be read-only)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ping(self) -> None:
        """Raise when the database cannot answer."""
        await self._guard(lambda: self._pool.fetchval(PING))

    async def list_tables(self) -> list[TableRecord]:
        """All custom tables, by name."""
        rows = await self._guard(lambda: self._pool.fetch(LIST_TABLES))
        return [_table(row) for row in rows]

    async def get_table(self, name: str) -> TableRecord | None:
        """The table called `name` (case-insensitive)."""
        row = await self._guard(lambda: self._pool.fetchrow(GET_TABLE, name))
        return None if row is None else _table(row)

    async def list_jobs(self, query: JobQuery) -> list[JobSummary]:
        """Jobs that are not deleted, by job id."""
        pattern = None if query.q is None else _like_escape(query.q)
        rows = await self._guard(lambda: self._pool.fetch(LIST_JOBS, query.state, pattern, query.limit, query.offset))
        return [JobSummary(**_job_fields(row)) for row in rows]

    async def get_job(self, job_id: int) -> JobRecord | None:
        """A job that is not deleted, with its definition."""
        row = await self._guard(lambda: self._pool.fetchrow(GET_JOB, job_id))
        if row is None:
            return None
        definition = JobDefinition.model_validate(_json(row["definition"]))
        return JobRecord(**_job_fields(row), definition=definition)

    async def list_runs(self, query: RunQuery) -> list[RunRecord]:
        """Runs, newest first."""
        rows = await self._guard(
            lambda: self._pool.fetch(LIST_RUNS, query.job_id, query.status, query.limit, query.offset)
        )
        return [_run(row) for row in rows]

    async def get_run(self, job_id: int, run_id: int) -> RunRecord | None:
        """One run."""
        row = await self._guard(lambda: self._pool.fetchrow(GET_RUN, job_id, run_id))
        return None if row is None else _run(row)

    async def run_log(self, job_id: int, run_id: int) -> list[LogLine]:
        """A run's log entries in order."""
        rows = await self._guard(lambda: self._pool.fetch(RUN_LOG, job_id, run_id))
        return [LogLine(at=row["at"], level=row["level"], message=row["message"]) for row in rows]

    async def get_command(self, command_id: UUID) -> CommandRecord | None:
        """The recorded reply to a command; None while none has been recorded."""
        row = await self._guard(lambda: self._pool.fetchrow(GET_COMMAND, command_id))
        return None if row is None else _command(row)

    @staticmethod
    async def _guard(query: Callable[[], Awaitable[T]]) -> T:
        try:
            return await query()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Also the catalog not having created its tables yet (UndefinedTableError).
            raise ReadModelsUnavailableError(f"{type(exc).__name__}: {exc}") from exc


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _json(value: Any) -> Any:
    # asyncpg hands jsonb over as text unless a codec is registered.
    return json.loads(value) if isinstance(value, str | bytes) else value


def _table(row: asyncpg.Record) -> TableRecord:
    return TableRecord(
        spec=TableSpec.model_validate(_json(row["spec"])),
        defined_at=row["defined_at"],
        defined_by=row["defined_by"],
    )


def _job_fields(row: asyncpg.Record) -> dict[str, Any]:
    return {name: row[name] for name in JobSummary.__dataclass_fields__}


def _run(row: asyncpg.Record) -> RunRecord:
    counts = RunCounts(
        rows_read=row["rows_read"],
        inserted=row["inserted"],
        updated=row["updated"],
        unchanged=row["unchanged"],
        rejected=row["rejected"],
        bytes_transferred=row["bytes_transferred"],
    )
    fields = {name: row[name] for name in RunRecord.__dataclass_fields__ if name != "counts"}
    return RunRecord(**fields, counts=counts)


def _command(row: asyncpg.Record) -> CommandRecord:
    # Only the two fields the API shows: anything else the catalog may add later is not ours to reject.
    errors = tuple(FieldError(field=e["field"], message=e["message"]) for e in _json(row["errors"]) or ())
    fields = {name: row[name] for name in CommandRecord.__dataclass_fields__ if name != "errors"}
    return CommandRecord(**fields, errors=errors)
