"""The run consumer's handling of awkward records, against an in-memory Kafka partition.

Rebalances can happen during any `await`, dead-lettering can fail, and a request can be unreadable: none of
these may stop the runner, skip a record silently, or leave a requested run without its terminal event. The
slots it shares with the retry poller bound both together.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError, KafkaConnectionError

from connect_events import RunRequested, encode
from connect_runner.domain.unreadable import UnreadableRequest
from connect_runner.entrypoints.run_consumer import RunConsumer
from connect_runner.entrypoints.slots import Slots
from connect_runtime.retry import RetryPolicy
from tests.unit.runner.runner_builders import location, run_request

TOPIC = "runs"
TP = TopicPartition(TOPIC, 0)


@dataclass(frozen=True)
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


@dataclass
class FakeKafka:
    """One partition: a log, a fetch position, pause state and commits; seeking an unassigned one raises."""

    log: list[bytes]
    assigned: set[TopicPartition] = field(default_factory=lambda: {TP})
    position: int = 0
    paused: set[TopicPartition] = field(default_factory=set)
    commits: list[int] = field(default_factory=list)
    polls: int = 0

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def _check(self, tp: TopicPartition) -> None:
        if tp not in self.assigned:
            raise IllegalStateError(f"Partition {tp} is not assigned")

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._check(tp)
        self.position = offset

    def pause(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self._check(tp)
            self.paused.add(tp)

    def resume(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self._check(tp)
            self.paused.discard(tp)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            self._check(tp)
            self.commits.append(offset)

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[_Record]]:
        self.polls += 1
        await asyncio.sleep(0.005)
        if TP not in self.assigned or TP in self.paused or self.position >= len(self.log):
            return {}
        records = [
            _Record(TOPIC, 0, offset, b"k", value) for offset, value in enumerate(self.log) if offset >= self.position
        ]
        self.position = len(self.log)
        return {TP: records}


@dataclass
class FakeDeadLetters:
    """Dead-letter producer; `failures` sends fail first; `on_send` runs during each send (e.g. a rebalance)."""

    failures: int = 0
    on_send: Callable[[], None] = lambda: None
    attempts: int = 0
    sent: list[bytes] = field(default_factory=list)

    async def send_and_wait(self, topic: str, *, value: bytes, key: bytes, headers: Any) -> None:
        self.attempts += 1
        await asyncio.sleep(0)
        self.on_send()
        if self.attempts <= self.failures:
            raise KafkaConnectionError("broker unreachable")
        self.sent.append(value)


class Calls:
    """Records what the consumer asked to run or to fail."""

    def __init__(self) -> None:
        self.executed: list[str] = []
        self.rejected: list[UnreadableRequest] = []

    async def execute(self, request: RunRequested) -> None:
        self.executed.append(request.aggregate_id)

    async def reject(self, request: UnreadableRequest) -> None:
        self.rejected.append(request)


def _request(job_id: int, run_id: int) -> bytes:
    return encode(run_request(job_id, run_id, source=location("/x.csv")))


def _newer_request(job_id: int, run_id: int) -> bytes:
    data = json.loads(_request(job_id, run_id))
    data["schema_version"] = 2
    return json.dumps(data).encode()


async def _run_until(consumer: RunConsumer, kafka: FakeKafka, done: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Run the consumer until `done()`, a few more polls, then stop it; it must return without raising."""
    task = asyncio.create_task(consumer.run())

    async def finished() -> None:
        polls_when_done: int | None = None
        while polls_when_done is None or kafka.polls < polls_when_done + 3:
            assert not task.done(), task.exception()
            if polls_when_done is None and done():
                polls_when_done = kafka.polls
            await asyncio.sleep(0.01)

    await asyncio.wait_for(finished(), timeout_s)
    consumer.stop()
    await asyncio.wait_for(task, timeout_s)


def _consumer(kafka: FakeKafka, calls: Calls, dead: FakeDeadLetters, *, reject: bool = True) -> RunConsumer:
    execute: Callable[[RunRequested], Coroutine[Any, Any, object]] = calls.execute
    return RunConsumer(
        consumer=kafka,
        execute=execute,
        reject=calls.reject if reject else None,
        topic=TOPIC,
        dead_letters=dead,
        retry=RetryPolicy(initial_s=0.05, max_s=0.05, jitter_s=0.0),
    )


async def test_a_partition_taken_away_during_an_await_is_left_alone() -> None:
    kafka = FakeKafka(log=[b"not json", _request(1, 1)])
    # The rebalance happens while the garbage record is being dead-lettered.
    dead = FakeDeadLetters(on_send=kafka.assigned.clear)
    calls = Calls()

    await _run_until(_consumer(kafka, calls, dead), kafka, lambda: dead.attempts == 1)

    assert calls.executed == []  # the new owner runs it
    assert kafka.commits == []


async def test_a_record_that_cannot_be_dead_lettered_is_retried_not_skipped() -> None:
    kafka = FakeKafka(log=[b"not json", _request(1, 1)])
    dead = FakeDeadLetters(failures=2)
    calls = Calls()

    await _run_until(_consumer(kafka, calls, dead), kafka, lambda: kafka.commits[-1:] == [2])

    assert dead.attempts == 3 and dead.sent == [b"not json"]
    assert calls.executed == ["1.1"]
    assert kafka.commits == [1, 2]  # never past the garbage before it was dead-lettered


async def test_an_unreadable_run_request_fails_its_run_and_garbage_is_dead_lettered() -> None:
    kafka = FakeKafka(log=[_newer_request(5, 1), b"not json", _request(5, 2)])
    dead = FakeDeadLetters()
    calls = Calls()

    await _run_until(_consumer(kafka, calls, dead), kafka, lambda: kafka.commits[-1:] == [3])

    assert [r.aggregate_id for r in calls.rejected] == ["5.1"]
    assert calls.rejected[0].problem == "schema_version: not a value this runner knows"
    assert dead.sent == [b"not json"]
    assert calls.executed == ["5.2"]


async def test_without_a_reject_an_unreadable_request_is_dead_lettered() -> None:
    newer = _newer_request(5, 1)
    kafka = FakeKafka(log=[newer])
    dead = FakeDeadLetters()

    await _run_until(_consumer(kafka, Calls(), dead, reject=False), kafka, lambda: kafka.commits[-1:] == [1])

    assert dead.sent == [newer]


async def test_a_held_partition_waits_out_its_back_off_while_the_loop_keeps_polling() -> None:
    # ADR 0003: the back-off must not block the loop, or the runner would drop out of its consumer group.
    kafka = FakeKafka(log=[b"not json", _request(1, 1)])
    dead = FakeDeadLetters(failures=1)
    calls = Calls()
    consumer = RunConsumer(
        consumer=kafka,
        execute=calls.execute,
        topic=TOPIC,
        dead_letters=dead,
        retry=RetryPolicy(initial_s=60.0, max_s=60.0, jitter_s=0.0),
    )

    await _run_until(consumer, kafka, lambda: kafka.polls >= 20 and TP in kafka.paused)

    assert dead.attempts == 1  # not tried again within the back-off
    assert calls.executed == [] and kafka.commits == []  # and nothing behind it overtook it


async def test_no_request_starts_while_the_retry_poller_holds_every_slot() -> None:
    kafka = FakeKafka(log=[_request(1, 1)])
    calls = Calls()
    slots = Slots(1)
    assert slots.take() == 1  # an attempt the retry poller began
    consumer = RunConsumer(consumer=kafka, execute=calls.execute, topic=TOPIC, slots=slots)
    task = asyncio.create_task(consumer.run())

    async def polled(times: int) -> None:
        while kafka.polls < times:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.005)

    await asyncio.wait_for(polled(20), 5)
    assert calls.executed == [] and TP in kafka.paused
    slots.give_back()  # the attempt ended

    async def committed() -> None:
        while kafka.commits != [1]:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.005)

    await asyncio.wait_for(committed(), 5)
    consumer.stop()
    await asyncio.wait_for(task, 5)
    assert calls.executed == ["1.1"] and slots.free == 1
