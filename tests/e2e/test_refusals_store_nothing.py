"""The inputs the hardening fuzz run found (issue 5): each is refused with a 4xx naming the field, and nothing
stored changes — no command is sent, no event, credential, job or table is written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from connect_events import COMMANDS_TOPIC
from connect_runtime.settings import database_dsn
from tests.conftest import SftpServer
from tests.e2e.helpers import create, job_body, table_body

BAD_HOSTS = ["a..b", ".", "a" * 64, "a\u0095", "a\u0000b"]


@dataclass(frozen=True)
class Stored:
    """Everything a refused request must leave as it was."""

    jobs: Any
    tables: Any
    events: int
    credentials: int
    commands_end: dict[int, int]


@pytest.fixture
async def stored(api: httpx.AsyncClient, database_url: str, kafka_bootstrap: str) -> AsyncIterator[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)  # only to read the topic's partitions
    await consumer.start()
    await producer.start()
    scheduler = await asyncpg.connect(database_dsn(database_url, "scheduler"))
    vault = await asyncpg.connect(database_dsn(database_url, "vault"))

    async def snapshot() -> Stored:
        partitions = [TopicPartition(COMMANDS_TOPIC, p) for p in await producer.partitions_for(COMMANDS_TOPIC)]
        ends = await consumer.end_offsets(partitions)
        return Stored(
            jobs=(await api.get("/api/v1/jobs", params={"limit": 1000})).json(),
            tables=(await api.get("/api/v1/tables")).json(),
            events=await scheduler.fetchval("SELECT count(*) FROM events"),
            credentials=await vault.fetchval("SELECT count(*) FROM credentials"),
            commands_end={tp.partition: offset for tp, offset in ends.items()},
        )

    try:
        yield snapshot
    finally:
        await scheduler.close()
        await vault.close()
        await consumer.stop()
        await producer.stop()


@pytest.fixture
async def table(api: httpx.AsyncClient, unique: str) -> str:
    name = f"refusals_{unique}"
    await create(api, "/api/v1/tables", table_body(name))
    return name


def _fields(answer: httpx.Response) -> list[str]:
    return [e["field"] for e in answer.json()["errors"]]


async def test_bad_hosts_nul_values_and_broken_bodies_are_refused_and_store_nothing(
    api: httpx.AsyncClient, sftp: SftpServer, table: str, unique: str, stored: Any
) -> None:
    before = await stored()
    job = job_body(f"Refused {unique}", table, sftp, sftp.data_dir / "x.csv")
    refusals: list[tuple[httpx.Response, str]] = []
    for host in BAD_HOSTS:
        body = job | {"source": job["source"] | {"host": host}}
        refusals.append((await api.post("/api/v1/jobs", json=body), "source.host"))
        refusals.append((await api.put("/api/v1/jobs/999999", json=body | {"expected_version": 1}), "source.host"))
        with_key = body | {"source": body["source"] | {"host_key": sftp.host_key}}
        refusals.append((await api.post("/api/v1/jobs", json=with_key), "source.host"))
    refusals.append((await api.post("/api/v1/jobs", json=job | {"name": "nul\u0000name"}), "name"))
    refusals.append(
        (await api.post("/api/v1/jobs", json=job | {"source": job["source"] | {"path": "/a\nb.csv"}}), "source.path")
    )
    refusals.append((await api.post("/api/v1/tables", json=table_body("nul\u0000table")), "name"))
    refusals.append((await api.get("/api/v1/jobs", params={"q": "\u0000"}), "q"))
    refusals.append((await api.get("/api/v1/tables/a%00b"), "name"))
    not_utf8 = b'{"name": "\xff\xfe", "type": "import_custom_table"}'
    refusals.append(
        (await api.post("/api/v1/jobs", content=not_utf8, headers={"Content-Type": "application/json"}), "body")
    )
    for answer, field in refusals:
        request = f"{answer.request.method} {answer.request.url.path}"
        assert answer.status_code == 422, f"{request}: {answer.status_code} {answer.text}"
        assert field in _fields(answer), f"{request}: {answer.text}"
        assert "\u0000" not in answer.text and "idna" not in answer.text, f"{request}: {answer.text}"
    assert await stored() == before
