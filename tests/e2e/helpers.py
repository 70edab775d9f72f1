"""Small helpers for end-to-end tests: request bodies and polling the read models through the API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import SftpServer

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
