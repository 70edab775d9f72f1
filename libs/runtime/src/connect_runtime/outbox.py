"""Transactional outbox: events are written with the state change, then relayed to Kafka in order.

`append()` runs inside the caller's transaction; the relay publishes committed rows oldest first and
deletes them once Kafka acknowledged them. A crash between publish and delete republishes a row, so
consumers de-duplicate by `event_id`. Only one relay per database publishes at a time (an advisory
lock), which keeps per-key order when several instances of a service run.

Waiting is of two kinds here. A lost database or broker connection is a failure: the relay reconnects after
the retry policy's back-off (`connect_runtime.retry`), for ever. Waiting for a notify (with a slow poll as a
backstop) and a standby instance asking for the lock are not: nothing failed, so they poll at a fixed pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaProducer

from connect_events import Event, encode
from connect_runtime.db import Conn
from connect_runtime.observability import OUTBOX_LAG, OUTBOX_PUBLISHED
from connect_runtime.retry import INFRASTRUCTURE_ERRORS, RETRY, Retries, RetryPolicy

log = logging.getLogger(__name__)

OUTBOX_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    id         bigserial PRIMARY KEY,
    topic      text        NOT NULL,
    key        text        NOT NULL,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""
INSERT_ROW = "INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3)"
NOTIFY = "SELECT pg_notify('outbox', '')"
FETCH_BATCH = (
    "SELECT id, topic, key, value, extract(epoch FROM now() - created_at) AS age FROM outbox ORDER BY id LIMIT $1"
)
DELETE_BATCH = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
TRY_LOCK = "SELECT pg_try_advisory_lock($1)"

RELAY_LOCK_ID = 7_100_001
BATCH_SIZE = 500
# Not retries: a notify on commit wakes the relay at once; this poll only covers one that was missed.
IDLE_POLL_S = 1.0
# Not a retry either: the instance holding the lock is fine; a standby asks again this often to take over.
LOCK_POLL_S = 2.0
RELAY_APPLICATION_NAME = "connect-outbox-relay"  # names the relay's session in pg_stat_activity


async def append(conn: Conn, events: Sequence[Event]) -> None:
    """Queue `events` for publishing, inside the caller's transaction."""
    if not events:
        return
    await conn.executemany(INSERT_ROW, [(e.TOPIC, e.partition_key, encode(e)) for e in events])
    # Delivered on commit only, so the relay wakes exactly when there is something committed to send.
    await conn.execute(NOTIFY)


class OutboxRelay:
    """Publishes a database's outbox to Kafka until `stop()` is called."""

    def __init__(self, dsn: str, producer: AIOKafkaProducer, retry: RetryPolicy = RETRY) -> None:
        self._dsn = dsn
        self._producer = producer
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._retries = Retries(self._stopping, retry)
        self._conn: asyncpg.Connection | None = None
        self._locked = False  # whether `_conn` holds the relay lock

    def stop(self) -> None:
        """Ask the relay to finish its current batch and return."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped; a lost database or broker connection is retried, never fatal."""
        try:
            while not self._stopping.is_set():
                # Retried one step at a time, so the back-off starts over as soon as the relay works again.
                await self._retries.transient(
                    self._step, "outbox relay interrupted; reconnecting", errors=INFRASTRUCTURE_ERRORS
                )
            await self._flush()
        finally:
            await self._disconnect()

    async def _step(self) -> None:
        """Publish a batch, then wait for more if that was all; a standby waits for the relay lock instead."""
        try:
            conn = await self._connection()
            if not await self._lock(conn):
                await self._sleep(LOCK_POLL_S)
            elif await self.publish_pending(conn) < BATCH_SIZE:
                await self._sleep(IDLE_POLL_S)
        except INFRASTRUCTURE_ERRORS:
            await self._disconnect()  # the next try starts on a fresh connection
            raise

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None:
            # Its own connection, not a pooled one: a pool resets sessions on release, dropping the lock.
            self._conn = await asyncpg.connect(self._dsn, server_settings={"application_name": RELAY_APPLICATION_NAME})
            self._locked = False
        return self._conn

    async def _lock(self, conn: asyncpg.Connection) -> bool:
        """Take the relay lock (once per connection) and listen for commits; False while another relay has it."""
        if not self._locked and await conn.fetchval(TRY_LOCK, RELAY_LOCK_ID):
            await conn.add_listener("outbox", self._on_notify)
            self._locked = True
        return self._locked

    async def _flush(self) -> None:
        """Events committed just before shutdown go out now, not when some instance starts again."""
        if self._conn is None or not self._locked:
            return
        try:
            while await self.publish_pending(self._conn) == BATCH_SIZE:
                pass
        except INFRASTRUCTURE_ERRORS as exc:
            log.warning("outbox not flushed on stop; the next relay publishes it", extra={"error": str(exc)})

    async def _disconnect(self) -> None:
        """Closing the connection releases the session-level advisory lock for another instance."""
        conn, self._conn, self._locked = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def publish_pending(self, conn: Conn) -> int:
        """Publish one batch; returns how many rows were sent."""
        rows = await conn.fetch(FETCH_BATCH, BATCH_SIZE)
        if not rows:
            return 0
        futures = [await self._producer.send(r["topic"], value=bytes(r["value"]), key=r["key"].encode()) for r in rows]
        await asyncio.gather(*futures)
        await conn.execute(DELETE_BATCH, [r["id"] for r in rows])
        for row in rows:
            OUTBOX_LAG.observe(max(float(row["age"]), 0.0))
        OUTBOX_PUBLISHED.inc(len(rows))
        log.debug("relayed outbox batch", extra={"count": len(rows)})
        return len(rows)

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()
