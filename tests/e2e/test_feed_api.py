"""An analytics feed job through the whole stack (spec §6, issue 11): created over the REST API with a schedule,
refused run-now as a partner job, fired by the scheduler, its delivery loaded by the runner from the SFTP peer,
and its run, counts and execution log read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from connect_runtime.settings import database_dsn
from tests.conftest import SftpServer
from tests.e2e.helpers import create, wait_for_run
from tests.feed_generator import generate


def hits_table(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "columns": [
            {"name": "HIT", "type": "text", "max_length": 30},
            {"name": "VISIT", "type": "integer"},
            {"name": "AT", "type": "timestamp"},
            {"name": "CUSTOMER_ID", "type": "text", "max_length": 20},
            {"name": "BROWSER", "type": "text", "max_length": 60},
        ],
        "primary_key": ["HIT"],
    }


def feed_job(name: str, table: str, sftp: SftpServer, folder: str, at: datetime) -> dict[str, Any]:
    return {
        "name": name,
        "type": "import_analytics_feed",
        "source": {
            "host": sftp.host,
            "port": sftp.port,
            "user": sftp.user,
            "path": folder,
            "private_key": sftp.private_key,
        },
        "report_suite": "shop",
        "target": {"table": table},
        "mapping": [
            {"source": "hitid_high", "target": "HIT"},
            {"source": "visit_num", "target": "VISIT"},
            {"source": "date_time", "target": "AT"},
            {"source": "post_evar12", "target": "CUSTOMER_ID"},
            {"source": "browser", "target": "BROWSER"},
        ],
        "labels": ["browser"],
        "drop_data_source_hits": True,
        "schedule": {"kind": "one_time", "at": at.strftime("%Y-%m-%dT%H:%M"), "time_zone": "UTC"},
        "activate": True,
    }


async def test_a_scheduled_feed_job_loads_its_delivery_once(
    api: httpx.AsyncClient, sftp: SftpServer, database_url: str, unique: str
) -> None:
    table = f"hits_{unique}"
    await create(api, "/api/v1/tables", hits_table(table))
    folder = sftp.data_dir / unique / "feed"
    made = generate(folder, hits=500, parts=2, seed=21)
    # Schedules are in whole minutes: the next minute at least 4 s ahead (time for the job to be saved).
    at = (datetime.now(UTC) + timedelta(seconds=64)).replace(second=0, microsecond=0)
    job = await create(api, "/api/v1/jobs", feed_job(f"Feed {unique}", table, sftp, str(folder), at))
    job_id = job["job_id"]
    shown = (await api.get(f"/api/v1/jobs/{job_id}")).json()
    assert (shown["type"], shown["state"], shown["errors"]) == ("import_analytics_feed", "active", [])
    assert "private_key" not in str(shown)

    refused = await api.post(f"/api/v1/jobs/{job_id}/run")
    assert (refused.status_code, refused.json()["reason"]) == (409, "PARTNER_JOB_NOT_RUNNABLE")

    done = await wait_for_run(api, f"{job_id}.1", {"succeeded", "failed"}, timeout=120)
    assert done["status"] == "succeeded", done
    assert done["trigger"] == "schedule"
    loaded = made.total - made.excluded - made.data_sources
    counts = done["counts"]
    assert (counts["rows_read"], counts["filtered"], counts["inserted"], counts["rejected"]) == (
        500,
        made.excluded + made.data_sources,
        loaded,
        0,
    )
    log = (await api.get(f"/api/v1/runs/{job_id}.1/log")).json()["lines"]
    messages = [line["message"] for line in log]
    assert "delivery shop_2026-11-28 found (shop_2026-11-28.txt, 3 files)" in messages
    assert "delivery shop_2026-11-28: 3 files match the manifest's sizes and MD5 digests" in messages
    assert any(m.startswith(f"delivery shop_2026-11-28 reconciled: {loaded:,} loaded + ") for m in messages)

    conn = await asyncpg.connect(database_dsn(database_url, "audience"))
    try:
        stored = await conn.fetchval(f'SELECT count(*) FROM custom."{table}"')
        browsers = {r["BROWSER"] for r in await conn.fetch(f'SELECT DISTINCT "BROWSER" FROM custom."{table}"')}
    finally:
        await conn.close()
    assert stored == loaded
    assert browsers <= {"Microsoft Internet Explorer 8", "Google Chrome 120.0", "Mozilla Firefox 121.0"}
