"""Invariant 6: the SFTP private key appears in no event, no log line and no API response."""

from __future__ import annotations

import asyncio

import httpx

from connect_devstack.services import Services
from connect_events import ALL_TOPICS
from tests.conftest import SftpServer
from tests.e2e.helpers import create, job_body, table_body, wait_for_run, write_csv
from tests.kafka_records import read_topics


def _key_body(private_key: str) -> str:
    """A distinctive piece of the key's base64 body (the armour lines are the same for every key)."""
    lines = [line for line in private_key.splitlines() if line and not line.startswith("-----")]
    return lines[1]


async def test_the_private_key_never_leaves_the_vault(
    api: httpx.AsyncClient, services: Services, sftp: SftpServer, kafka_bootstrap: str, unique: str
) -> None:
    table = f"secrets_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    path = write_csv(sftp.data_dir / unique / "s.csv", [("S1", "s@example.com", "1", "1", "2024-01-01")])
    body = job_body(f"Secrets {unique}", table, sftp, path)
    created = await create(api, "/api/v1/jobs", body)
    # A refused request that carries the key must not echo it either.
    refused = await api.post("/api/v1/jobs", json=body | {"name": "bad/name"})
    run = (await api.post(f"/api/v1/jobs/{created['job_id']}/run")).json()["run"]
    await wait_for_run(api, run, {"succeeded"})
    await asyncio.sleep(0.5)

    secret = _key_body(sftp.private_key)
    responses = [
        refused.text,
        (await api.get("/api/v1/jobs")).text,
        (await api.get(f"/api/v1/jobs/{created['job_id']}")).text,
        (await api.get(f"/api/v1/runs/{run}")).text,
        (await api.get(f"/api/v1/runs/{run}/log")).text,
    ]
    assert not [r for r in responses if secret in r]
    records = [r.value for r in await read_topics(kafka_bootstrap, ALL_TOPICS)]
    assert records and not [r for r in records if secret.encode() in r]
    for name in ("gateway", "scheduler", "runner", "catalog"):
        assert secret not in services[name].log_file.read_text(), f"the {name} log holds the key"
