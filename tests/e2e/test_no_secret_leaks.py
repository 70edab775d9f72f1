"""Invariant 6: the SFTP private key appears in no event, no log line and no API response."""

from __future__ import annotations

import asyncio

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from connect_devstack.services import Services
from connect_events import ALL_TOPICS
from tests.conftest import SftpServer
from tests.e2e.helpers import create, job_body, table_body, wait_for_run, write_csv


def _key_body(private_key: str) -> str:
    """A distinctive piece of the key's base64 body (the armour lines are the same for every key)."""
    lines = [line for line in private_key.splitlines() if line and not line.startswith("-----")]
    return lines[1]


async def _all_records(bootstrap: str) -> list[bytes]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(ALL_TOPICS))
    finally:
        await admin.close()
    partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values.extend(r.value for r in records)
        return values
    finally:
        await consumer.stop()


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
    records = await _all_records(kafka_bootstrap)
    assert records and not [r for r in records if secret.encode() in r]
    for name in ("gateway", "scheduler", "runner", "catalog"):
        assert secret not in services[name].log_file.read_text(), f"the {name} log holds the key"
