"""Retries on real Kafka, PostgreSQL and sshd, through the run consumer and the retry poller sharing one slot:
a job whose SFTP server refuses the first attempt's connection waits in the ledger, its request committed, while
another run of the same partition takes the partition and the slot and completes; the poller then begins
attempt 2, which loads. A stop during a wait ends the run *Stopped* within a poll, long before its next attempt
was due. A data error (a bad header) is never retried.

The server's port is a socket of the test's own: bound but not listening (so connections are refused) until
the test opens it, then forwarding to the session's sshd. Each test has a topic of its own for its requests and
one for its stops; the runner's events are read back from the audience database's outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from connect_events import (
    RetryPolicy,
    RunAttemptFailed,
    RunEvent,
    RunRequested,
    RunStarted,
    RunStopped,
    RunStopRequested,
    RunSucceeded,
    encode,
)
from connect_runner.entrypoints.retries import RetryPoller
from connect_runner.entrypoints.run_consumer import RunConsumer
from connect_runner.entrypoints.slots import Slots
from connect_runner.entrypoints.stop_records import handle_stop_record
from connect_runner.handlers import continue_retry, execute_run, take_up_retries
from connect_runtime.kafka import ensure_topics, make_consumer
from connect_runtime.offsets import TransactionalConsumer
from tests.integration.runner.runner_it import ANN, PEOPLE_HEADER, RunnerWorld, failed
from tests.polling import until
from tests.unit.runner.runner_builders import stop_request

pytestmark = pytest.mark.integration
CHUNK_BYTES = 65_536
FAST_GROUP = {"heartbeat_interval_ms": 300, "session_timeout_ms": 6000, "max_poll_interval_ms": 600_000}
RETRY_POLL_S = 0.1
# Long enough for the run behind it on the partition to be taken while it waits, even on a loaded machine.
FIVE_SECONDS = RetryPolicy(attempts=3, initial_backoff_s=5, multiplier=1.0)
TEN_MINUTES = RetryPolicy(attempts=3, initial_backoff_s=600, multiplier=1.0)
BOB = PEOPLE_HEADER + "2,Bob,,,,\n"


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
async def door(world: RunnerWorld) -> AsyncIterator[Door]:
    door = Door(world.server.host, world.server.port)
    yield door
    await door.close()


@dataclass(frozen=True)
class Runner:
    """A runner of one slot: the run consumer on the test's topic (one partition) and the retry poller; and the
    stops consumer on the test's stops topic."""

    topic: str
    group: str
    stops_topic: str
    bootstrap: str
    producer: AIOKafkaProducer
    pool: asyncpg.Pool

    async def request(self, request: RunRequested) -> int:
        """Publish the request; returns its offset."""
        sent = await self.producer.send_and_wait(self.topic, encode(request), key=request.partition_key.encode())
        return int(sent.offset)

    async def stop(self, request: RunStopRequested) -> None:
        """Publish the stop request and wait until the stops consumer has recorded it (its offset is stored)."""
        sent = await self.producer.send_and_wait(self.stops_topic, encode(request), key=request.partition_key.encode())

        async def recorded() -> bool:
            stored = await self.pool.fetchval(
                "SELECT next_offset FROM consumer_offsets WHERE consumer_group = $1 AND topic = $2",
                f"{self.group}-stops",
                self.stops_topic,
            )
            return stored is not None and stored > sent.offset

        await until(recorded)

    async def committed(self) -> int | None:
        """The run consumer's committed offset on the topic's one partition."""
        probe = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False)
        await probe.start()
        try:
            offset: int | None = await probe.committed(TopicPartition(self.topic, 0))
            return offset
        finally:
            await probe.stop()


@pytest.fixture
async def runner(world: RunnerWorld, kafka_bootstrap: str, producer: AIOKafkaProducer) -> AsyncIterator[Runner]:
    topic, group = f"runner-retries-{world.unique}", f"runner-retries-{world.unique}"
    stops_topic = f"{topic}-stops"
    await ensure_topics(kafka_bootstrap, partitions=1, topics=[topic, stops_topic])
    deps, slots = world.deps, Slots(1)
    runs = RunConsumer(
        consumer=make_consumer(kafka_bootstrap, group, **FAST_GROUP),
        execute=lambda request: execute_run(request, deps),
        topic=topic,
        slots=slots,
    )
    retries = RetryPoller(
        lambda limit: take_up_retries(deps, limit), lambda retry: continue_retry(retry, deps), slots, RETRY_POLL_S
    )
    stops = TransactionalConsumer(
        bootstrap=kafka_bootstrap,
        group=f"{group}-stops",
        topics=[stops_topic],
        pool=world.pool,
        handler=partial(handle_stop_record, deps.ledger),
        dead_letters=producer,
    )
    tasks = [asyncio.create_task(part.run()) for part in (runs, retries, stops)]
    yield Runner(topic, group, stops_topic, kafka_bootstrap, producer, world.pool)
    for part in (runs, retries, stops):
        part.stop()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=90)


def _with_retries(request: RunRequested, policy: RetryPolicy) -> RunRequested:
    definition = request.payload.definition.model_copy(update={"retry": policy})
    return request.model_copy(update={"payload": request.payload.model_copy(update={"definition": definition})})


async def _waiting(world: RunnerWorld, run_id: int) -> datetime | None:
    """When the run's next attempt is due, while it waits for it."""
    due: datetime | None = await world.pool.fetchval(
        "SELECT retry_at FROM run_attempts WHERE job_id = $1 AND run_id = $2", world.job_id, run_id
    )
    return due


def _ended(world: RunnerWorld, *run_ids: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return all([await world.ledger_status(run_id) is not None for run_id in run_ids])

    return check


def _types(events: list[RunEvent]) -> list[str]:
    """The events that move the run (no progress, no execution log)."""
    return [e.type for e in events if e.type not in ("run.progressed", "run.logged")]


async def test_a_run_waits_without_its_partition_or_slot_and_the_poller_begins_its_next_attempt(
    world: RunnerWorld, runner: Runner, door: Door
) -> None:
    ann = world.source(world.put("ann.csv", ANN), port=door.port)
    first = _with_retries(world.request(1, ann, world.table()), FIVE_SECONDS)
    second = world.request(2, world.put("bob.csv", BOB), world.table("second"))  # the same partition, after it
    await runner.request(first)
    await runner.request(second)

    async def first_waits() -> bool:
        return await _waiting(world, 1) is not None

    await until(first_waits, timeout_s=60)
    await door.open()  # the server is back for attempt 2
    await until(_ended(world, 1, 2), timeout_s=90)

    first_events, second_events = await world.events(1), await world.events(2)
    assert _types(first_events) == ["run.started", "run.attempt_failed", "run.started", "run.succeeded"]
    assert _types(second_events) == ["run.started", "run.succeeded"]
    [attempt_failed] = [e for e in first_events if isinstance(e, RunAttemptFailed)]
    assert (attempt_failed.payload.attempt, attempt_failed.payload.code) == (1, "CONNECTION_FAILED")
    retried = [e for e in first_events if isinstance(e, RunStarted)][-1]
    assert retried.payload.attempt == 2
    assert retried.payload.started_at >= attempt_failed.payload.retry_at  # not early
    # The runner has one slot: the second run could only run in it while the first waited without it.
    [second_done] = [e for e in second_events if isinstance(e, RunSucceeded)]
    assert second_done.payload.finished_at <= retried.payload.started_at
    assert await world.names(world.table()) == [(1, "Ann")]
    assert await world.names(world.table("second")) == [(2, "Bob")]
    assert await runner.committed() == 2  # both requests are done with, the first one while it waited


async def test_a_stop_during_the_wait_ends_the_run_stopped_within_a_poll(
    world: RunnerWorld, runner: Runner, door: Door
) -> None:
    ann = world.source(world.put("ann.csv", ANN), port=door.port)
    request = _with_retries(world.request(1, ann, world.table()), TEN_MINUTES)
    await runner.request(request)

    async def waits_committed() -> bool:
        return await _waiting(world, 1) is not None and await runner.committed() == 1

    await until(waits_committed, timeout_s=60)
    await runner.stop(stop_request(world.job_id, 1, at=datetime.now(UTC)))
    await until(_ended(world, 1), timeout_s=30)

    events = await world.events(1)
    assert _types(events) == ["run.started", "run.attempt_failed", "run.stopped"]
    stopped = events[-1]
    assert isinstance(stopped, RunStopped) and await world.ledger_status(1) == "stopped"
    requested_at = await world.pool.fetchval(
        "SELECT requested_at FROM run_stops WHERE job_id = $1 AND run_id = 1", world.job_id
    )
    assert stopped.payload.finished_at - requested_at < timedelta(seconds=5)  # not 10 minutes on


async def test_a_bad_header_is_not_retried(world: RunnerWorld) -> None:
    path = world.put("people.csv", "id,full_name\n1,Ann\n")
    request = _with_retries(world.request(1, path, world.table()), FIVE_SECONDS)

    event = await world.execute(request)

    assert failed(event).payload.code == "BAD_HEADER"
    assert _types(await world.events(1)) == ["run.started", "run.failed"]
    assert await _waiting(world, 1) is None
