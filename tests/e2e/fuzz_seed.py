"""What the fuzz run starts from: real resources made through the API, and valid request bodies to vary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from connect_devstack import demo
from connect_devstack.app import generate_password
from connect_runtime.settings import database_dsn
from tests.conftest import SftpServer
from tests.e2e.helpers import (
    TERMINAL,
    create,
    create_user,
    job_body,
    table_body,
    wait_for_run,
    write_csv,
)

REQUEST_TIMEOUT_S = 30.0
# The runs a fuzz run starts fail fast (generated paths, a password the peer refuses); this is ample.
RUNS_DRAIN_TIMEOUT_S = 120.0
# Placeholder `expected_version` of the edit example; replaced by the job's version when it is sent.
EXAMPLE_VERSION = 1
# The fields that name what an example creates (a table, job or user); variants get fresh names.
NAME_FIELDS = ("name", "username")
# Where the catalog keeps every reply (the gateway's `GATEWAY_CATALOG_DATABASE` default).
CATALOG_DATABASE = "catalog"


@dataclass(frozen=True)
class Caller:
    """Whom the fuzz run calls as: an admin of the fuzz gateway's own identity database, with an API token."""

    base_url: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The header every request of the run sends."""
        return demo.bearer(self.token)


@dataclass(frozen=True)
class SeedData:
    """A table, two jobs on it, a finished run and answered commands, plus request examples built on them."""

    table: str
    columns: Sequence[str]
    job_id: int
    # Where generated deletes go, so that `job_id` lives on for the operations tested after DELETE.
    doomed_job_id: int
    run: str
    # Answered commands (the latest accepted and rejected one): the API shows a command id only in a 202.
    command_ids: Sequence[str]
    sftp: SftpServer
    # Valid request bodies by (method, path): the base the examples and coverage phases vary.
    examples: Mapping[tuple[str, str], dict[str, Any]]
    # The id of the caller's own token, and stand-ins the run may change in place of the caller: a second
    # admin, and a second token of the caller's.
    caller_token_id: str
    stand_in_admin: str
    stand_in_token_id: str

    @property
    def example_names(self) -> set[str]:
        return {body[field] for body in self.examples.values() for field in NAME_FIELDS if field in body}

    @property
    def edit_example_name(self) -> str:
        name: str = self.examples["put", "/api/v1/jobs/{job_id}"]["name"]
        return name


async def make_seed_data(caller: Caller, sftp: SftpServer, unique: str, database_url: str) -> SeedData:
    """A table, two active jobs loading a small file from the SFTP peer into it, a finished run, commands;
    the caller's token id and the stand-ins (an admin, a token)."""
    table = f"fuzz_seed_{unique}"
    path = write_csv(sftp.data_dir / f"fuzz-{unique}" / "seed.csv", [("S1", "s@example.com", "1.5", "2", "2024-01-01")])
    async with _client(caller) as api:
        caller_token_id, stand_in_admin, stand_in_token_id = await _stand_ins(api, caller, unique)
        await create(api, "/api/v1/tables", table_body(table))
        refused = await api.post("/api/v1/tables", json=table_body(table))
        assert refused.status_code == 409, refused.text
        job_id = (await create(api, "/api/v1/jobs", job_body(f"Fuzz seed {unique}", table, sftp, path)))["job_id"]
        doomed = (await create(api, "/api/v1/jobs", job_body(f"Fuzz doomed {unique}", table, sftp, path)))["job_id"]
        started = await api.post(f"/api/v1/jobs/{job_id}/run")
        assert started.status_code == 202, started.text
        run = started.json()["run"]
        await wait_for_run(api, run, TERMINAL)
    examples = {
        ("post", "/api/v1/tables"): table_body(f"fuzz_example_{unique}"),
        ("post", "/api/v1/jobs"): _job_example(f"Fuzz_example_{unique}", table, sftp, path),
        ("put", "/api/v1/jobs/{job_id}"): _edit_example(f"Fuzz_edit_{unique}", table, sftp, path),
        ("post", "/api/v1/users"): _user_example(f"fuzz-example-{unique}"),
    }
    columns = [column["name"] for column in table_body(table)["columns"]]
    commands = await _command_ids(database_url)
    return SeedData(
        table,
        columns,
        job_id,
        doomed,
        run,
        commands,
        sftp,
        examples,
        caller_token_id,
        stand_in_admin,
        stand_in_token_id,
    )


def _client(caller: Caller) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=caller.base_url, timeout=REQUEST_TIMEOUT_S, headers=caller.headers)


async def _stand_ins(api: httpx.AsyncClient, caller: Caller, unique: str) -> tuple[str, str, str]:
    """The id of the caller's token (its only one so far), a second admin, and a second token of the caller's."""
    listed = await api.get("/api/v1/tokens")
    assert listed.status_code == 200, listed.text
    (own,) = listed.json()
    stand_in_admin, _ = await create_user(api, "admin", f"fuzz-stand-in-{unique}")
    issued = await api.post("/api/v1/tokens", json={"name": "fuzz stand-in", "username": caller.username})
    assert issued.status_code == 201, issued.text
    return str(own["token_id"]), stand_in_admin, str(issued.json()["token_id"])


async def _command_ids(database_url: str) -> list[str]:
    catalog = await asyncpg.connect(database_dsn(database_url, CATALOG_DATABASE))
    try:
        rows = await catalog.fetch(
            "SELECT DISTINCT ON (status) command_id::text FROM commands ORDER BY status, replied_at DESC"
        )
    finally:
        await catalog.close()
    assert rows, "the catalog stored no reply, although the seed data was just written"
    return [row[0] for row in rows]


async def wait_for_runs_to_finish(caller: Caller, timeout_s: float = RUNS_DRAIN_TIMEOUT_S) -> None:
    """Wait until no run is queued or running, so the runs the fuzz run started cannot reach into later tests."""
    deadline = time.monotonic() + timeout_s
    async with _client(caller) as api:
        while busy := await _runs_in_flight(api):
            assert time.monotonic() < deadline, f"runs still in flight after {timeout_s:.0f} s: {busy[:5]}"
            await asyncio.sleep(0.5)


async def _runs_in_flight(api: httpx.AsyncClient) -> list[Any]:
    busy: list[Any] = []
    for status in ("queued", "running"):
        answer = await api.get("/api/v1/runs", params={"status": status})
        assert answer.status_code == 200, answer.text
        busy += answer.json()
    return busy


def _job_example(name: str, table: str, sftp: SftpServer, path: Path) -> dict[str, Any]:
    # A password instead of the peer's private key: the example shows in reports, and creating a job only
    # pins the host key, without logging in.
    body = job_body(name, table, sftp, path)
    body["source"] = {k: v for k, v in body["source"].items() if k != "private_key"} | {"password": "fuzz"}
    return body


def _user_example(username: str) -> dict[str, Any]:
    # A password that passes the rule: few generated ones do (12 characters, not a common one).
    return {"username": username, "password": generate_password(username), "role": "viewer"}


def _edit_example(name: str, table: str, sftp: SftpServer, path: Path) -> dict[str, Any]:
    body = _job_example(name, table, sftp, path) | {"expected_version": EXAMPLE_VERSION}
    del body["activate"]  # an edit does not activate
    return body
