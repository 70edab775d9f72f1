"""The scheduler's runs consumer on a fresh topic, for the integration tests that send it run events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import asyncpg
from aiokafka import AIOKafkaProducer

from connect_runtime.kafka import ensure_topics
from connect_runtime.offsets import TransactionalConsumer
from connect_runtime.retry import RetryPolicy
from connect_scheduler.entrypoints.runs import on_run_records

FAST = RetryPolicy(initial_s=0.05, max_s=0.2, jitter_s=0.01)


@asynccontextmanager
async def runs_consumer(
    kafka_bootstrap: str, pool: asyncpg.Pool, dead_letters: AIOKafkaProducer, prefix: str
) -> AsyncIterator[str]:
    """A fresh topic named after `prefix`, consumed in batches as the scheduler consumes `connect.runs`; the
    consumer stops when the block ends."""
    topic = f"{prefix}.{uuid4().hex[:10]}"
    await ensure_topics(kafka_bootstrap, 1, [topic])
    consumer = TransactionalConsumer(
        bootstrap=kafka_bootstrap,
        group=f"g-{topic}",
        topics=[topic],
        pool=pool,
        batch_handler=on_run_records,
        dead_letters=dead_letters,
        retry=FAST,
    )
    task = asyncio.create_task(consumer.run())
    try:
        yield topic
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 15)
