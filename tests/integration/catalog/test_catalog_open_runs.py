"""The open-run gauges' query on the real read model: queued and running runs by job type, oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from connect_catalog.adapters.open_runs import open_runs
from connect_catalog.metrics import OpenRuns

pytestmark = pytest.mark.integration


async def test_open_runs_are_counted_by_type_and_status(db: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    rows = [
        (910_001, 1, "running", "export_file", now - timedelta(minutes=10)),
        (910_001, 2, "queued", "export_file", None),
        (910_002, 1, "running", "export_file", now - timedelta(minutes=1)),
        (910_003, 1, "succeeded", "export_file", now - timedelta(hours=1)),
    ]
    await db.executemany(
        "INSERT INTO runs (job_id, run_id, job_name, status, trigger, requested_at, job_type, started_at)"
        " VALUES ($1, $2, 'j', $3, 'manual', now(), $4, $5)",
        rows,
    )
    try:
        found = {(entry.job_type, entry.status): entry for entry in await open_runs(db)}
        running = found["export_file", "running"]
        assert running.runs == 2
        assert 590 <= running.oldest_s <= 700  # the ten-minute-old one
        assert found["export_file", "queued"] == OpenRuns("export_file", "queued", 1, pytest.approx(0, abs=60))
    finally:
        await db.execute("DELETE FROM runs WHERE job_id = ANY($1::bigint[])", [910_001, 910_002, 910_003])
