"""The run consumer on real Kafka: commit after the run, skip other events, drain, hand over on rebalance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from connect_events import RunRequested, encode
from connect_runner.entrypoints.run_consumer import RunConsumer
from connect_runner.entrypoints.slots import Slots
from connect_runtime.kafka import ensure_topics, make_consumer, make_producer
from tests.integration.runner.runner_it import ANN, RunnerWorld
from tests.unit.runner.runner_builders import location, run_request

FAST_GROUP = {"heartbeat_interval_ms": 300, "session_timeout_ms": 6000, "max_poll_interval_ms": 600_000}


@pytest.fixture
async def topic(kafka_bootstrap: str, unique: str) -> str:
    name = f"runner-test-{unique}"
    await ensure_topics(kafka_bootstrap, partitions=2, topics=[name])
    return name


async def _publish(bootstrap: str, topic: str, records: list[tuple[str, bytes]], partition: int | None = None) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value=value, key=key.encode(), partition=partition)
    finally:
        await producer.stop()


async def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await probe.start()
    try:
        return {p: await probe.committed(TopicPartition(topic, p)) for p in (0, 1)}
    finally:
        await probe.stop()


async def _eventually(check: Callable[[], Coroutine[Any, Any, bool]], timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


def _consumer(bootstrap: str, group: str, topic: str, execute: Any, **options: Any) -> RunConsumer:
    kafka = make_consumer(bootstrap, group, **FAST_GROUP)
    return RunConsumer(consumer=kafka, execute=execute, topic=topic, **options)


@pytest.fixture
async def running() -> AsyncIterator[Callable[[RunConsumer], None]]:
    consumers: list[tuple[RunConsumer, asyncio.Task[None]]] = []

    def start(consumer: RunConsumer) -> None:
        consumers.append((consumer, asyncio.create_task(consumer.run())))

    yield start
    for consumer, _task in consumers:
        consumer.stop()
    await asyncio.gather(*(task for _, task in consumers))


async def test_requests_run_once_and_are_committed_after_their_terminal_event(
    kafka_bootstrap: str, topic: str, world: RunnerWorld, running: Callable[[RunConsumer], None]
) -> None:
    request = world.request(1, world.put("people.csv", ANN), world.table("p"))
    key = request.partition_key
    # Garbage (dead-lettered), the request, and the same request redelivered: one run, three records committed.
    await _publish(kafka_bootstrap, topic, [(key, b"not json"), (key, encode(request)), (key, encode(request))])
    group = f"runner-test-{world.unique}"

    running(_consumer(kafka_bootstrap, group, topic, world.execute))

    async def all_committed() -> bool:
        return sum(o or 0 for o in (await _committed(kafka_bootstrap, group, topic)).values()) == 3

    await _eventually(all_committed)
    emitted = await world.events(1)
    moves = [e.type for e in emitted if e.type not in ("run.progressed", "run.logged")]
    assert moves == ["run.started", "run.succeeded"]


class _Runs:
    """A fake executor: runs take `seconds`; records starts, finishes and cancellations by run id."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: list[str] = []
        self.finished: list[str] = []
        self.cancelled: list[str] = []
        self.log: list[str] = []

    async def __call__(self, request: RunRequested) -> None:
        self.started.append(request.aggregate_id)
        self.log.append(f"start {request.aggregate_id}")
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled.append(request.aggregate_id)
            raise
        self.finished.append(request.aggregate_id)
        self.log.append(f"finish {request.aggregate_id}")


def _request(job_id: int, run_id: int) -> RunRequested:
    return run_request(job_id, run_id, source=location("/x.csv"))


async def _publish_runs(bootstrap: str, topic: str, requests: list[RunRequested], partition: int) -> None:
    await _publish(bootstrap, topic, [(r.partition_key, encode(r)) for r in requests], partition=partition)


async def test_runs_of_one_partition_run_in_order_and_partitions_in_parallel(
    kafka_bootstrap: str, topic: str, unique: str, running: Callable[[RunConsumer], None]
) -> None:
    runs = _Runs(seconds=1.0)
    group = f"runner-test-{unique}"

    running(_consumer(kafka_bootstrap, group, topic, runs, slots=Slots(2)))
    await _publish_runs(kafka_bootstrap, topic, [_request(1, 1), _request(1, 2)], partition=0)
    await _publish_runs(kafka_bootstrap, topic, [_request(2, 1)], partition=1)

    async def all_finished() -> bool:
        return len(runs.finished) == 3

    await _eventually(all_finished)
    assert runs.log.index("finish 1.1") < runs.log.index("start 1.2")  # one partition: one after the other
    assert runs.log.index("start 2.1") < runs.log.index("finish 1.1")  # another partition: beside it


async def test_stop_drains_then_cancels_and_leaves_the_request_uncommitted(
    kafka_bootstrap: str, topic: str, unique: str
) -> None:
    runs = _Runs(seconds=60.0)
    group = f"runner-test-{unique}"
    consumer = _consumer(kafka_bootstrap, group, topic, runs, drain_grace_s=0.5)
    task = asyncio.create_task(consumer.run())
    await _publish_runs(kafka_bootstrap, topic, [_request(3, 1)], partition=0)

    async def started() -> bool:
        return runs.started == ["3.1"]

    await _eventually(started)
    consumer.stop()
    await asyncio.wait_for(task, timeout=20)

    assert runs.cancelled == ["3.1"]
    assert set((await _committed(kafka_bootstrap, group, topic)).values()) <= {None, 0}


async def test_a_run_whose_partition_moves_is_cancelled_and_redone_by_the_new_owner(
    kafka_bootstrap: str, topic: str, unique: str, running: Callable[[RunConsumer], None]
) -> None:
    group = f"runner-test-{unique}"
    first, second = _Runs(seconds=8.0), _Runs(seconds=0.5)
    running(_consumer(kafka_bootstrap, group, topic, first, slots=Slots(2)))
    await _publish_runs(kafka_bootstrap, topic, [_request(1, 1)], partition=0)
    await _publish_runs(kafka_bootstrap, topic, [_request(2, 1)], partition=1)

    async def both_started() -> bool:
        return sorted(first.started) == ["1.1", "2.1"]

    await _eventually(both_started)
    running(_consumer(kafka_bootstrap, group, topic, second, slots=Slots(2)))

    async def handed_over() -> bool:
        return len(first.cancelled) == 1 and len(second.finished) == 1

    await _eventually(handed_over)
    assert first.cancelled == second.finished

    async def all_committed() -> bool:
        return list((await _committed(kafka_bootstrap, group, topic)).values()) == [1, 1]

    await _eventually(all_committed)
    assert sorted(first.finished + second.finished) == ["1.1", "2.1"]
