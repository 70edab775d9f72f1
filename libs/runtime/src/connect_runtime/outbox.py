"""Transactional outbox: events are written with the state change, then relayed to Kafka in order.

`append()` runs inside the caller's transaction; the relay publishes committed rows oldest first and
deletes them once Kafka acknowledged them. A crash between publish and delete republishes a row, so
consumers de-duplicate by `event_id`. Only one relay per database publishes at a time (an advisory
lock), which keeps per-key order when several instances of a service run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from connect_events import Event, encode
from connect_runtime.db import Conn

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
FETCH_BATCH = "SELECT id, topic, key, value FROM outbox ORDER BY id LIMIT $1"
DELETE_BATCH = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
TRY_LOCK = "SELECT pg_try_advisory_lock($1)"

RELAY_LOCK_ID = 7_100_001
BATCH_SIZE = 500
IDLE_POLL_S = 1.0
LOCK_RETRY_S = 2.0
RECONNECT_S = 2.0
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

    def __init__(self, dsn: str, producer: AIOKafkaProducer) -> None:
        self._dsn = dsn
        self._producer = producer
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask the relay to finish its current batch and return."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped; a lost database or broker connection is retried, never fatal."""
        while not self._stopping.is_set():
            try:
                await self._serve()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError) as exc:
                log.warning("outbox relay interrupted; reconnecting", extra={"error": str(exc)})
                await self._sleep(RECONNECT_S)

    async def _serve(self) -> None:
        """Hold the relay lock on a dedicated connection, then publish whenever rows are committed."""
        # Its own connection, not a pooled one: a pool resets sessions on release, dropping the lock.
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn, server_settings={"application_name": RELAY_APPLICATION_NAME}
        )
        try:
            while not await conn.fetchval(TRY_LOCK, RELAY_LOCK_ID):
                if self._stopping.is_set():
                    return
                await self._sleep(LOCK_RETRY_S)
            await conn.add_listener("outbox", self._on_notify)
            while not self._stopping.is_set():
                sent = await self.publish_pending(conn)
                if sent < BATCH_SIZE:
                    await self._sleep(IDLE_POLL_S)
            # Events committed just before shutdown go out now, not when some instance starts again.
            while await self.publish_pending(conn) == BATCH_SIZE:
                pass
        finally:
            # Closing the connection releases the session-level advisory lock for another instance.
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
        log.debug("relayed outbox batch", extra={"count": len(rows)})
        return len(rows)

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()
