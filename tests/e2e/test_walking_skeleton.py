"""The walking skeleton through real Kafka: define a table, create a job, run it, watch the run."""

from __future__ import annotations

import asyncpg
import httpx

from connect_runtime.settings import database_dsn
from tests.conftest import SftpServer
from tests.e2e.helpers import create, job_body, table_body, wait_for_run, write_csv


async def test_import_job_runs_end_to_end(
    api: httpx.AsyncClient, sftp: SftpServer, database_url: str, unique: str
) -> None:
    table = f"contacts_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    path = write_csv(
        sftp.data_dir / unique / "contacts.csv",
        [
            ("A1", "a@example.com", "10.50", "3", "2024-01-02"),
            ("A2", "b@example.com", "7", "", "2024-02-03"),
            ("A3", "c@example.com", "oops", "1", "2024-03-04"),  # rejected: INVALID_NUMBER
            ("A4", "d@example.com", "1.00", "2", "2024-13-40"),  # rejected: INVALID_DATE
        ],
    )
    job = await create(api, "/api/v1/jobs", job_body(f"Contacts {unique}", table, sftp, path))
    job_id = job["job_id"]

    listed = (await api.get("/api/v1/jobs", params={"q": unique})).json()
    assert [j["job_id"] for j in listed] == [job_id]
    assert listed[0]["state"] == "active"
    assert "private_key" not in (await api.get(f"/api/v1/jobs/{job_id}")).text

    started = await api.post(f"/api/v1/jobs/{job_id}/run")
    assert started.status_code == 202, started.text
    run = started.json()["run"]
    assert run == f"{job_id}.1"

    done = await wait_for_run(api, run, {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assert done["counts"]["rows_read"] == 4
    assert done["counts"]["inserted"] == 2
    assert done["counts"]["rejected"] == 2
    assert done["started_at"] and done["duration_ms"] is not None

    runs = (await api.get("/api/v1/runs", params={"job_id": job_id})).json()
    assert [r["id"] for r in runs] == [run]

    conn = await asyncpg.connect(database_dsn(database_url, "audience"))
    try:
        rows = await conn.fetch(f'SELECT "ID", "VISITS" FROM custom."{table}" ORDER BY "ID"')
    finally:
        await conn.close()
    assert [(r["ID"], r["VISITS"]) for r in rows] == [("A1", 3), ("A2", None)]

    # A second run of the same file changes nothing: both good rows are unchanged.
    second = (await api.post(f"/api/v1/jobs/{job_id}/run")).json()["run"]
    again = await wait_for_run(api, second, {"succeeded", "failed"})
    assert again["status"] == "succeeded"
    assert again["counts"]["inserted"] == 0 and again["counts"]["unchanged"] == 2


async def test_missing_file_fails_the_run_with_a_clear_reason(
    api: httpx.AsyncClient, sftp: SftpServer, unique: str
) -> None:
    table = f"missing_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    path = sftp.data_dir / unique / "never-uploaded.csv"
    job = await create(api, "/api/v1/jobs", job_body(f"Missing {unique}", table, sftp, path))
    run = (await api.post(f"/api/v1/jobs/{job['job_id']}/run")).json()["run"]
    done = await wait_for_run(api, run, {"succeeded", "failed"})
    assert done["status"] == "failed"
    assert done["error_code"] == "FILE_NOT_FOUND"
    assert str(path) in done["error"]
