"""The `runner` consumer group on `connect.runs`: each RunRequested executes beside the poll loop.

A run may take far longer than Kafka lets a consumer go without polling, so the run executes in its own
task while this loop keeps calling `getmany()` with the run's partition paused. The request's offset is
committed only after the run's terminal event is stored (in the audience DB outbox), or once the run waits for
its next attempt after one failed transiently (the retry poller begins that one, `entrypoints/retries.py`: the
partition and the slot go on to other runs meanwhile); a runner that dies mid-run leaves the offset
uncommitted, so the request is redelivered and redone (the run is idempotent by its ledger). Runs of
different partitions execute concurrently, as many as `slots` has free (shared with the retry poller).

A run that raised (it could not even record its failure, e.g. the database was down), or a record that could
not be dead-lettered (Kafka was unreachable), is fetched again after the retry policy's back-off
(`connect_runtime.retry`), growing while it keeps failing; meanwhile its partition stays paused and the loop
goes on polling, so the runner stays in its group (ADR 0003). Nothing is ever skipped.

A request this runner cannot decode but can still identify (a newer `schema_version`) fails its run through
`reject` the same way, so every requested run gets its terminal event; other undecodable records go to the
dead-letter topic. Any `await` may let a rebalance take a partition away: its records are then left alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from connect_events import RUNS_TOPIC, RunRequested, decode
from connect_runner.domain.unreadable import UnreadableRequest, identify
from connect_runner.entrypoints.slots import Slots
from connect_runtime.kafka import send_dead_letter
from connect_runtime.observability import DEAD_LETTERS
from connect_runtime.retry import RETRY, Backoffs, RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 2
# How soon the loop notices a finished run (its partition resumes, its slot frees) while `getmany` waits with
# every partition paused or idle: a job's next run waited up to this long. Ten empty polls a second cost nothing.
POLL_TIMEOUT_MS = 100
DRAIN_POLL_TIMEOUT_MS = 200
CANCEL_WAIT_S = 30.0
DEAD_LETTER_TIMEOUT_S = 30.0
RUNNER_GROUP = "runner"  # how dead letters and their metric name this consumer

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
Execute = Callable[[RunRequested], Coroutine[Any, Any, object]]
Reject = Callable[[UnreadableRequest], Coroutine[Any, Any, object]]


class _Retry(Enum):
    LATER = "later"  # the record could not be handled now; fetch it again after the back-off


Work: TypeAlias = RunRequested | UnreadableRequest | _Retry | None


@dataclass
class _Slot:
    """A run in progress: the offset of its request and the task executing it."""

    offset: int
    task: asyncio.Task[object]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: RunConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        """Keep runs going: aiokafka revokes every partition on every rebalance, and most come straight back.
        Runs whose partition went elsewhere are cancelled once the new assignment is known."""

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self._owner.reassigned(set(assigned))


class RunConsumer:
    """Consumes run requests and executes them, committing each request once its run ended or waits."""

    def __init__(
        self,
        *,
        consumer: AIOKafkaConsumer,
        execute: Execute,
        topic: str = RUNS_TOPIC,
        slots: Slots | None = None,
        drain_grace_s: float = 60.0,
        reject: Reject | None = None,
        dead_letters: AIOKafkaProducer | None = None,
        retry: RetryPolicy = RETRY,
    ) -> None:
        """`reject` fails the run of a request that cannot be decoded; without it such a record is only
        dead-lettered. `slots` are shared with the retry poller (default: `DEFAULT_CONCURRENCY` of its own)."""
        self._consumer = consumer
        self._execute = execute
        self._reject = reject
        self._topic = topic
        self._capacity = slots if slots is not None else Slots(DEFAULT_CONCURRENCY)
        self._drain_grace_s = drain_grace_s
        self._dead_letters = dead_letters
        DEAD_LETTERS.labels(RUNNER_GROUP)  # exported at 0 from the start, so an alert sees the first as a rise
        self._slots: dict[TopicPartition, _Slot] = {}
        self._backoffs: Backoffs[TopicPartition] = Backoffs(retry)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Take no new runs; let running ones finish within the grace period, then return from `run()`."""
        self._stopping.set()

    @property
    def running(self) -> int:
        """How many runs are executing now."""
        return len(self._slots)

    async def run(self) -> None:
        """Consume until stopped, then drain."""
        self._consumer.subscribe([self._topic], listener=_Rebalance(self))
        await self._consumer.start()
        try:
            while not self._stopping.is_set():
                await self._settle()
                self._flow_control()
                batches = await self._consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
                for tp, records in batches.items():
                    await self._take(tp, records)
            await self._drain()
        finally:
            await self._cancel(list(self._slots))
            await self._consumer.stop()

    async def _take(self, tp: TopicPartition, records: list[Record]) -> None:
        """Skip (and commit past) other events; start the first request; leave the rest to be fetched again.

        A partition that a rebalance moved away during an `await` is dropped with the rest of its batch: its
        new owner fetches those records from the committed offset, and seeking it here would raise.
        """
        passed: int | None = None
        for record in records:
            if not self._owns(tp):
                return
            if tp in self._slots or self._full():
                self._consumer.seek(tp, record.offset)
                break
            work = await self._work(record)
            if not self._owns(tp):
                return
            if work is _Retry.LATER:
                self._hold(tp, record.offset)
                break
            if work is not None:
                # Still a free slot: `_work` reaches an `await` (that could let the retry poller take it) only
                # for a record it passes over.
                self._start(tp, record, work)
                break
            passed = record.offset + 1
            self._backoffs.passed(tp)
        if passed is not None:
            await self._commit(tp, passed)
        self._flow_control()

    def _owns(self, tp: TopicPartition) -> bool:
        return tp in self._consumer.assignment()

    def _start(self, tp: TopicPartition, record: Record, work: RunRequested | UnreadableRequest) -> None:
        """Move past the request and pause its partition, then take a slot and start its run (only once both
        succeeded)."""
        self._consumer.seek(tp, record.offset + 1)
        self._consumer.pause(tp)
        self._capacity.take()
        if isinstance(work, RunRequested):
            task = asyncio.create_task(self._execute(work))
        else:
            assert self._reject is not None, "_work returns an UnreadableRequest only when there is a reject"
            task = asyncio.create_task(self._reject(work))
        self._slots[tp] = _Slot(record.offset, task)
        taken = {"run": work.aggregate_id, "correlation_id": str(work.correlation_id)}
        log.info("run taken", extra={**taken, "partition": tp.partition, "offset": record.offset})

    def _hold(self, tp: TopicPartition, offset: int) -> None:
        """Fetch the partition again from `offset`, after the back-off; `_flow_control` keeps it paused till then."""
        self._consumer.seek(tp, offset)
        wait_s = self._backoffs.failed(tp)
        log.info("partition held back", extra={"partition": tp.partition, "offset": offset, "wait_s": wait_s})

    async def _work(self, record: Record) -> Work:
        """What to do with the record: a request to run, an unreadable request to fail, nothing (skip it), or
        try again later (it is undecodable and could not be dead-lettered)."""
        data = record.value or b""
        try:
            message = decode(RUNS_TOPIC, data)  # the topic name may differ (tests); its contract not
        except Exception as exc:  # an unreadable record must not stop the partition
            unreadable = identify(data, exc) if self._reject is not None else None
            if unreadable is not None:
                log.error(
                    "run request cannot be read", extra={"run": unreadable.aggregate_id, "error": unreadable.problem}
                )
                return unreadable
            return None if await self._dead_letter(record, exc) else _Retry.LATER
        return message if isinstance(message, RunRequested) else None

    async def _dead_letter(self, record: Record, error: Exception) -> bool:
        """Send the record to the dead-letter topic; False when that failed (it must not be skipped then)."""
        log.error("undecodable record", extra={"partition": record.partition, "offset": record.offset})
        if self._dead_letters is None:
            return True
        try:
            async with asyncio.timeout(DEAD_LETTER_TIMEOUT_S):
                await send_dead_letter(self._dead_letters, record, error, RUNNER_GROUP)
        except Exception as exc:  # Kafka unreachable, producer closing: the runner must go on either way
            log.warning(
                "record not dead-lettered; it will be retried",
                extra={"partition": record.partition, "offset": record.offset, "error": str(exc)},
            )
            return False
        return True

    def _full(self) -> bool:
        return self._stopping.is_set() or not self._capacity.free

    def _vacate(self, tp: TopicPartition) -> _Slot:
        """Forget the partition's run and give its slot back."""
        self._capacity.give_back()
        return self._slots.pop(tp)

    def _flow_control(self) -> None:
        """Pause partitions with a run in progress, all idle ones when at capacity, and those backing off."""
        assigned = self._consumer.assignment()
        hold = {tp for tp in assigned if tp in self._slots or self._full() or self._backoffs.holding(tp)}
        if hold:
            self._consumer.pause(*hold)
        if assigned - hold:
            self._consumer.resume(*(assigned - hold))

    async def _settle(self) -> None:
        """Commit the requests of runs that ended; a run that raised is fetched again after a back-off."""
        for tp, slot in list(self._slots.items()):
            if not slot.task.done():
                continue
            self._vacate(tp)
            if tp not in self._consumer.assignment():
                continue  # the partition moved on; its new owner finds the run in the ledger
            error = None if slot.task.cancelled() else slot.task.exception()
            if slot.task.cancelled() or error is not None:
                log.error("run did not end; it will be retried", extra={"offset": slot.offset, "error": str(error)})
                self._hold(tp, slot.offset)
            else:
                self._backoffs.passed(tp)
                await self._commit(tp, slot.offset + 1)

    async def _commit(self, tp: TopicPartition, offset: int) -> None:
        try:
            await self._consumer.commit({tp: offset})
        except KafkaError as exc:  # redelivery is harmless: the ledger turns it into a no-op
            log.warning("offset not committed", extra={"partition": tp.partition, "offset": offset, "error": str(exc)})

    async def reassigned(self, assigned: set[TopicPartition]) -> None:
        """After a rebalance: cancel runs whose partition went to another runner; keep the others paused."""
        moved = [tp for tp in self._slots if tp not in assigned]
        await self._cancel(moved)
        for tp, slot in self._slots.items():
            # The new assignment starts from the committed offset, which is the running request itself.
            self._consumer.seek(tp, slot.offset + 1)
        self._flow_control()

    async def _cancel(self, partitions: list[TopicPartition]) -> None:
        """Cancel these runs and wait for them to roll back; their requests are redelivered."""
        tasks = [self._vacate(tp).task for tp in partitions if tp in self._slots]
        for task in tasks:
            task.cancel()
        if tasks:
            log.warning("runs cancelled", extra={"count": len(tasks)})
            await asyncio.wait(tasks, timeout=CANCEL_WAIT_S)

    async def _drain(self) -> None:
        """Keep polling (with everything paused) so the group keeps us while running runs finish."""
        deadline = time.monotonic() + self._drain_grace_s
        while self._slots and time.monotonic() < deadline:
            await self._settle()
            self._flow_control()
            await self._consumer.getmany(timeout_ms=DRAIN_POLL_TIMEOUT_MS)
        await self._settle()
        await self._cancel(list(self._slots))
