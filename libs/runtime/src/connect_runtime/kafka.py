"""Kafka plumbing: topic creation, an idempotent producer, consumer construction."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from connect_events import ALL_TOPICS

log = logging.getLogger(__name__)

DEAD_LETTER_TOPIC = "connect.deadletter"
# Topics are the integration log for downstream consumers: keep them (-1 = no time limit).
RETENTION_MS = "-1"


async def ensure_topics(bootstrap: str, partitions: int, topics: Iterable[str] = ALL_TOPICS) -> None:
    """Create Connect's topics when missing (idempotent; several services may race to do it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=1,
                topic_configs={"retention.ms": RETENTION_MS},
            )
            for name in [*topics, DEAD_LETTER_TOPIC]
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another service")
    finally:
        await admin.close()


def make_producer(bootstrap: str) -> AIOKafkaProducer:
    """An idempotent producer: retries never duplicate or reorder records within a partition."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )


def make_consumer(bootstrap: str, group_id: str | None, **kwargs: object) -> AIOKafkaConsumer:
    """A consumer that never auto-commits: each service decides when a record counts as handled."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kwargs,
    )
