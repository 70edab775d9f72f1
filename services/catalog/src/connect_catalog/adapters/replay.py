"""Read whole topics from offset 0 up to the end offsets seen when reading began (for rebuilds)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from connect_runtime.kafka import make_consumer
from connect_runtime.offsets import Record

FETCH_TIMEOUT_MS = 500


class TopicReplay:
    """Every record of `topics` that existed when `start()` ran, partition by partition in order."""

    def __init__(self, bootstrap: str, topics: Sequence[str]) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        # No group: a replay must neither join nor disturb the live projector's consumer group.
        self._consumer: AIOKafkaConsumer = make_consumer(bootstrap, None)
        self.ends: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        """Connect, and fix the end offsets the replay reads up to."""
        partitions = await self._partitions()
        await self._consumer.start()
        self.ends = dict(await self._consumer.end_offsets(partitions)) if partitions else {}
        self._consumer.assign(partitions)
        if partitions:
            await self._consumer.seek_to_beginning(*partitions)

    async def _partitions(self) -> list[TopicPartition]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics(list(self._topics))
        finally:
            await admin.close()
        missing = [t["topic"] for t in described if t["error_code"]]
        if missing:
            raise LookupError(f"topics not available: {missing}")
        return sorted(TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"])

    async def stop(self) -> None:
        """Disconnect."""
        await self._consumer.stop()

    async def batches(self) -> AsyncIterator[list[Record]]:
        """Batches of one partition's records, in offset order, until every partition reached its end."""
        remaining = {tp for tp, end in self.ends.items() if end > 0}
        while remaining:
            fetched = await self._consumer.getmany(*remaining, timeout_ms=FETCH_TIMEOUT_MS)
            for tp, records in fetched.items():
                wanted = [r for r in records if r.offset < self.ends[tp]]
                if wanted:
                    yield wanted
            for tp in list(remaining):
                if await self._consumer.position(tp) >= self.ends[tp]:
                    remaining.discard(tp)
                    self._consumer.pause(tp)
