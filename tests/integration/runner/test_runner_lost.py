"""A run whose runner was killed while no other runner was alive ends *Failed* `RUNNER_LOST` through the reaper
of the next runner to start, once the silence passed `abandon_after_s`: one terminal event, the target
unchanged, and the redelivered request then returns the stored event instead of starting a new attempt.

Real runner processes (`python -m connect_runner`) on the session's Kafka, PostgreSQL and sshd; their group
starts at the end of `connect.runs`, so they see this test's request only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from connect_devstack import _proc
from connect_events import RUNS_TOPIC, TERMINAL_RUN_EVENTS, RunFailed, decode, encode
from connect_runner.adapters.schema import RUNNER_DDL
from connect_runtime.kafka import ensure_topics
from connect_runtime.vault import VAULT_DDL, Credential, Vault, generate_key
from tests.conftest import SftpServer
from tests.databases import throwaway_pool
from tests.integration.runner.runner_it import sftp_location, table_rows
from tests.kafka_records import read_topics
from tests.polling import until
from tests.unit.runner.runner_builders import people_table, run_request

pytestmark = pytest.mark.integration
ROWS = 800_000
ABANDON_AFTER_S = 3.0
PARTITIONS = 3


class RunnerProcesses:
    """Runner processes sharing one environment; each logs to `<dir>/<name>.log`."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.started: dict[str, Any] = {}

    def start(self, name: str, **settings: str) -> None:
        env = {**os.environ, **self.env, "RUNNER_NAME": name, **settings}
        argv = [sys.executable, "-m", "connect_runner"]
        self.started[name] = _proc.spawn(argv, log_path=self.log_dir / f"{name}.log", cwd=self.log_dir, env=env)

    def kill(self, name: str) -> None:
        """SIGKILL: no draining, no clean-up."""
        proc = self.started[name]
        _proc.terminate(proc.pid, timeout=5.0, sig=signal.SIGKILL, proc=proc)

    def stop_all(self) -> None:
        for proc in self.started.values():
            _proc.terminate(proc.pid, timeout=15.0, proc=proc)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-4000:]


@pytest.fixture
async def databases(database_url: str, sftp_server: SftpServer, unique: str) -> AsyncIterator[dict[str, Any]]:
    """An audience and a vault database of this test's own, with the SFTP key in the vault."""
    audience, vault = f"lost_{unique}", f"lost_vault_{unique}"
    key, ref = generate_key(), uuid4()
    async with (
        throwaway_pool(database_url, audience, RUNNER_DDL) as pool,
        throwaway_pool(database_url, vault, VAULT_DDL, max_size=2) as vault_pool,
    ):
        await Vault(vault_pool, key).store(ref, Credential(kind="private_key", secret=sftp_server.private_key))
        yield {"pool": pool, "audience": audience, "vault": vault, "key": key, "ref": ref}


@pytest.fixture
def runners(
    databases: dict[str, Any], database_url: str, kafka_bootstrap: str, tmp_path: Path, unique: str
) -> Iterator[RunnerProcesses]:
    group = f"runner-lost-{unique}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "CONNECT_TOPIC_PARTITIONS": str(PARTITIONS),
        "CONNECT_VAULT_KEY": databases["key"],
        "AUDIENCE_DATABASE": databases["audience"],
        "VAULT_DATABASE": databases["vault"],
        "RUNNER_CONSUMER_GROUP": group,
        "RUNNER_TABLES_CONSUMER_GROUP": f"{group}-tables",
        "RUNNER_WORK_DIR": str(tmp_path / "work"),
    }
    processes = RunnerProcesses(env, tmp_path)
    yield processes
    processes.stop_all()


async def _start_group_at_the_end(bootstrap: str, group: str) -> None:
    """Commit the group's offsets at the end of `connect.runs`: its runners see only what comes next."""
    await ensure_topics(bootstrap, PARTITIONS)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([RUNS_TOPIC])
    finally:
        await admin.close()
    partitions = [TopicPartition(RUNS_TOPIC, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.commit(dict(await consumer.end_offsets(partitions)))
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(tp)
        return offset
    finally:
        await consumer.stop()


def _big_people(path: Path, rows: int) -> None:
    with path.open("w") as out:
        out.write("id,name,score,active,born,seen\n")
        for i in range(rows):
            out.write(f"{i},n{i % 1000},{i % 100}.5,true,2024-01-{i % 28 + 1:02d},\n")


async def test_a_run_whose_runner_died_ends_failed_runner_lost_via_the_next_runners_reaper(
    databases: dict[str, Any],
    runners: RunnerProcesses,
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    sftp_server: SftpServer,
    unique: str,
) -> None:
    pool: asyncpg.Pool = databases["pool"]
    job_id = 900_000_000 + int(unique, 16) % 1_000_000  # far from the ids other tests give their jobs
    path = sftp_server.data_dir / f"lost-{unique}" / "big.csv"
    path.parent.mkdir(parents=True)
    _big_people(path, ROWS)
    table = people_table(f"lost_{unique}")
    request = run_request(job_id, 1, source=sftp_location(sftp_server, str(path), databases["ref"]), table=table)
    await _start_group_at_the_end(kafka_bootstrap, runners.env["RUNNER_CONSUMER_GROUP"])

    runners.start("lost-a")
    sent = await producer.send_and_wait(RUNS_TOPIC, encode(request), key=request.partition_key.encode())

    async def ticked() -> bool:  # started, and a progress tick has beaten since
        row = await pool.fetchrow(
            "SELECT started_at, heartbeat_at FROM run_attempts WHERE job_id = $1 AND run_id = 1", job_id
        )
        return row is not None and row["heartbeat_at"] > row["started_at"]

    await until(ticked, timeout_s=90)
    runners.kill("lost-a")
    ledger_rows = await pool.fetchval("SELECT count(*) FROM run_ledger WHERE job_id = $1", job_id)
    assert ledger_rows == 0, "the load had already committed when the runner was killed: raise ROWS"

    # No runner is alive while the run's silence grows past abandon_after_s.
    heartbeat_at = await pool.fetchval("SELECT heartbeat_at FROM run_attempts WHERE job_id = $1", job_id)
    silent_until = heartbeat_at + timedelta(seconds=ABANDON_AFTER_S + 0.5)
    await asyncio.sleep(max(0.0, (silent_until - datetime.now(UTC)).total_seconds()))
    runners.start("reaper-b", RUNNER_ABANDON_AFTER_S=str(ABANDON_AFTER_S))

    async def ended() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM run_ledger WHERE job_id = $1", job_id))

    await until(ended, timeout_s=90)
    data = await pool.fetchval("SELECT terminal_event FROM run_ledger WHERE job_id = $1 AND run_id = 1", job_id)
    event = decode(RUNS_TOPIC, bytes(data))
    assert isinstance(event, RunFailed), runners.log("reaper-b")
    assert event.payload.code == "RUNNER_LOST"
    assert event.payload.error.startswith("the run was lost: runner lost-a gave no sign of life for ")
    assert event.payload.error.endswith(" (attempt 1)")

    # The redelivered request is taken by the new runner, finds the run ended, and is committed: no attempt 2.
    tp = TopicPartition(RUNS_TOPIC, sent.partition)

    async def redelivered_and_committed() -> bool:
        offset = await _committed(kafka_bootstrap, runners.env["RUNNER_CONSUMER_GROUP"], tp)
        return offset is not None and offset > sent.offset

    await until(redelivered_and_committed, timeout_s=90)
    assert await pool.fetchval("SELECT attempt FROM run_attempts WHERE job_id = $1", job_id) == 1
    # Unchanged: empty, or not even created when the runner was killed during the transfer (a loaded machine).
    created = await pool.fetchval("SELECT to_regclass($1)", f'custom."{table.name}"')
    assert created is None or await table_rows(pool, table) == []

    async def published() -> bool:
        return bool(await _terminal_types(kafka_bootstrap, request.aggregate_id))

    await until(published, timeout_s=30)
    assert await _terminal_types(kafka_bootstrap, request.aggregate_id) == ["run.failed"]


async def _terminal_types(bootstrap: str, run: str) -> list[str]:
    found = [decode(RUNS_TOPIC, r.value) for r in await read_topics(bootstrap, [RUNS_TOPIC])]
    return [e.type for e in found if e.aggregate_id == run and isinstance(e, TERMINAL_RUN_EVENTS)]  # type: ignore[attr-defined]
