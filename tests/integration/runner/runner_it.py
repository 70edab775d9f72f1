"""Helpers for the runner's integration tests: reading back tables, rejects, ledger and outbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from connect_events import RUNS_TOPIC, RunEvent, RunFailed, RunSucceeded, TableSpec, decode
from tests.conftest import SftpServer
from tests.unit.runner.runner_builders import location

PEOPLE_HEADER = "id,name,score,active,born,seen\n"


def sftp_location(server: SftpServer, path: str, key_ref: Any, **overrides: Any) -> Any:
    options = {"host": server.host, "port": server.port, "user": server.user, "host_key": server.host_key}
    return location(path, key_ref, **{**options, **overrides})


async def table_rows(pool: asyncpg.Pool, table: TableSpec | str, order: str = "1") -> list[dict[str, Any]]:
    name = table if isinstance(table, str) else table.name
    quoted = '"' + name.replace('"', '""') + '"'
    return [dict(r) for r in await pool.fetch(f"SELECT * FROM custom.{quoted} ORDER BY {order}")]


async def rejects(pool: asyncpg.Pool, job_id: int, run_id: int) -> list[tuple[int, str, str | None]]:
    rows = await pool.fetch(
        "SELECT line_no, reason, raw_line FROM run_rejects WHERE job_id = $1 AND run_id = $2 ORDER BY line_no",
        job_id,
        run_id,
    )
    return [(r["line_no"], r["reason"], r["raw_line"]) for r in rows]


async def run_events(pool: asyncpg.Pool, job_id: int, run_id: int) -> list[RunEvent]:
    """The run's events still in the outbox (no relay runs in these tests), oldest first."""
    rows = await pool.fetch("SELECT value FROM outbox WHERE topic = $1 ORDER BY id", RUNS_TOPIC)
    found = [decode(RUNS_TOPIC, bytes(r["value"])) for r in rows]
    wanted = f"{job_id}.{run_id}"
    return [e for e in found if isinstance(e, RunEvent) and e.aggregate_id == wanted]


def succeeded(event: RunEvent) -> RunSucceeded:
    assert isinstance(event, RunSucceeded), event
    return event


def failed(event: RunEvent) -> RunFailed:
    assert isinstance(event, RunFailed), event
    return event


async def staging_tables(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'runner_stage' ORDER BY 1")
    return [r["tablename"] for r in rows]


Put = Callable[..., str]
