"""The job lifecycle through the whole stack: drafts, copy, multi-delete, history, run-now while running, stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from connect_runtime.settings import database_dsn
from tests.conftest import SftpServer
from tests.e2e.helpers import TERMINAL, UserClient, create, job_body, table_body, wait_for_run, write_csv

RoleClient = Callable[[str], Awaitable[UserClient]]


async def history(api: httpx.AsyncClient, job_id: int, entries: int, timeout: float = 30) -> list[dict[str, Any]]:
    """The job's history once it has `entries` entries (the catalog projects it a moment after the reply)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await api.get(f"/api/v1/jobs/{job_id}/history")
        found: list[dict[str, Any]] = answer.json() if answer.status_code == 200 else []
        if len(found) >= entries:
            return found
        assert time.monotonic() < deadline, f"history of job {job_id} after {timeout}s: {answer.text}"
        await asyncio.sleep(0.2)


async def test_a_draft_is_saved_with_its_errors_and_cannot_be_activated(
    api: httpx.AsyncClient, sftp: SftpServer, unique: str
) -> None:
    body = job_body(f"Draft {unique}", f"missing_{unique}", sftp, sftp.data_dir / unique / "a.csv", activate=False)
    answer = await api.post("/api/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    draft = answer.json()
    assert draft["state"] == "inactive"
    assert "target.table" in [e["field"] for e in draft["errors"]]
    refused = await api.post(f"/api/v1/jobs/{draft['job_id']}/activate")
    assert (refused.status_code, refused.json()["reason"]) == (409, "JOB_HAS_ERRORS"), refused.text


async def test_copy_edit_multi_delete_and_history(
    api: httpx.AsyncClient, role_client: RoleClient, sftp: SftpServer, unique: str
) -> None:
    director = await role_client("data_director")
    viewer = await role_client("viewer")
    table = f"lifecycle_{unique}"
    await create(director.client, "/api/v1/tables", table_body(table))
    path = sftp.data_dir / unique / "a.csv"
    original = await create(
        director.client, "/api/v1/jobs", job_body(f"Original {unique}", table, sftp, path, activate=False)
    )
    job_id = original["job_id"]

    copy = await create(director.client, f"/api/v1/jobs/{job_id}/copy", {"name": f"Copy {unique}"})
    assert copy["job_id"] != job_id and copy["state"] == "inactive"
    shown = (await api.get(f"/api/v1/jobs/{copy['job_id']}")).json()
    assert (shown["name"], shown["state"], shown["copied_from"]) == (f"Copy {unique}", "inactive", job_id)

    activated = await director.client.post(f"/api/v1/jobs/{job_id}/activate")
    assert activated.status_code == 200, activated.text
    refused = await director.client.post(f"/api/v1/jobs/{job_id}/copy", json={"name": f"Again {unique}"})
    assert (refused.status_code, refused.json()["reason"]) == (409, "COPY_REQUIRES_INACTIVE"), refused.text

    edit = job_body(f"Copy {unique}", table, sftp, path, description="edited", expected_version=copy["version"])
    del edit["activate"], edit["source"]["private_key"]
    assert (await director.client.put(f"/api/v1/jobs/{copy['job_id']}", json=edit)).status_code == 200

    assert (await viewer.client.post("/api/v1/jobs:delete", json={"job_ids": [job_id]})).status_code == 403
    missing = 9_000_000_000_000 + int(unique, 16) % 1_000_000
    deleted = await director.client.post("/api/v1/jobs:delete", json={"job_ids": [copy["job_id"], job_id, missing]})
    assert deleted.status_code == 200, deleted.text
    results = deleted.json()["results"]
    assert [(r["job_id"], r["deleted"]) for r in results] == [(copy["job_id"], True), (job_id, True), (missing, False)]
    assert results[2]["error"]["reason"] == "JOB_NOT_FOUND"

    entries = await history(viewer.client, job_id, 3)
    assert [(e["what"], e["by"]) for e in entries] == [
        ("deleted", director.username), ("activated", director.username), ("created", director.username),
    ]  # fmt: skip
    assert entries[0]["reason"] == "user"
    copied = await history(viewer.client, copy["job_id"], 3)
    assert [e["what"] for e in copied] == ["deleted", "updated", "copied"]
    assert (copied[1]["changed"], copied[2]["copied_from"]) == (["description"], job_id)
    listed = (await api.get("/api/v1/jobs", params={"q": unique})).json()
    assert listed == []  # deleted jobs leave the All jobs tab


async def test_run_now_while_running_is_refused_and_stop_ends_the_run(
    api: httpx.AsyncClient, role_client: RoleClient, sftp: SftpServer, database_url: str, unique: str
) -> None:
    operator = await role_client("operator")
    table = f"stoppable_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    rows = [(f"K{i}", f"k{i}@example.com", "1.00", "1", "2024-01-02") for i in range(200_000)]
    path = write_csv(sftp.data_dir / unique / "big.csv", rows)
    job = await create(api, "/api/v1/jobs", job_body(f"Stoppable {unique}", table, sftp, path))

    started = await operator.client.post(f"/api/v1/jobs/{job['job_id']}/run")
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    again = await operator.client.post(f"/api/v1/jobs/{job['job_id']}/run")
    assert (again.status_code, again.json()["reason"]) == (409, "JOB_RUNNING"), again.text

    stop = await operator.client.post(f"/api/v1/jobs/{job['job_id']}/runs/{run_id}/stop")
    assert stop.status_code == 202, stop.text
    done = await wait_for_run(api, started.json()["run"], TERMINAL, timeout=120)
    log = [line["message"] for line in (await api.get(f"{done['url']}/log")).json()["lines"]]
    assert any(m.startswith(f"Stop requested by {operator.username}") for m in log), log
    if done["status"] == "stopped":  # the stop won before the final commit: the table is unchanged
        conn = await asyncpg.connect(database_dsn(database_url, "audience"))
        try:
            assert await conn.fetchval(f'SELECT count(*) FROM custom."{table}"') == 0
        finally:
            await conn.close()
    else:  # the load committed first: the run says so and stays succeeded
        assert done["status"] == "succeeded", done
        assert f"Stop requested by {operator.username} after the run had ended; nothing changed" in log
