"""Helpers of the catalog's integration tests: publish events, run the projector, wait for the read models."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer

from connect_catalog.adapters.replay import TopicReplay
from connect_catalog.bootstrap import projector
from connect_catalog.config import CatalogSettings
from connect_catalog.handlers import PROJECTED_TOPICS
from connect_events import Event, encode
from connect_runtime.offsets import TransactionalConsumer

T = TypeVar("T")
WAIT_S = 30.0


def new_job_id() -> int:
    """A job id no other test uses (the topics are shared by every test of the session)."""
    return random.randint(10**12, 2**53)


async def publish(producer: AIOKafkaProducer, *events: Event) -> None:
    for event in events:
        await producer.send_and_wait(event.TOPIC, encode(event), key=event.partition_key.encode())


@asynccontextmanager
async def running(settings: CatalogSettings, dsn: str) -> AsyncIterator[TransactionalConsumer]:
    """The live projector, consuming in the background until the block ends."""
    async with projector(bootstrap=settings.kafka_bootstrap_servers, dsn=dsn, group=settings.consumer_group) as c:
        task = asyncio.create_task(c.run())
        try:
            yield c
        finally:
            c.stop()
            await task


async def eventually(fetch: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout_s: float = WAIT_S) -> T:
    """Poll `fetch` until `ok` holds for its result; fails with the last result after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await fetch()
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"condition not met in {timeout_s}s; last value: {value!r}"
        await asyncio.sleep(0.2)


async def run_row(db: asyncpg.Pool, job_id: int, run_id: int) -> dict[str, Any] | None:
    row = await db.fetchrow("SELECT * FROM runs WHERE job_id = $1 AND run_id = $2", job_id, run_id)
    return None if row is None else dict(row)


async def log_lines(db: asyncpg.Pool, job_id: int, run_id: int) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT level, message FROM run_log WHERE job_id = $1 AND run_id = $2 ORDER BY seq", job_id, run_id
    )
    return [(r["level"], r["message"]) for r in rows]


async def end_offsets(bootstrap: str) -> dict[tuple[str, int], int]:
    replay = TopicReplay(bootstrap, PROJECTED_TOPICS)
    await replay.start()
    try:
        return {(tp.topic, tp.partition): end for tp, end in replay.ends.items()}
    finally:
        await replay.stop()


async def stored_offsets(db: asyncpg.Pool, group: str) -> dict[tuple[str, int], int]:
    rows = await db.fetch("SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1", group)
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def wait_caught_up(db: asyncpg.Pool, settings: CatalogSettings) -> None:
    """Until the projector stored offsets at the topics' current ends."""
    ends = await end_offsets(settings.kafka_bootstrap_servers)
    await eventually(
        lambda: stored_offsets(db, settings.consumer_group),
        lambda stored: all(stored.get(tp, 0) >= end for tp, end in ends.items()),
    )


async def wait_blocked(observer: asyncpg.Pool, pid: int, task: asyncio.Task[Any]) -> None:
    """Until backend `pid` waits for a lock another transaction holds (or `task` already finished)."""
    await eventually(
        lambda: observer.fetchval("SELECT cardinality(pg_blocking_pids($1)) > 0", pid),
        lambda blocked: bool(blocked) or task.done(),
        timeout_s=10.0,
    )
