"""SIGKILL the runner in the middle of a profile import with a PET: after a restart the run ends once, the list
and the PET hold each row once, RIIDs are unique and no PET row lacks its list row."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from connect_devstack.services import Services
from connect_runtime.settings import database_dsn
from tests.e2e.helpers import create, kill_runner_mid_load, ledger_rows, terminal_events, wait_for_run

ROWS = 60_000  # a load of about 5 s here: the kill, 0.5 s after the run starts, lands well inside it


def _big_csv(rows: int) -> bytes:
    lines = ["email,city,points", *(f"user{i}@example.com,City {i % 97},{i % 1000}" for i in range(rows))]
    return ("\n".join(lines) + "\n").encode()


async def test_runner_killed_mid_profile_load_finishes_the_run_exactly_once(
    api: httpx.AsyncClient, services: Services, database_url: str, kafka_bootstrap: str, unique: str
) -> None:
    members, loyalty = f"Crash_{unique}", f"Crash_pet_{unique}"
    await create(api, "/api/v1/lists", {"name": members})
    columns = [{"name": "POINTS", "type": "integer"}]
    await create(api, "/api/v1/pets", {"name": loyalty, "list_name": members, "columns": columns})
    path = f"upload/crash_{unique}.csv"
    assert (await api.put(f"/api/v1/files/{path}", content=_big_csv(ROWS))).status_code == 201
    body = {
        "name": f"Profile crash {unique}",
        "type": "import_profile_data",
        "source": {"kind": "hosted", "path": path},
        "target": {"list": members},
        "mapping": [{"source": "email", "target": "EMAIL_ADDRESS_"}, {"source": "city", "target": "CITY_"}],
        "pets": [{"pet": loyalty, "mapping": [{"source": "points", "target": "POINTS"}]}],
        "activate": True,
    }
    job = await create(api, "/api/v1/jobs", body)
    run = (await api.post(f"/api/v1/jobs/{job['job_id']}/run")).json()["run"]
    job_id, run_id = (int(x) for x in run.split("."))

    await wait_for_run(api, run, {"running"}, timeout=60)
    audience = await asyncpg.connect(database_dsn(database_url, "audience"))
    try:
        await kill_runner_mid_load(services, audience, job_id, run_id)

        done = await wait_for_run(api, run, {"succeeded", "failed", "stopped"}, timeout=240)
        assert done["status"] == "succeeded", done
        assert done["attempt"] >= 2, "the restarted runner redid the run as a new attempt"
        assert (done["counts"]["inserted"], done["counts"]["rejected"]) == (ROWS, 0)

        listed = await audience.fetchrow(
            f'SELECT count(*), count(DISTINCT "EMAIL_ADDRESS_"), count(DISTINCT "RIID_") FROM lists."{members}"'
        )
        assert listed is not None and tuple(listed) == (ROWS, ROWS, ROWS)  # each row once, RIIDs unique
        extended = await audience.fetchrow(
            f'SELECT count(*), count(*) FILTER (WHERE l."RIID_" IS NULL) FROM pets."{loyalty}" p '
            f'LEFT JOIN lists."{members}" l ON l."RIID_" = p."RIID_"'
        )
        assert extended is not None and tuple(extended) == (ROWS, 0)  # each PET row once, none without its list row
        assert await ledger_rows(audience, job_id, run_id) == 1
    finally:
        await audience.close()

    await asyncio.sleep(1.0)  # let the relay publish anything still in the outbox
    assert await terminal_events(kafka_bootstrap, run) == ["run.succeeded"]
