"""The one place that builds the catalog's real adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg

from connect_catalog.adapters.open_runs import watch_open_runs
from connect_catalog.adapters.schema import catalog_ddl
from connect_catalog.adapters.schemas import hold_projector_lock
from connect_catalog.config import CatalogSettings
from connect_catalog.entrypoints.rebuild import RebuildResult, rebuild
from connect_catalog.entrypoints.records import handle_record
from connect_catalog.handlers import PROJECTED_TOPICS
from connect_runtime.db import ensure_database, open_pool
from connect_runtime.kafka import ensure_topics, make_producer
from connect_runtime.lifecycle import run_until_stopped
from connect_runtime.observability import OperationsServer
from connect_runtime.offsets import TransactionalConsumer

__all__ = ["RebuildResult", "prepare", "projector", "rebuild", "serve"]

CONSUMER_GROUP = "catalog"


async def prepare(settings: CatalogSettings) -> str:
    """Create the catalog database and the topics when missing; returns the database's DSN."""
    dsn = await ensure_database(settings.database_url, settings.database)
    await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_partitions)
    return dsn


@asynccontextmanager
async def projector(*, bootstrap: str, dsn: str, group: str = CONSUMER_GROUP) -> AsyncIterator[TransactionalConsumer]:
    """The live projector: a consumer storing its offsets with its effects in the catalog database.

    It holds the projector lock while open, so a rebuild cannot swap schemas underneath it.
    """
    async with AsyncExitStack() as stack:
        # The lock first: a rebuild swapping schemas right now finishes before this projector touches `public`.
        lock = await hold_projector_lock(dsn)
        stack.push_async_callback(lock.close)
        pool = await open_pool(dsn, ddl=catalog_ddl(), max_size=2)
        stack.push_async_callback(pool.close)
        dead_letters = make_producer(bootstrap)
        await dead_letters.start()
        stack.push_async_callback(dead_letters.stop)
        yield TransactionalConsumer(
            bootstrap=bootstrap,
            group=group,
            topics=PROJECTED_TOPICS,
            pool=pool,
            handler=handle_record,
            dead_letters=dead_letters,
        )


async def serve(settings: CatalogSettings) -> None:
    """Project events until SIGTERM/SIGINT (the record in hand is finished first), and serve the operations
    endpoint (`/metrics`, `/healthz`, `/readyz`) on `CATALOG_METRICS_PORT`, with the open-run gauges refreshed
    from the read model."""
    dsn = await prepare(settings)
    async with (
        projector(bootstrap=settings.kafka_bootstrap_servers, dsn=dsn, group=settings.consumer_group) as consumer,
        closing_pool(dsn) as gauges_pool,
    ):
        operations = OperationsServer(settings.metrics_port, consumer.readiness_checks())
        stopping = asyncio.Event()

        def stop() -> None:
            consumer.stop()
            operations.stop()
            stopping.set()

        await run_until_stopped([consumer.run(), operations.run(), watch_open_runs(gauges_pool, stopping)], stop)


@asynccontextmanager
async def closing_pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A one-connection pool for the gauges' reads, closed on exit."""
    pool = await open_pool(dsn, max_size=1)
    try:
        yield pool
    finally:
        await pool.close()
