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
    CopyJob,
    CopyJobPayload,
    CreateJob,
    CreateJobPayload,
    DefineTable,
    DefineTablePayload,
    Event,
    ImportCustomTable,
    JobCommandPayload,
    JobDefinition,
    OnDemand,
    RunCounts,
    RunEndedPayload,
    RunJobNow,
    RunJobNowPayload,
    RunLogged,
    RunLoggedPayload,
    RunRequested,
    RunStarted,
    RunStartedPayload,
    RunSucceeded,
    Schedule,
    SftpLocation,
    StopRun,
    StopRunPayload,
    TableSpec,
    UpdateJob,
    UpdateJobPayload,
    decode,
    run_key,
)
from connect_runtime.db import Conn
from connect_scheduler.adapters import run_view

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
ON_DEMAND = OnDemand()
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


def definition(
    name: str = "Nightly customers", table: str = "Customers", port: int = 22, schedule: Schedule = ON_DEMAND
) -> JobDefinition:
    source = SftpLocation(
        host="sftp.example.com",
        port=port,
        user="loader",
        path="upload/customers.csv",
        credential_ref=UUID(int=1),
        host_key="ssh-ed25519 AAAA",
        host_key_fingerprint="SHA256:abc",
    )
    mapping = (ColumnMapping(source="id", target="id"), ColumnMapping(source="email", target="email"))
    settings = ImportCustomTable(source=source, table=table, mapping=mapping)
    return JobDefinition(name=name, settings=settings, schedule=schedule)


def define_table(spec: TableSpec | None = None) -> DefineTable:
    return DefineTable(**meta(), payload=DefineTablePayload(table=spec or customers()))


def create_job(job: JobDefinition | None = None, *, activate: bool = False) -> CreateJob:
    return CreateJob(**meta(), payload=CreateJobPayload(definition=job or definition(), activate=activate))


def update_job(job_id: int, expected_version: int, job: JobDefinition) -> UpdateJob:
    payload = UpdateJobPayload(job_id=job_id, expected_version=expected_version, definition=job)
    return UpdateJob(**meta(), payload=payload)


def job_command(cls: type[Any], job_id: int, expected_version: int | None = None) -> Any:
    return cls(**meta(), payload=JobCommandPayload(job_id=job_id, expected_version=expected_version))


def run_now(job_id: int, key: str | None = None, *, dry_run: bool = False) -> RunJobNow:
    return RunJobNow(**meta(), payload=RunJobNowPayload(job_id=job_id, idempotency_key=key, dry_run=dry_run))


def copy_job(job_id: int, name: str) -> CopyJob:
    return CopyJob(**meta(), payload=CopyJobPayload(job_id=job_id, name=name))


def stop_run(job_id: int, run_id: int) -> StopRun:
    return StopRun(**meta(), payload=StopRunPayload(job_id=job_id, run_id=run_id))


def _run_meta(job_id: int, run_id: int, version: int) -> dict[str, Any]:
    return {
        "event_id": uuid4(),
        "aggregate_id": run_key(job_id, run_id),
        "aggregate_version": version,
        "occurred_at": T0,
        "actor": "runner",
        "correlation_id": uuid4(),
    }


def run_started(job_id: int, run_id: int) -> RunStarted:
    payload = RunStartedPayload(job_id=job_id, run_id=run_id, attempt=1, runner="runner-1", started_at=T0)
    return RunStarted(**_run_meta(job_id, run_id, 2), payload=payload)


def run_logged(job_id: int, run_id: int, version: int = 3) -> RunLogged:
    payload = RunLoggedPayload(job_id=job_id, run_id=run_id, attempt=1, stage="parsed", message="2 rows read")
    return RunLogged(**_run_meta(job_id, run_id, version), payload=payload)


def run_succeeded(job_id: int, run_id: int) -> RunSucceeded:
    payload = RunEndedPayload(job_id=job_id, run_id=run_id, counts=RunCounts(), started_at=T0, finished_at=T0)
    return RunSucceeded(**_run_meta(job_id, run_id, 3), payload=payload)


async def outbox(conn: Conn) -> list[tuple[str, str, Event]]:
    """(topic, key, event) of every queued outbox row, oldest first."""
    rows = await conn.fetch(OUTBOX)
    decoded = [(r["topic"], r["key"], decode(r["topic"], bytes(r["value"]))) for r in rows]
    return [(topic, key, event) for topic, key, event in decoded if isinstance(event, Event)]


async def last_request(conn: Conn) -> RunRequested:
    """The run request queued last in the outbox."""
    return [e for _, _, e in await outbox(conn) if isinstance(e, RunRequested)][-1]


async def run_ended(conn: Conn, job_id: int, run_id: int) -> None:
    """The runs consumer has seen the run's request (the last one queued) start and succeed."""
    for event in (await last_request(conn), run_started(job_id, run_id), run_succeeded(job_id, run_id)):
        await run_view.apply(conn, event)


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
