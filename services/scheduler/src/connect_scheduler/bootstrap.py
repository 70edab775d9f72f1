"""The one place that builds real adapters: database, topics, producer, command consumer, outbox relay."""

from __future__ import annotations

import logging
from contextlib import suppress

from connect_events import COMMANDS_TOPIC
from connect_runtime.db import ensure_database, open_pool
from connect_runtime.kafka import ensure_topics, make_producer
from connect_runtime.lifecycle import run_until_stopped
from connect_runtime.offsets import TransactionalConsumer
from connect_runtime.outbox import OutboxRelay
from connect_scheduler.adapters.schema import SCHEDULER_DDL
from connect_scheduler.config import SchedulerSettings
from connect_scheduler.entrypoints.commands import on_command_record

log = logging.getLogger(__name__)


async def prepare_database(server_url: str, database: str) -> str:
    """Create the scheduler's database and tables when missing (idempotent); returns its DSN."""
    dsn = await ensure_database(server_url, database)
    pool = await open_pool(dsn, SCHEDULER_DDL, max_size=1)
    await pool.close()
    return dsn


async def run(settings: SchedulerSettings) -> None:
    """Consume commands and relay the outbox until SIGTERM/SIGINT, then drain and close."""
    dsn = await prepare_database(settings.database_url, settings.database)
    pool = await open_pool(dsn, max_size=4)
    producer = make_producer(settings.kafka_bootstrap_servers)
    try:
        await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_partitions)
        await producer.start()
        consumer = TransactionalConsumer(
            bootstrap=settings.kafka_bootstrap_servers,
            group=settings.consumer_group,
            topics=[COMMANDS_TOPIC],
            pool=pool,
            handler=on_command_record,
            dead_letters=producer,
        )
        relay = OutboxRelay(dsn, producer)

        def stop() -> None:
            consumer.stop()
            relay.stop()

        log.info(
            "scheduler started",
            extra={
                "consumer_group": settings.consumer_group,
                "database": settings.database,
                "topic": COMMANDS_TOPIC,
            },
        )
        await run_until_stopped([consumer.run(), relay.run()], stop)
    finally:
        # The relay has flushed what it sent; anything still in the outbox is published on next start.
        with suppress(Exception):
            await producer.stop()
        await pool.close()
        log.info("scheduler stopped")
