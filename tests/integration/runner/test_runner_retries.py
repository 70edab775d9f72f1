"""Retries on real Kafka, PostgreSQL and sshd: a job whose SFTP server refuses the first attempt's connection
and is back for the second (a 1 s back-off) succeeds on attempt 2, with one `run.attempt_failed` on Kafka
before it; a data error (a bad header) is never retried.

The server's port is a socket of the test's own: bound but not listening (so connections are refused) until
the run waits for its next attempt, then forwarding to the session's sshd. The runner's events go from the
outbox of a database of this module's own to `connect.runs` through the outbox relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from connect_events import (
    RUNS_TOPIC,
    TERMINAL_RUN_EVENTS,
    RetryPolicy,
    RunAttemptFailed,
    RunEvent,
    RunRequested,
    RunStarted,
    decode,
)
from connect_runner.adapters.ledger import PgRunLedger
from connect_runner.adapters.schema import RUNNER_DDL
from connect_runner.ports import RunDeps
from connect_runtime.kafka import ensure_topics
from connect_runtime.outbox import OutboxRelay
from connect_runtime.settings import database_dsn
from tests.databases import throwaway_pool
from tests.integration.runner.runner_it import ANN, RunnerWorld, failed, succeeded
from tests.kafka_records import read_topics
from tests.polling import until

pytestmark = pytest.mark.integration
ONE_SECOND = RetryPolicy(attempts=3, initial_backoff_s=1, multiplier=1.0)
CHUNK_BYTES = 65_536


class Door:
    """A local port that refuses connections until `open()`, then forwards each one to `host:port`."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))  # bound, not listening: the kernel refuses connections
        self.port: int = self._socket.getsockname()[1]
        self._server: asyncio.Server | None = None

    async def open(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._forward, sock=self._socket)

    async def close(self) -> None:
        if self._server is None:
            self._socket.close()
            return
        self._server.close()
        await self._server.wait_closed()

    async def _forward(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection(*self._target)
        await asyncio.gather(_pipe(client_in, server_out), _pipe(server_in, client_out))


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await source.read(CHUNK_BYTES):
            sink.write(chunk)
            await sink.drain()
    sink.close()


@pytest.fixture
def world(world: RunnerWorld) -> RunnerWorld:
    """The runner world with a job id far from other tests' ones: its events are read back from the shared
    `connect.runs`."""
    return replace(world, job_id=800_000_000 + int(world.unique, 16) % 1_000_000)


@pytest.fixture
async def door(world: RunnerWorld) -> AsyncIterator[Door]:
    door = Door(world.server.host, world.server.port)
    yield door
    await door.close()


@pytest.fixture(scope="module")
async def relayed_pool(database_url: str, kafka_bootstrap: str) -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    """An audience database of this module's own and its DSN, for the outbox relay."""
    name = f"runner_retries_{uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, partitions=3, topics=[RUNS_TOPIC])
    async with throwaway_pool(database_url, name, RUNNER_DDL, max_size=6) as pool:
        yield pool, database_dsn(database_url, name)


@pytest.fixture
async def relayed(
    world: RunnerWorld, relayed_pool: tuple[asyncpg.Pool, str], producer: AIOKafkaProducer
) -> AsyncIterator[RunDeps]:
    """The world's deps on the relayed database, with the relay running."""
    pool, dsn = relayed_pool
    relay = OutboxRelay(dsn, producer)
    task = asyncio.create_task(relay.run())
    yield replace(world.deps, pool=pool, ledger=PgRunLedger(pool))
    relay.stop()
    await task


def _with_retries(request: RunRequested, policy: RetryPolicy) -> RunRequested:
    definition = request.payload.definition.model_copy(update={"retry": policy})
    return request.model_copy(update={"payload": request.payload.model_copy(update={"definition": definition})})


async def _on_kafka(bootstrap: str, run: str) -> list[RunEvent]:
    """The run's events on `connect.runs` once its terminal event is there."""

    async def found() -> list[RunEvent]:
        records = await read_topics(bootstrap, [RUNS_TOPIC])
        decoded = [decode(RUNS_TOPIC, r.value) for r in records]
        return [e for e in decoded if isinstance(e, RunEvent) and e.aggregate_id == run]

    async def ended() -> bool:
        return any(isinstance(e, TERMINAL_RUN_EVENTS) for e in await found())

    await until(ended, timeout_s=30)
    return sorted(await found(), key=lambda e: e.aggregate_version)


async def test_a_refused_connection_is_retried_and_the_second_attempt_loads(
    world: RunnerWorld, door: Door, relayed: RunDeps, kafka_bootstrap: str
) -> None:
    table = world.table()
    source = world.source(world.put("ann.csv", ANN), port=door.port)
    request = _with_retries(world.request(1, source, table), ONE_SECOND)

    async def server_back_during_the_wait(seconds: float) -> None:
        await door.open()
        await asyncio.sleep(seconds)

    event = succeeded(await world.execute(request, replace(relayed, sleep=server_back_during_the_wait)))

    assert event.payload.counts.inserted == 1
    rows = await relayed.pool.fetch(f'SELECT id, name FROM custom."{table.name}"')
    assert [(r["id"], r["name"]) for r in rows] == [(1, "Ann")]
    emitted = await _on_kafka(kafka_bootstrap, request.aggregate_id)
    assert [e.type for e in emitted if e.type != "run.progressed"] == [
        "run.started",
        "run.attempt_failed",
        "run.started",
        "run.succeeded",
    ]
    [attempt_failed] = [e for e in emitted if isinstance(e, RunAttemptFailed)]
    assert (attempt_failed.payload.attempt, attempt_failed.payload.code) == (1, "CONNECTION_FAILED")
    assert attempt_failed.payload.error == (
        f"cannot connect to {world.server.user}@{world.server.host}:{door.port}: "
        f"the server refused the connection (nothing listens on port {door.port})"
    )
    second = [e for e in emitted if isinstance(e, RunStarted)][-1]
    assert second.payload.attempt == 2
    assert second.payload.started_at >= attempt_failed.payload.retry_at
    assert [e.aggregate_version for e in emitted] == list(range(2, 2 + len(emitted)))


async def test_a_bad_header_is_not_retried(world: RunnerWorld, relayed: RunDeps, kafka_bootstrap: str) -> None:
    path = world.put("people.csv", "id,full_name\n1,Ann\n")
    request = _with_retries(world.request(1, path, world.table()), ONE_SECOND)

    event = failed(await world.execute(request, relayed))

    assert event.payload.code == "BAD_HEADER"
    emitted = await _on_kafka(kafka_bootstrap, request.aggregate_id)
    assert [e.type for e in emitted if e.type != "run.progressed"] == ["run.started", "run.failed"]
