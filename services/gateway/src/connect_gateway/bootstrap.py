"""The one place that builds the gateway's real adapters, and closes them again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg
from aiokafka import AIOKafkaProducer

from connect_events import REPLIES_TOPIC
from connect_gateway.adapters.catalog import PgReadStore
from connect_gateway.adapters.command_bus import KafkaCommandBus
from connect_gateway.adapters.identity_sql import IDENTITY_DDL
from connect_gateway.adapters.identity_store import PgIdentityStore
from connect_gateway.adapters.passwords import Argon2PasswordHasher
from connect_gateway.adapters.profiles import PgProfileRows
from connect_gateway.adapters.rejects import PgRejectStore
from connect_gateway.adapters.replies import ReplyListener
from connect_gateway.adapters.ssh import SshHostKeyScanner
from connect_gateway.adapters.ssh_keys import SSH_KEYS_DDL, PgSshKeyStore
from connect_gateway.adapters.vault import VaultCredentials
from connect_gateway.config import GatewaySettings
from connect_gateway.domain.compat import RateLimiter, limits_with
from connect_gateway.files import sftp_server
from connect_gateway.files.ports import HostedDeps
from connect_gateway.ports import Deps
from connect_runtime.db import ensure_database, open_pool
from connect_runtime.kafka import ensure_topics, make_consumer, make_producer
from connect_runtime.outbox import OutboxRelay
from connect_runtime.vault import VAULT_DDL

log = logging.getLogger(__name__)


@asynccontextmanager
async def connect(settings: GatewaySettings) -> AsyncIterator[Deps]:
    """Pools, producer, the identity outbox relay and a *ready* reply listener; all close in reverse order on exit."""
    await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_partitions)
    async with AsyncExitStack() as stack:
        catalog = await _read_pool(settings, settings.catalog_database, settings.catalog_pool_size)
        stack.push_async_callback(catalog.close)
        audience = await _read_pool(settings, settings.audience_database, settings.audience_pool_size)
        stack.push_async_callback(audience.close)
        vault_pool = await open_pool(await ensure_database(settings.database_url, settings.vault_database), VAULT_DDL)
        stack.push_async_callback(vault_pool.close)
        identity_dsn, identity_pool = await _identity_pool(settings)
        stack.push_async_callback(identity_pool.close)
        producer = make_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        stack.push_async_callback(producer.stop)
        # Stopped before the producer: its last flush of the outbox still has a producer to send with.
        await stack.enter_async_context(_relaying(identity_dsn, producer))
        replies = ReplyListener(make_consumer(settings.kafka_bootstrap_servers, None))
        # Before the first command can be sent: positions at the current end of every partition.
        await replies.start(await producer.partitions_for(REPLIES_TOPIC))
        stack.push_async_callback(replies.stop)
        hosted = await _hosted(stack, settings, identity_pool)
        yield Deps(
            commands=KafkaCommandBus(producer, replies),
            reads=PgReadStore(catalog),
            credentials=VaultCredentials(vault_pool, settings.vault_key.get_secret_value()),
            host_keys=SshHostKeyScanner(settings.host_key_timeout_s),
            identity=PgIdentityStore(identity_pool),
            hasher=Argon2PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_kib),
            reply_timeout_s=settings.reply_timeout_s,
            session_policy=settings.session_policy(),
            hosted=hosted,
            rejects=PgRejectStore(audience),
            profiles=PgProfileRows(audience),
            compat_limiter=RateLimiter(limits_with(settings.compat_rate_limits)),
            public_url=settings.public_url,
        )


async def _hosted(stack: AsyncExitStack, settings: GatewaySettings, identity_pool: asyncpg.Pool) -> HostedDeps | None:
    """The hosted file server, listening until the stack closes, when a files root is configured."""
    if settings.files_root is None:
        return None
    keys = PgSshKeyStore(identity_pool)
    root, host_key = settings.files_root, settings.sftp_host_key
    await stack.enter_async_context(sftp_server.serving(keys, root, settings.sftp_host, settings.sftp_port, host_key))
    return HostedDeps(keys, root, settings.max_upload_bytes)


@asynccontextmanager
async def open_identity(settings: GatewaySettings) -> AsyncIterator[PgIdentityStore]:
    """The identity store alone, for the command line: no Kafka, no relay.

    Events it commits wait in the identity outbox until a running gateway's relay publishes them.
    """
    _dsn, pool = await _identity_pool(settings)
    try:
        yield PgIdentityStore(pool)
    finally:
        await pool.close()


async def _identity_pool(settings: GatewaySettings) -> tuple[str, asyncpg.Pool]:
    """The identity database's DSN and a pool on it, its tables created when missing."""
    dsn = await ensure_database(settings.database_url, settings.identity_database)
    return dsn, await open_pool(dsn, IDENTITY_DDL + SSH_KEYS_DDL, max_size=settings.identity_pool_size)


@asynccontextmanager
async def _relaying(dsn: str, producer: AIOKafkaProducer) -> AsyncIterator[None]:
    """Publish the identity outbox to `connect.identity` while the context lasts (one relay per database)."""
    relay = OutboxRelay(dsn, producer)
    task = asyncio.create_task(relay.run(), name="identity-outbox-relay")
    task.add_done_callback(_report_relay_end)
    try:
        yield
    finally:
        relay.stop()
        # The relay retries lost connections itself; anything else it raised was logged when it ended.
        await asyncio.gather(task, return_exceptions=True)


def _report_relay_end(task: asyncio.Task[None]) -> None:
    # Not only at shutdown: a relay that died early leaves identity events in the outbox until a restart.
    if not task.cancelled() and task.exception() is not None:
        log.error("identity outbox relay stopped", exc_info=task.exception())


async def _read_pool(settings: GatewaySettings, database: str, size: int) -> asyncpg.Pool:
    # Another service owns the schema (the catalog's read models, the runner's rejects); the gateway only reads,
    # and the session enforces it.
    dsn = await ensure_database(settings.database_url, database)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        # A catalog rebuild swaps a fresh schema in under the same table names: no statements kept across it.
        statement_cache_size=0,
        server_settings={"default_transaction_read_only": "on", "application_name": "connect-gateway"},
    )
    assert pool is not None
    return pool
