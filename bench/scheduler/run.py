"""bench/scheduler: how late 10,000 jobs due in the same minute start, without and with 100,000 idle jobs.

Kafka and PostgreSQL come from the devstack; the scheduler runs as its own process (`python -m
connect_scheduler`), so its CPU time is its own. The jobs are created in this process through the scheduler's
command handlers, with the scheduler stopped; their creation events are then dropped from the outbox (nothing
here reads `connect.jobs`), so that publishing them does not weigh on the measured minute.

- phase 1: 10,000 active jobs on `* * * * *`;
- phase 2: the same, plus 100,000 active jobs whose cron fires once a year (their rows wait in the due table).

In each phase the scheduler is started and waited for (it has consumed every run event so far), then the
10,000 due rows are set to the next whole minute at least `--lead` seconds ahead. A stand-in
runner here answers each `run.requested` at once with `run.started` and `run.succeeded` on `connect.runs` (so
the next minute's fire finds no run in progress). Lateness is the Kafka timestamp of each `run.requested`
record minus its due time; CPU is the scheduler's user+system time from its being ready until the last record
of the minute is on Kafka. Then the next minute's fires are counted: requested, and skipped.

Prints p50/p99 lateness and CPU seconds per phase, and their ratios. Usage: `python bench/scheduler/run.py`
(`--due N --idle N` for other sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from connect_devstack import Stack
from connect_devstack.services import Service
from connect_events import (
    RUNS_TOPIC,
    ColumnMapping,
    ColumnSpec,
    ColumnType,
    CommandAccepted,
    CreateJob,
    CreateJobPayload,
    Cron,
    DefineTable,
    DefineTablePayload,
    ImportCustomTable,
    JobDefinition,
    RunCounts,
    RunEndedPayload,
    RunRequested,
    RunSkipped,
    RunStarted,
    RunStartedPayload,
    RunSucceeded,
    SftpLocation,
    TableSpec,
    decode,
    encode,
)
from connect_runtime.kafka import ensure_topics, make_producer
from connect_scheduler.bootstrap import prepare_database
from connect_scheduler.handlers import handle_command

DATABASE = "scheduler"
PARTITIONS = 3  # of every topic, as the services create them by default
COMMANDS_PER_TRANSACTION = 1000
MINUTE = timedelta(minutes=1)
MINUTE_TIMEOUT_S = 300.0  # give up on a minute whose records have not all arrived by then
STARTUP_S = 10.0  # the scheduler's start (imports, consumers joining) is not part of the CPU measured
PARKED = datetime(2100, 1, 1, tzinfo=UTC)  # a fire of every due job's schedule, far ahead
CATCH_UP_TIMEOUT_S = 1200.0  # the previous phase leaves tens of thousands of run events to consume
RUNS_CONSUMER_GROUP = "scheduler-runs"  # the scheduler's consumer of connect.runs (its default group + "-runs")
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def table() -> TableSpec:
    columns = (ColumnSpec(name="id", type=ColumnType.INTEGER), ColumnSpec(name="email", type=ColumnType.TEXT))
    return TableSpec(name="Bench", columns=columns, primary_key=("id",))


def job(name: str, expression: str) -> JobDefinition:
    source = SftpLocation(
        host="sftp.example.com",
        user="loader",
        path="upload/bench.csv",
        credential_ref=UUID(int=1),
        host_key="ssh-ed25519 AAAA",
        host_key_fingerprint="SHA256:bench",
    )
    mapping = (ColumnMapping(source="id", target="id"), ColumnMapping(source="email", target="email"))
    settings = ImportCustomTable(source=source, table="Bench", mapping=mapping)
    return JobDefinition(name=name, settings=settings, schedule=Cron(expression=expression))


def meta() -> dict[str, Any]:
    return {"command_id": uuid4(), "issued_at": datetime.now(UTC), "actor": "bench", "correlation_id": uuid4()}


async def create_jobs(dsn: str, prefix: str, count: int, expression: str) -> list[int]:
    """`count` active jobs through the scheduler's handlers, many commands per transaction."""
    conn = await asyncpg.connect(dsn)
    ids: list[int] = []
    began = time.perf_counter()
    try:
        if not await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = 'table:bench'"):
            await handle_command(conn, DefineTable(**meta(), payload=DefineTablePayload(table=table())))
        for start in range(0, count, COMMANDS_PER_TRANSACTION):
            async with conn.transaction():
                for i in range(start, min(start + COMMANDS_PER_TRANSACTION, count)):
                    payload = CreateJobPayload(definition=job(f"{prefix} {i:06d}", expression), activate=True)
                    reply = await handle_command(conn, CreateJob(**meta(), payload=payload))
                    assert isinstance(reply, CommandAccepted), reply
                    ids.append(int(reply.payload.target_id))
        # Nothing reads connect.jobs or connect.replies here: publishing them would only load the minute measured.
        await conn.execute("TRUNCATE outbox")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    print(f"created {count:,} jobs '{prefix} …' ({expression}) in {time.perf_counter() - began:.0f} s", flush=True)
    return ids


async def set_due(dsn: str, job_ids: list[int], due: datetime) -> None:
    """Make the jobs' next fire `due` (a fire of their `* * * * *` schedule)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE job_schedules SET fire_at = $2, due_at = $2, wake_at = $2 WHERE job_id = ANY($1::bigint[])",
            job_ids,
            due,
        )
    finally:
        await conn.close()


@dataclass
class Minute:
    """What the stand-in runner saw of one minute's fires."""

    due: datetime
    lateness_s: list[float]
    skipped: int = 0
    last_seen: float = 0.0


class StandInRunner:
    """Reads `connect.runs` from its end; answers each `run.requested` at once and records its lateness."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._producer: AIOKafkaProducer = make_producer(bootstrap)
        self.minutes: dict[datetime, Minute] = {}

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        partitions = [TopicPartition(RUNS_TOPIC, p) for p in range(PARTITIONS)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)

    async def stop(self) -> None:
        await self._consumer.stop()
        await self._producer.stop()

    async def run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    await self._answer(record)

    async def _answer(self, record: Any) -> None:
        event = decode(RUNS_TOPIC, record.value)
        if isinstance(event, RunSkipped):
            self._minute(event.payload.scheduled_for).skipped += 1
        if not isinstance(event, RunRequested) or event.payload.scheduled_for is None:
            return
        minute = self._minute(event.payload.scheduled_for)
        minute.lateness_s.append(record.timestamp / 1000 - event.payload.scheduled_for.timestamp())
        minute.last_seen = time.monotonic()
        for answer in _answers(event):
            await self._producer.send(RUNS_TOPIC, encode(answer), key=answer.partition_key.encode())

    async def runs_end(self) -> int:
        """How many records `connect.runs` holds, over all its partitions."""
        ends = await self._consumer.end_offsets([TopicPartition(RUNS_TOPIC, p) for p in range(PARTITIONS)])
        return sum(ends.values())

    def _minute(self, due: datetime) -> Minute:
        return self.minutes.setdefault(due, Minute(due, []))


def _answers(requested: RunRequested) -> list[RunStarted | RunSucceeded]:
    p, now = requested.payload, datetime.now(UTC)
    common: dict[str, Any] = {"aggregate_id": requested.aggregate_id, "occurred_at": now, "actor": "bench-runner"}
    common |= {"correlation_id": requested.correlation_id, "causation_id": requested.event_id}
    started = RunStartedPayload(job_id=p.job_id, run_id=p.run_id, attempt=1, runner="bench", started_at=now)
    ended = RunEndedPayload(job_id=p.job_id, run_id=p.run_id, counts=RunCounts(), started_at=now, finished_at=now)
    return [
        RunStarted(**common, event_id=uuid4(), aggregate_version=2, payload=started),
        RunSucceeded(**common, event_id=uuid4(), aggregate_version=3, payload=ended),
    ]


async def caught_up(dsn: str, runner: StandInRunner) -> None:
    """Until the scheduler consumed every run event so far (the previous phase's last answers): that backlog is
    not part of the minute measured."""
    began = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        while (backlog := await runner.runs_end() - await _consumed(conn)) > 0:
            if time.monotonic() > began + CATCH_UP_TIMEOUT_S:
                raise RuntimeError(f"the scheduler did not catch up with connect.runs ({backlog:,} records behind)")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    print(f"the scheduler consumed the run events so far in {time.monotonic() - began:.0f} s", flush=True)


async def _consumed(conn: asyncpg.Connection) -> int:
    stored: int | None = await conn.fetchval(
        "SELECT sum(next_offset)::bigint FROM consumer_offsets WHERE consumer_group = $1 AND topic = $2",
        RUNS_CONSUMER_GROUP,
        RUNS_TOPIC,
    )
    return stored or 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


async def wait_minute(runner: StandInRunner, due: datetime, expected: int) -> Minute:
    """Until `expected` fires of `due` were seen (requested or skipped)."""
    deadline = time.monotonic() + (due - datetime.now(UTC)).total_seconds() + MINUTE_TIMEOUT_S
    while True:
        minute = runner.minutes.get(due)
        if minute is not None and len(minute.lateness_s) + minute.skipped >= expected:
            return minute
        if time.monotonic() > deadline:
            seen = 0 if minute is None else len(minute.lateness_s) + minute.skipped
            raise RuntimeError(f"only {seen} of {expected} fires of {due:%H:%M} arrived")
        await asyncio.sleep(0.05)


@dataclass
class Result:
    label: str
    p50_s: float
    p99_s: float
    max_s: float
    cpu_s: float
    next_requested: int
    next_skipped: int


async def phase(label: str, scheduler: Service, dsn: str, bootstrap: str, due_ids: list[int], lead_s: float) -> Result:
    """Start the scheduler, make the due jobs fire at the next whole minute once it is ready, measure, stop it.

    The rows are parked far ahead while the scheduler starts, so it finds no fires passed while it was stopped
    (their catch-up would run during the minute measured).
    """
    runner = StandInRunner(bootstrap)
    await runner.start()
    answering = asyncio.create_task(runner.run())
    await set_due(dsn, due_ids, PARKED)
    scheduler.start()
    try:
        pid = scheduler.pid
        assert pid is not None
        await asyncio.sleep(STARTUP_S)
        await caught_up(dsn, runner)
        due = (datetime.now(UTC) + timedelta(seconds=lead_s) + MINUTE).replace(second=0, microsecond=0)
        await set_due(dsn, due_ids, due)
        cpu_before = cpu_s(pid)
        print(f"{label}: {len(due_ids):,} jobs due at {due:%H:%M:%S} UTC …", flush=True)
        minute = await wait_minute(runner, due, len(due_ids))
        cpu = cpu_s(pid) - cpu_before
        following = await wait_minute(runner, due + MINUTE, len(due_ids))
    finally:
        answering.cancel()
        await asyncio.gather(answering, return_exceptions=True)
        await runner.stop()
        scheduler.stop()
    late = sorted(minute.lateness_s)
    return Result(
        label,
        p50_s=statistics.median(late),
        p99_s=late[min(len(late) - 1, int(len(late) * 0.99))],
        max_s=late[-1],
        cpu_s=cpu,
        next_requested=len(following.lateness_s),
        next_skipped=following.skipped,
    )


def report(result: Result, due: int) -> None:
    print(
        f"{result.label:<28} p50 {result.p50_s:6.3f} s   p99 {result.p99_s:6.3f} s   max {result.max_s:6.3f} s   "
        f"scheduler CPU {result.cpu_s:6.2f} s   next minute: {result.next_requested:,} requested, "
        f"{result.next_skipped:,} skipped (of {due:,})",
        flush=True,
    )


async def bench(due_count: int, idle_count: int, lead_s: float) -> None:
    """Both phases on one stack; prints each result and the ratios."""
    state = Path(tempfile.mkdtemp(prefix="connect-bench-scheduler-"))
    stack = Stack(state, components=["kafka", "postgres"])
    infra = stack.start()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra["KAFKA_BOOTSTRAP_SERVERS"],
        "DATABASE_URL": infra["DATABASE_URL"],
        "SCHEDULER_DATABASE": DATABASE,
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),  # INFO shows each tick's size and time
    }
    scheduler = Service("scheduler", state, env)
    bootstrap = infra["KAFKA_BOOTSTRAP_SERVERS"]
    try:
        dsn = await prepare_database(infra["DATABASE_URL"], DATABASE)
        await ensure_topics(bootstrap, PARTITIONS)
        due_ids = await create_jobs(dsn, "Due", due_count, "* * * * *")
        alone = await phase("due jobs only", scheduler, dsn, bootstrap, due_ids, lead_s)
        report(alone, due_count)
        await create_jobs(dsn, "Idle", idle_count, "0 0 1 1 *")
        crowded = await phase(f"with {idle_count:,} idle jobs", scheduler, dsn, bootstrap, due_ids, lead_s)
        report(alone, due_count)
        report(crowded, due_count)
        print(
            f"ratio with/without idle jobs: p50 {crowded.p50_s / alone.p50_s:.2f}   "
            f"p99 {crowded.p99_s / alone.p99_s:.2f}   CPU {crowded.cpu_s / alone.cpu_s:.2f}"
        )
    finally:
        scheduler.stop()
        stack.stop()


def main() -> None:
    """CLI."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--due", type=int, default=10_000, help="jobs due in the same minute")
    parser.add_argument("--idle", type=int, default=100_000, help="further jobs not due (second phase)")
    lead = "seconds at least between setting the due rows and their minute"
    parser.add_argument("--lead", type=float, default=20.0, help=lead)
    args = parser.parse_args()
    asyncio.run(bench(args.due, args.idle, args.lead))


if __name__ == "__main__":
    main()
