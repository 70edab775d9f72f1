"""Small helpers for end-to-end tests: request bodies and polling the read models through the API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx

from connect_devstack import demo
from connect_devstack.app import generate_password
from connect_devstack.services import Services
from connect_events import RUNS_TOPIC, TERMINAL_RUN_EVENTS, decode
from tests.conftest import SftpServer
from tests.kafka_records import read_topics

TERMINAL = {"succeeded", "failed", "stopped", "skipped"}


def table_body(name: str) -> dict[str, Any]:
    """A custom table with a text key, a number, an integer and a date."""
    return {
        "name": name,
        "columns": [
            {"name": "ID", "type": "text", "max_length": 20},
            {"name": "EMAIL", "type": "text", "max_length": 100},
            {"name": "AMOUNT", "type": "number", "precision": 12, "scale": 2},
            {"name": "VISITS", "type": "integer"},
            {"name": "SINCE", "type": "date"},
        ],
        "primary_key": ["ID"],
    }


def job_body(name: str, table: str, sftp: SftpServer, path: Path, **overrides: Any) -> dict[str, Any]:
    """An import-custom-table job reading `path` from the SFTP peer, merging on ID."""
    body: dict[str, Any] = {
        "name": name,
        "description": "e2e",
        "type": "import_custom_table",
        "source": {
            "host": sftp.host,
            "port": sftp.port,
            "user": sftp.user,
            "path": str(path),
            "private_key": sftp.private_key,
        },
        "file": {"delimiter": ",", "qualifier": '"', "header": True, "encoding": "utf-8"},
        "target": {"table": table, "write_mode": "merge"},
        "mapping": [
            {"source": "id", "target": "ID"},
            {"source": "email", "target": "EMAIL"},
            {"source": "amount", "target": "AMOUNT"},
            {"source": "visits", "target": "VISITS"},
            {"source": "since", "target": "SINCE"},
        ],
        "activate": True,
    }
    body.update(overrides)
    return body


def write_csv(path: Path, rows: list[tuple[str, ...]], header: str = "id,email,amount,visits,since") -> Path:
    """Write a CSV with `header` and `rows` to `path` on the SFTP peer's disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


async def create(api: httpx.AsyncClient, path: str, body: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    """POST, insist on 201, and wait until the read model shows the new resource (its `Location`)."""
    answer = await api.post(path, json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    deadline = time.monotonic() + timeout
    while (await api.get(answer.headers["Location"])).status_code != 200:
        assert time.monotonic() < deadline, f"{answer.headers['Location']} not visible after {timeout}s"
        await asyncio.sleep(0.1)
    return created


async def wait_for_run(api: httpx.AsyncClient, run: str, statuses: set[str], timeout: float = 90) -> dict[str, Any]:
    """Poll `GET /api/v1/runs/{run}` until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        answer = await api.get(f"/api/v1/runs/{run}")
        if answer.status_code == 200:
            last = answer.json()
            if last["status"] in statuses:
                return dict(last)
        await asyncio.sleep(0.2)
    raise AssertionError(f"run {run} did not reach {statuses} in {timeout}s; last seen: {last}")


@dataclass(frozen=True)
class UserClient:
    """A user made for a test and a client that calls as that user (`Authorization: Bearer <token>`)."""

    client: httpx.AsyncClient
    username: str
    password: str
    token: str


async def create_user(admin_api: httpx.AsyncClient, role: str, username: str | None = None) -> tuple[str, str]:
    """`POST /api/v1/users` as an admin: a new user of `role`; (user name, password)."""
    name = username or f"{role.replace('_', '-')}-{uuid4().hex[:8]}"
    password = generate_password(name)
    answer = await admin_api.post("/api/v1/users", json={"username": name, "password": password, "role": role})
    assert answer.status_code == 201, answer.text
    return name, password


async def issue_token(admin_api: httpx.AsyncClient, username: str, name: str = "e2e") -> str:
    """`POST /api/v1/tokens` as an admin: an API token of `username`; its secret."""
    answer = await admin_api.post("/api/v1/tokens", json={"name": name, "username": username})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


@asynccontextmanager
async def user_client(base_url: str, admin_api: httpx.AsyncClient, role: str) -> AsyncIterator[UserClient]:
    """A new user of `role` (made by `admin_api`, an admin's client) and a client calling with its token."""
    username, password = await create_user(admin_api, role)
    token = await issue_token(admin_api, username)
    headers = demo.bearer(token)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as client:
        yield UserClient(client, username, password, token)


async def ledger_rows(audience: asyncpg.Connection, job_id: int, run_id: int) -> int:
    """How many ledger rows (committed run ends) the runner stored for the run: 0 before its final commit, then 1."""
    found: int = await audience.fetchval(
        "SELECT count(*) FROM run_ledger WHERE job_id = $1 AND run_id = $2", job_id, run_id
    )
    return found


async def kill_runner_mid_load(services: Services, audience: asyncpg.Connection, job_id: int, run_id: int) -> None:
    """SIGKILL the runner half a second into a running run and start it again; fails when the load had already
    committed (the file is too small for the kill to land inside it)."""
    await asyncio.sleep(0.5)  # into the transfer / staging work
    services["runner"].kill()  # SIGKILL: no draining, no clean-up
    try:
        finished = await ledger_rows(audience, job_id, run_id)
    finally:
        services["runner"].start()  # later tests need a runner, whatever happens here
    assert finished == 0, "the load had already committed when the runner was killed: raise ROWS"


async def terminal_events(bootstrap: str, run: str) -> list[str]:
    """Every terminal event of `run` on connect.runs, read from the beginning of the topic."""
    events = [decode(RUNS_TOPIC, r.value) for r in await read_topics(bootstrap, [RUNS_TOPIC])]
    return [e.type for e in events if isinstance(e, TERMINAL_RUN_EVENTS) and e.aggregate_id == run]  # type: ignore[attr-defined]
