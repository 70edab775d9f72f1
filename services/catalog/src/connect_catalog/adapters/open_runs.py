"""Runs that have not ended, as the read model holds them: for the queue-depth and stuck-run gauges."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from connect_catalog.metrics import OpenRuns, set_open_runs

log = logging.getLogger(__name__)

OPEN_RUNS_INTERVAL_S = 15.0  # as often as Prometheus usually scrapes

OPEN_RUNS_SQL = """
SELECT coalesce(job_type, 'unknown') AS job_type, status, count(*) AS runs,
       extract(epoch FROM now() - min(coalesce(started_at, requested_at)))::float8 AS oldest_s
FROM runs WHERE status IN ('queued', 'running') GROUP BY 1, 2
"""


async def open_runs(pool: asyncpg.Pool) -> list[OpenRuns]:
    """Queued and running runs by job type, with the age of the oldest of each."""
    rows = await pool.fetch(OPEN_RUNS_SQL)
    return [OpenRuns(row["job_type"], row["status"], row["runs"], row["oldest_s"]) for row in rows]


async def watch_open_runs(pool: asyncpg.Pool, stopping: asyncio.Event) -> None:
    """Refresh the gauges every `OPEN_RUNS_INTERVAL_S` until `stopping` (a failed read keeps the last values)."""
    while not stopping.is_set():
        try:
            set_open_runs(await open_runs(pool))
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("open runs not read", extra={"error": type(exc).__name__})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), OPEN_RUNS_INTERVAL_S)
