"""Kafka topics, a reply listener, a fake scheduler and a vault database of their own per test module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from connect_gateway.adapters.command_bus import KafkaCommandBus
from connect_gateway.adapters.replies import ReplyListener
from connect_runtime.kafka import ensure_topics, make_consumer, make_producer
from connect_runtime.vault import VAULT_DDL
from tests.databases import throwaway_pool
from tests.integration.gateway.gateway_it import FakeScheduler
from tests.unit.gateway.gateway_fakes import accepted

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def topics(kafka_bootstrap: str) -> tuple[str, str]:
    """(commands, replies) topics no other test uses."""
    suffix = uuid4().hex[:8]
    names = (f"it.gateway.commands.{suffix}", f"it.gateway.replies.{suffix}")
    await ensure_topics(kafka_bootstrap, 3, names)
    return names


@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture(scope="module")
async def running_scheduler(
    kafka_bootstrap: str, producer: AIOKafkaProducer, topics: tuple[str, str]
) -> AsyncIterator[FakeScheduler]:
    fake = FakeScheduler(kafka_bootstrap, producer, *topics)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def scheduler(running_scheduler: FakeScheduler) -> Iterator[FakeScheduler]:
    """The module's fake scheduler, accepting everything again after the test."""
    yield running_scheduler
    running_scheduler.decide = accepted


@pytest.fixture(scope="module")
async def listener(
    kafka_bootstrap: str, producer: AIOKafkaProducer, topics: tuple[str, str]
) -> AsyncIterator[ReplyListener]:
    replies = ReplyListener(make_consumer(kafka_bootstrap, None), topic=topics[1])
    await replies.start(await producer.partitions_for(topics[1]))
    yield replies
    await replies.stop()


@pytest.fixture(scope="module")
def bus(producer: AIOKafkaProducer, listener: ReplyListener, topics: tuple[str, str]) -> KafkaCommandBus:
    return KafkaCommandBus(producer, listener, topic=topics[0])


@pytest.fixture(scope="module")
async def vault_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with throwaway_pool(database_url, f"vault_{uuid4().hex[:8]}", VAULT_DDL) as pool:
        yield pool
