"""Groups through the whole stack: a group runs its members one at a time in order, and stops at a failure."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import SftpServer
from tests.e2e.helpers import TERMINAL, create, job_body, table_body, write_csv

ROWS = [("A1", "a@example.com", "1.50", "2", "2024-01-02"), ("B2", "b@example.com", "3.00", "1", "2024-02-03")]


async def wait_for_group_run(api: httpx.AsyncClient, url: str, timeout: float = 120) -> dict[str, Any]:
    """Poll a group run until it has ended and so have its member runs (their ends travel on another topic)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        answer = await api.get(url)
        if answer.status_code == 200:
            last = answer.json()
            if last["status"] in TERMINAL and all(m["status"] in TERMINAL | {None} for m in last["members"]):
                return dict(last)
        await asyncio.sleep(0.3)
    raise AssertionError(f"group run {url} did not end in {timeout}s; last seen: {last}")


async def two_jobs(api: httpx.AsyncClient, sftp: SftpServer, unique: str, first_file: bool) -> list[int]:
    """A table and two active, on-demand jobs loading it; the first one's file exists only if `first_file`."""
    table = f"grouped_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    jobs = []
    for n in (1, 2):
        path = sftp.data_dir / unique / f"member{n}.csv"
        if n == 2 or first_file:
            write_csv(path, ROWS)
        jobs.append((await create(api, "/api/v1/jobs", job_body(f"Member {n} {unique}", table, sftp, path)))["job_id"])
    return jobs


async def run_group(api: httpx.AsyncClient, members: list[int], unique: str) -> dict[str, Any]:
    group = await create(api, "/api/v1/groups", {"name": f"Chain {unique}", "members": members})
    started = await api.post(f"/api/v1/groups/{group['group_id']}/run")
    assert started.status_code == 202, started.text
    return await wait_for_group_run(api, started.json()["status_url"])


async def test_a_group_runs_its_members_in_order_and_succeeds(
    api: httpx.AsyncClient, sftp: SftpServer, unique: str
) -> None:
    members = await two_jobs(api, sftp, unique, first_file=True)
    ended = await run_group(api, members, unique)
    assert ended["status"] == "succeeded", ended
    assert [(m["position"], m["job_id"], m["status"]) for m in ended["members"]] == [
        (1, members[0], "succeeded"), (2, members[1], "succeeded"),
    ]  # fmt: skip
    first, second = [(await api.get(m["url"])).json() for m in ended["members"]]
    assert first["group_run_key"] == second["group_run_key"] == ended["id"]
    assert datetime.fromisoformat(second["started_at"]) >= datetime.fromisoformat(first["finished_at"])
    listed = (await api.get("/api/v1/jobs", params={"q": unique})).json()
    assert {j["group"] for j in listed} == {ended["group_id"]}
    assert [line["message"] for line in ended["log"]][-1] == "Succeeded: every member succeeded"


async def test_a_group_whose_first_member_fails_ends_failed_and_the_second_never_runs(
    api: httpx.AsyncClient, sftp: SftpServer, unique: str
) -> None:
    members = await two_jobs(api, sftp, unique, first_file=False)
    ended = await run_group(api, members, unique)
    assert (ended["status"], ended["failed_job_id"]) == ("failed", members[0]), ended
    assert [(m["job_id"], m["status"]) for m in ended["members"]] == [(members[0], "failed"), (members[1], None)]
    runs = (await api.get("/api/v1/runs", params={"job_id": members[1]})).json()
    assert runs == []
