"""A catalog database and consumer group of their own per test module, on the session's Kafka and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from connect_catalog.adapters.schema import ensure_schema
from connect_catalog.bootstrap import prepare
from connect_catalog.config import CatalogSettings
from connect_runtime.kafka import make_producer
from tests.databases import drop_databases


@pytest.fixture(scope="module")
async def catalog_settings(kafka_bootstrap: str, database_url: str) -> AsyncIterator[CatalogSettings]:
    suffix = uuid4().hex[:8]
    settings = CatalogSettings(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        DATABASE_URL=database_url,
        CATALOG_DATABASE=f"catalog_{suffix}",
        CATALOG_CONSUMER_GROUP=f"catalog-test-{suffix}",
    )
    yield settings
    await drop_databases(database_url, settings.database)


@pytest.fixture(scope="module")
async def catalog_dsn(catalog_settings: CatalogSettings) -> str:
    dsn = await prepare(catalog_settings)
    await ensure_schema(dsn)
    return dsn


@pytest.fixture(scope="module")
async def db(catalog_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """For assertions; tables are named unqualified, so a swapped-in schema is seen at once."""
    pool = await asyncpg.create_pool(catalog_dsn, min_size=1, max_size=2, statement_cache_size=0)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    yield producer
    await producer.stop()
