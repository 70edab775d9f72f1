"""Commands and events for the scheduler's integration tests."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from connect_events import (
    ColumnMapping,
    ColumnSpec,
    ColumnType,
    CreateJob,
    CreateJobPayload,
    DefineTable,
    DefineTablePayload,
    Event,
    ImportCustomTable,
    JobCommandPayload,
    JobDefinition,
    RunJobNow,
    RunJobNowPayload,
    SftpLocation,
    TableSpec,
    UpdateJob,
    UpdateJobPayload,
    decode,
)
from connect_runtime.db import Conn

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
OUTBOX = "SELECT topic, key, value FROM outbox ORDER BY id"
BLOCKED = "SELECT cardinality(pg_blocking_pids($1)) > 0"


def meta() -> dict[str, Any]:
    return {"command_id": uuid4(), "issued_at": T0, "actor": "alice", "correlation_id": uuid4()}


def customers(name: str = "Customers") -> TableSpec:
    columns = (
        ColumnSpec(name="id", type=ColumnType.INTEGER),
        ColumnSpec(name="email", type=ColumnType.TEXT, max_length=200),
    )
    return TableSpec(name=name, columns=columns, primary_key=("id",))


def definition(name: str = "Nightly customers", table: str = "Customers") -> JobDefinition:
    source = SftpLocation(
        host="sftp.example.com",
        user="loader",
        path="upload/customers.csv",
        credential_ref=UUID(int=1),
        host_key="ssh-ed25519 AAAA",
        host_key_fingerprint="SHA256:abc",
    )
    mapping = (ColumnMapping(source="id", target="id"), ColumnMapping(source="email", target="email"))
    return JobDefinition(name=name, settings=ImportCustomTable(source=source, table=table, mapping=mapping))


def define_table(spec: TableSpec | None = None) -> DefineTable:
    return DefineTable(**meta(), payload=DefineTablePayload(table=spec or customers()))


def create_job(job: JobDefinition | None = None, *, activate: bool = False) -> CreateJob:
    return CreateJob(**meta(), payload=CreateJobPayload(definition=job or definition(), activate=activate))


def update_job(job_id: int, expected_version: int, job: JobDefinition) -> UpdateJob:
    payload = UpdateJobPayload(job_id=job_id, expected_version=expected_version, definition=job)
    return UpdateJob(**meta(), payload=payload)


def job_command(cls: type[Any], job_id: int, expected_version: int | None = None) -> Any:
    return cls(**meta(), payload=JobCommandPayload(job_id=job_id, expected_version=expected_version))


def run_now(job_id: int, key: str | None = None) -> RunJobNow:
    return RunJobNow(**meta(), payload=RunJobNowPayload(job_id=job_id, idempotency_key=key))


async def outbox(conn: Conn) -> list[tuple[str, str, Event]]:
    """(topic, key, event) of every queued outbox row, oldest first."""
    rows = await conn.fetch(OUTBOX)
    decoded = [(r["topic"], r["key"], decode(r["topic"], bytes(r["value"]))) for r in rows]
    return [(topic, key, event) for topic, key, event in decoded if isinstance(event, Event)]


async def count(conn: Conn, table: str) -> int:
    value: int = await conn.fetchval(f"SELECT count(*) FROM {table}")  # test-only, fixed table names
    return value


async def wait_blocked(observer: Conn, pid: int, task: asyncio.Task[Any], timeout_s: float = 10.0) -> None:
    """Until backend `pid` waits for a lock another transaction holds (or `task` already finished)."""
    deadline = time.monotonic() + timeout_s
    while not task.done():
        if await observer.fetchval(BLOCKED, pid):
            return
        assert time.monotonic() < deadline, f"backend {pid} never blocked in {timeout_s}s"
        await asyncio.sleep(0.02)
