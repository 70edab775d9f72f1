"""Issue 8 over the REST API on the whole stack: a job reading the hosted file server, its file uploaded over
REST, auto-mapped from its header, dry run (nothing written), run, and its rejects downloaded as CSV."""

from __future__ import annotations

import csv
import io

import asyncpg
import httpx

from connect_runtime.settings import database_dsn
from tests.e2e.helpers import create, table_body, wait_for_run

GOOD = ["A1,a@example.com,10.50,3,2024-01-02", "A2,b@example.com,7,,2024-02-03"]
BAD = [
    "A3,c@example.com,oops,1,2024-03-04",  # line 3: INVALID_NUMBER
    "=HYPERLINK(1),d@example.com,1.00,2,2024-13-40",  # line 5: INVALID_DATE, and a formula to a spreadsheet
]


async def test_a_hosted_job_dry_runs_runs_and_hands_out_its_rejects(
    api: httpx.AsyncClient, database_url: str, unique: str
) -> None:
    table = f"rules_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    path = f"upload/rules_{unique}.csv"
    content = "\n".join(["Id,EMAIL,amount,Visits,since", GOOD[0], BAD[0], GOOD[1], BAD[1]]) + "\n"
    uploaded = await api.put(f"/api/v1/files/{path}", content=content.encode())
    assert uploaded.status_code == 201, uploaded.text

    suggested = await api.post(f"/api/v1/tables/{table}/auto-mapping", json={"hosted_path": path})
    assert suggested.status_code == 200, suggested.text
    offer = suggested.json()
    assert (offer["unmatched_sources"], offer["unmapped_columns"]) == ([], [])
    body = {
        "name": f"Rules {unique}",
        "type": "import_custom_table",
        "source": {"kind": "hosted", "path": path},
        "target": {"table": table, "write_mode": "merge"},
        "mapping": offer["mapping"],
        "limits": {"max_rejected_rows": 2},
        "activate": True,
    }
    job_id = (await create(api, "/api/v1/jobs", body))["job_id"]
    job = (await api.get(f"/api/v1/jobs/{job_id}")).json()
    assert job["source"]["kind"] == "hosted" and job["source"]["host"] is None
    assert job["files"]["archive_folder"] == "archive"

    dry = await api.post(f"/api/v1/jobs/{job_id}/dry-run")
    assert dry.status_code == 202, dry.text
    tried = await wait_for_run(api, dry.json()["run"], {"succeeded", "failed"})
    assert (tried["status"], tried["dry_run"]) == ("succeeded", True), tried
    assert (tried["counts"]["inserted"], tried["counts"]["rejected"]) == (2, 2)
    assert await rows_of(database_url, table) == []  # a dry run writes nothing
    assert await rejects(api, tried["id"]) == expected_rejects()
    listed = (await api.get("/api/v1/files", params={"folder": "upload"})).json()
    assert f"rules_{unique}.csv" in [entry["name"] for entry in listed]  # nor archives the file

    ran = await api.post(f"/api/v1/jobs/{job_id}/run")
    assert ran.status_code == 202, ran.text
    done = await wait_for_run(api, ran.json()["run"], {"succeeded", "failed"})
    assert (done["status"], done["dry_run"]) == ("succeeded", False), done
    assert (done["counts"]["inserted"], done["counts"]["updated"], done["counts"]["rejected"]) == (2, 0, 2)
    assert await rows_of(database_url, table) == ["A1", "A2"]
    assert await rejects(api, done["id"]) == expected_rejects()

    archived = (await api.get("/api/v1/files", params={"folder": "archive"})).json()
    assert f"{job_id}.{done['run_id']}_rules_{unique}.csv" in [entry["name"] for entry in archived]
    missing = await api.get(f"/api/v1/runs/{job_id}.99/rejects.csv")
    assert missing.status_code == 404


def expected_rejects() -> list[list[str]]:
    return [
        ["line_number", "reason", "raw_text"],
        ["3", "INVALID_NUMBER", BAD[0]],
        ["5", "INVALID_DATE", "'" + BAD[1]],
    ]


async def rejects(api: httpx.AsyncClient, run: str) -> list[list[str]]:
    answer = await api.get(f"/api/v1/runs/{run}/rejects.csv")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.text, newline="")))


async def rows_of(database_url: str, table: str) -> list[str]:
    conn = await asyncpg.connect(database_dsn(database_url, "audience"))
    try:
        return [r["ID"] for r in await conn.fetch(f'SELECT "ID" FROM custom."{table}" ORDER BY "ID"')]
    finally:
        await conn.close()
