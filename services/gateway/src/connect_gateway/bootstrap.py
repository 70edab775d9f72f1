"""The one place that builds the gateway's real adapters, and closes them again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg

from connect_events import REPLIES_TOPIC
from connect_gateway.adapters.catalog import PgReadStore
from connect_gateway.adapters.command_bus import KafkaCommandBus
from connect_gateway.adapters.replies import ReplyListener
from connect_gateway.adapters.ssh import SshHostKeyScanner
from connect_gateway.adapters.vault import VaultCredentials
from connect_gateway.config import GatewaySettings
from connect_gateway.ports import Deps
from connect_runtime.db import ensure_database, open_pool
from connect_runtime.kafka import ensure_topics, make_consumer, make_producer
from connect_runtime.vault import VAULT_DDL


@asynccontextmanager
async def connect(settings: GatewaySettings) -> AsyncIterator[Deps]:
    """Pools, producer and a *ready* reply listener; everything closes in reverse order on exit."""
    await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_partitions)
    async with AsyncExitStack() as stack:
        catalog = await _catalog_pool(settings)
        stack.push_async_callback(catalog.close)
        vault_pool = await open_pool(await ensure_database(settings.database_url, settings.vault_database), VAULT_DDL)
        stack.push_async_callback(vault_pool.close)
        producer = make_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        stack.push_async_callback(producer.stop)
        replies = ReplyListener(make_consumer(settings.kafka_bootstrap_servers, None))
        # Before the first command can be sent: positions at the current end of every partition.
        await replies.start(await producer.partitions_for(REPLIES_TOPIC))
        stack.push_async_callback(replies.stop)
        yield Deps(
            commands=KafkaCommandBus(producer, replies),
            reads=PgReadStore(catalog),
            credentials=VaultCredentials(vault_pool, settings.vault_key.get_secret_value()),
            host_keys=SshHostKeyScanner(settings.host_key_timeout_s),
            reply_timeout_s=settings.reply_timeout_s,
        )


async def _catalog_pool(settings: GatewaySettings) -> asyncpg.Pool:
    # The catalog service owns the schema; the gateway only reads, and the session enforces it.
    dsn = await ensure_database(settings.database_url, settings.catalog_database)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=settings.catalog_pool_size,
        # A catalog rebuild swaps a fresh schema in under the same table names: no statements kept across it.
        statement_cache_size=0,
        server_settings={"default_transaction_read_only": "on", "application_name": "connect-gateway"},
    )
    assert pool is not None
    return pool
