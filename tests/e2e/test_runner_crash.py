"""SIGKILL the runner in the middle of a load: after a restart the run ends once and each row is loaded once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx

from connect_devstack.services import Services
from connect_runtime.settings import database_dsn
from tests.conftest import SftpServer
from tests.e2e.helpers import (
    create,
    job_body,
    kill_runner_mid_load,
    ledger_rows,
    table_body,
    terminal_events,
    wait_for_run,
)

ROWS = 400_000


def _big_csv(path: Path, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        out.write("id,email,amount,visits,since\n")
        for i in range(rows):
            out.write(f"K{i},user{i}@example.com,{i % 1000}.25,{i % 50},2024-01-{i % 28 + 1:02d}\n")


async def test_runner_killed_mid_load_finishes_the_run_exactly_once(
    api: httpx.AsyncClient,
    services: Services,
    sftp: SftpServer,
    database_url: str,
    kafka_bootstrap: str,
    unique: str,
) -> None:
    table = f"crash_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    path = sftp.data_dir / unique / "big.csv"
    _big_csv(path, ROWS)
    job = await create(api, "/api/v1/jobs", job_body(f"Crash {unique}", table, sftp, path))
    run = (await api.post(f"/api/v1/jobs/{job['job_id']}/run")).json()["run"]
    job_id, run_id = (int(x) for x in run.split("."))

    await wait_for_run(api, run, {"running"}, timeout=60)
    audience = await asyncpg.connect(database_dsn(database_url, "audience"))
    try:
        await kill_runner_mid_load(services, audience, job_id, run_id)

        done = await wait_for_run(api, run, {"succeeded", "failed", "stopped"}, timeout=180)
        assert done["status"] == "succeeded", done
        assert done["attempt"] >= 2, "the restarted runner redid the run as a new attempt"
        assert done["counts"]["inserted"] == ROWS

        count, distinct = await audience.fetchrow(f'SELECT count(*), count(DISTINCT "ID") FROM custom."{table}"')
        assert count == distinct == ROWS
        assert await ledger_rows(audience, job_id, run_id) == 1
    finally:
        await audience.close()

    await asyncio.sleep(1.0)  # let the relay publish anything still in the outbox
    assert await terminal_events(kafka_bootstrap, run) == ["run.succeeded"]
