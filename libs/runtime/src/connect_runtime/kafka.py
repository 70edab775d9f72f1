"""Kafka plumbing: topic creation, an idempotent producer, consumer construction."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError, TopicAlreadyExistsError

from connect_events import ALL_TOPICS
from connect_runtime.observability import DEAD_LETTERS

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


MAX_ERROR_HEADER_CHARS = 1000  # the error's text in a dead letter's headers; the record itself may be near the limit


async def send_dead_letter(producer: AIOKafkaProducer, record: Any, error: BaseException, group: str) -> None:
    """Put `record` on the dead-letter topic with where it came from and why it could not be handled.

    A record that, with these headers, is over the bus's size limit would be refused on every try and hold its
    consumer up for good: its dead letter then keeps the source and the error but not the value.
    """
    source = {"topic": record.topic, "partition": record.partition, "offset": record.offset, "group": group}
    headers = [("error", str(error)[:MAX_ERROR_HEADER_CHARS].encode()), ("source", json.dumps(source).encode())]
    try:
        await producer.send_and_wait(DEAD_LETTER_TOPIC, value=record.value, key=record.key, headers=headers)
    except MessageSizeTooLargeError:
        dropped = [*headers, ("value_dropped", b"the record was too large to dead-letter whole")]
        await producer.send_and_wait(DEAD_LETTER_TOPIC, value=None, key=record.key, headers=dropped)
    DEAD_LETTERS.labels(group).inc()
