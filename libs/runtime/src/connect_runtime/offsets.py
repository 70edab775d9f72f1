"""Consumers that store their Kafka offsets in PostgreSQL, in the same transaction as their effects.

Effect and offset commit together or not at all, and each transaction first locks the partition's offset row
and skips records below it, so every record is applied exactly once even when two consumers briefly handle
the same partition. On assignment the consumer seeks to the stored offsets; Kafka's committed offsets are not
used.

A consumer given a `batch_handler` applies the records of a partition that arrive together (up to `BATCH_SIZE`)
in one transaction, so a busy topic costs one commit per batch, not per record. If the batch fails for any
reason, nothing of it is kept and its records are applied again one transaction each, so one bad record never
holds up the others. A consumer given a `handler` applies each record in a transaction of its own (the
scheduler's commands: each reply commits as soon as it is decided, and holds its locks no longer). Retries then
follow the one policy (`connect_runtime.retry`): infrastructure failures (connection loss, deadlock,
serialization) are retried until they pass; a record whose handler keeps failing goes, after `max_attempts`
tries, to the dead-letter topic with its error, and its offset is stored so the partition moves on: it is never
silently acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeAlias

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from connect_runtime.db import Conn
from connect_runtime.kafka import make_consumer, send_dead_letter
from connect_runtime.observability import CONSUMER_LAG, DEAD_LETTERS, Check, kafka_check, postgres_check
from connect_runtime.retry import INFRASTRUCTURE_ERRORS, RETRY, Retries, RetryPolicy

log = logging.getLogger(__name__)

OFFSETS_DDL = """
CREATE TABLE IF NOT EXISTS consumer_offsets (
    consumer_group text   NOT NULL,
    topic          text   NOT NULL,
    partition      int    NOT NULL,
    next_offset    bigint NOT NULL,
    PRIMARY KEY (consumer_group, topic, partition)
);
"""
LOAD_OFFSETS = "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1"
# Creates the partition's row on first use, so that LOCK_OFFSET always has a row to lock.
CLAIM_OFFSET = """
INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
ON CONFLICT (consumer_group, topic, partition) DO NOTHING
"""
LOCK_OFFSET = """
SELECT next_offset FROM consumer_offsets WHERE consumer_group = $1 AND topic = $2 AND partition = $3 FOR UPDATE
"""
SAVE_OFFSET = """
INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset
"""

POLL_TIMEOUT_MS = 500
BATCH_SIZE = 500  # records fetched at once, and at most applied in one transaction

# aiokafka.structs.ConsumerRecord[bytes, bytes]; aiokafka ships no type information.
Record: TypeAlias = Any
Handler: TypeAlias = Callable[[Conn, Record], Awaitable[None]]
# Applies records of one partition, in offset order, in the caller's transaction.
BatchHandler: TypeAlias = Callable[[Conn, Sequence[Record]], Awaitable[None]]


def one_by_one(handler: Handler) -> BatchHandler:
    """A batch handler that hands each record to `handler` in turn."""

    async def handle(conn: Conn, records: Sequence[Record]) -> None:
        for record in records:
            await handler(conn, record)

    return handle


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: AIOKafkaConsumer, pool: asyncpg.Pool, group: str) -> None:
        self._consumer = consumer
        self._pool = pool
        self._group = group

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        """Nothing to flush: offsets are stored with each record's effects."""

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        rows = await self._pool.fetch(LOAD_OFFSETS, self._group)
        stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        for tp in assigned:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)


class TransactionalConsumer:
    """Applies records in transactions that also store the partition's next offset: through `batch_handler`
    when given (a handler that does the work of many records in few statements), else `handler` record by
    record."""

    def __init__(
        self,
        *,
        bootstrap: str,
        group: str,
        topics: Sequence[str],
        pool: asyncpg.Pool,
        dead_letters: AIOKafkaProducer,
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        retry: RetryPolicy = RETRY,
    ) -> None:
        if (handler is None) == (batch_handler is None):
            raise TypeError("give a consumer exactly one of handler and batch_handler")
        self._group = group
        DEAD_LETTERS.labels(group)  # exported at 0 from the start, so an alert sees the first dead letter as a rise
        self._topics = topics
        self._pool = pool
        self._handler = batch_handler or one_by_one(handler)  # type: ignore[arg-type] # one of them is given
        self._batches = batch_handler is not None
        self._dead_letters = dead_letters
        self._consumer = make_consumer(bootstrap, group)
        self._stopping = asyncio.Event()
        self._retries = Retries(self._stopping, retry)
        self._next: dict[TopicPartition, int] = {}  # the offset after the last record handled, per partition

    def stop(self) -> None:
        """Finish the record in hand, then return from `run()`."""
        self._stopping.set()

    def readiness_checks(self) -> dict[str, Check]:
        """What this consumer needs to work: its database and the Kafka cluster (asked through its producer)."""
        return {"postgres": postgres_check(self._pool), "kafka": kafka_check(self._dead_letters)}

    async def run(self) -> None:
        """Consume until stopped."""
        self._consumer.subscribe(list(self._topics), listener=_SeekToStored(self._consumer, self._pool, self._group))
        await self._consumer.start()
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=BATCH_SIZE)
                for tp, records in batches.items():
                    await self._handle_batch(tp, records)
                    self._next[tp] = records[-1].offset + 1
                self._report_lag()
        finally:
            await self._consumer.stop()

    def _report_lag(self) -> None:
        """Records of each partition it holds not handled yet (`connect_consumer_lag`), as of the last fetch."""
        for tp in self._consumer.assignment():
            highwater, handled = self._consumer.highwater(tp), self._next.get(tp)
            if highwater is not None and handled is not None:
                CONSUMER_LAG.labels(self._group, tp.topic, str(tp.partition)).set(max(highwater - handled, 0))

    def _owns(self, tp: TopicPartition) -> bool:
        """Whether to go on with the partition: a rebalance during an await may have moved it (its new owner
        handles the rest), and a stopping consumer takes up nothing new."""
        return not self._stopping.is_set() and tp in self._consumer.assignment()

    async def _handle_batch(self, tp: TopicPartition, records: Sequence[Record]) -> None:
        """All of `records` in one transaction (with a batch handler); if that fails, or without one, each in a
        transaction of its own."""
        if not self._owns(tp):
            return
        if self._batches and len(records) > 1:
            try:
                await self._apply(records)
                return
            except Exception as exc:  # whatever it was, the records one by one say whose it is
                where = {"topic": tp.topic, "partition": tp.partition, "records": len(records)}
                where["error_type"] = type(exc).__name__
                log.info("batch not applied; applying its records one at a time", extra=where)
        for record in records:
            if not self._owns(tp):
                return
            await self._handle(record)

    async def _handle(self, record: Record) -> None:
        """Apply `record` once; retry transient failures until they pass, dead-letter persistent ones."""
        where = {"topic": record.topic, "offset": record.offset}
        try:
            await self._retries.bounded(lambda: self._apply([record]), "record handling failed; retrying", where)
        except Exception as exc:  # the handler's own failure, every time: data for the dead-letter topic
            # Dead-lettering is plumbing only: no failure of it is the record's, so it is never given up. Sending
            # and moving past the record are retried apart, so a lost database never sends the letter twice.
            send = partial(send_dead_letter, self._dead_letters, record, exc, self._group)
            if not await self._retries.transient(
                send, "dead-lettering failed; retrying", where, errors=INFRASTRUCTURE_ERRORS
            ):
                return  # stopping: the record is handled again by whoever runs next
            await self._retries.transient(
                partial(self._skip, record),
                "storing a dead letter's offset failed; retrying",
                where,
                errors=INFRASTRUCTURE_ERRORS,
            )

    async def _apply(self, records: Sequence[Record]) -> None:
        """Apply the records (of one partition, in order) not applied before, and store the offset past them."""
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await self._lock_offset(conn, records[0])
            pending = [record for record in records if record.offset >= stored]
            if pending:
                await self._handler(conn, pending)
                await self._save(conn, pending[-1])

    async def _lock_offset(self, conn: Conn, first: Record) -> int:
        """Lock the partition's offset row and return the next offset to apply (records below it were applied).

        The row lock fences two consumers of one partition (a rebalance in the middle of a batch, or a
        stalled instance whose partition moved): the second waits, then sees the advanced offset and skips.
        """
        key = (self._group, first.topic, first.partition)
        await conn.execute(CLAIM_OFFSET, *key, first.offset)
        stored: int = await conn.fetchval(LOCK_OFFSET, *key)
        return stored

    async def _skip(self, record: Record) -> None:
        """Store the offset past a dead-lettered record, so the partition moves on."""
        async with self._pool.acquire() as conn, conn.transaction():
            if await self._lock_offset(conn, record) <= record.offset:
                await self._save(conn, record)
        log.error("record sent to dead-letter topic", extra={"topic": record.topic, "offset": record.offset})

    async def _save(self, conn: Conn, record: Record) -> None:
        await conn.execute(SAVE_OFFSET, self._group, record.topic, record.partition, record.offset + 1)
