"""Rebuild every read model from offset 0 into a fresh schema, then swap it in for the live one.

Run it while the live projector is stopped (the swap refuses otherwise). Building may overlap with a
running projector; only the swap needs it stopped. The new schema carries its own `processed_events`
and the consumer group's offsets at the end offsets the replay read up to, so a projector started after
the swap continues exactly where the rebuild ended: nothing is skipped, nothing applied twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg
from aiokafka import TopicPartition

from connect_catalog.adapters.replay import TopicReplay
from connect_catalog.adapters.schema import catalog_ddl, ensure_schema
from connect_catalog.adapters.schemas import create_schema, drop_schema, swap_in
from connect_catalog.config import CatalogSettings
from connect_catalog.entrypoints.records import handle_record
from connect_catalog.handlers import PROJECTED_TOPICS
from connect_runtime.db import ensure_database
from connect_runtime.kafka import ensure_topics
from connect_runtime.offsets import SAVE_OFFSET, Record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild did."""

    records: int
    skipped: int
    replaced_schema: str | None
    end_offsets: dict[tuple[str, int], int]


async def rebuild(settings: CatalogSettings, *, drop_old: bool = False) -> RebuildResult:
    """Rebuild the catalog database named in `settings` for its consumer group (see the module doc)."""
    dsn = await ensure_database(settings.database_url, settings.database)
    await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_partitions)
    await ensure_schema(dsn)  # the live schema must exist to be swapped out
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    schema, replaced = f"rebuild_{stamp}", f"replaced_{stamp}"
    conn: asyncpg.Connection = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        await create_schema(conn, schema)
        try:
            result = await _replay_into(conn, settings, schema)
            await swap_in(conn, schema, replaced, drop_old=drop_old)
        except BaseException:
            await drop_schema(conn, schema)
            raise
    finally:
        await conn.close()
    return replace(result, replaced_schema=None if drop_old else replaced)


async def _replay_into(conn: asyncpg.Connection, settings: CatalogSettings, schema: str) -> RebuildResult:
    await conn.execute(catalog_ddl())  # unqualified names land in `schema`, the connection's search path
    replay = TopicReplay(settings.kafka_bootstrap_servers, PROJECTED_TOPICS)
    records = skipped = 0
    await replay.start()
    try:
        async for batch in replay.batches():
            applied = await _apply_batch(conn, batch)
            records, skipped = records + applied, skipped + len(batch) - applied
        await _save_ends(conn, settings.consumer_group, replay.ends)
    finally:
        await replay.stop()
    ends = {(tp.topic, tp.partition): end for tp, end in replay.ends.items()}
    log.info("read models rebuilt", extra={"schema": schema, "records": records, "skipped": skipped})
    return RebuildResult(records, skipped, None, ends)


async def _apply_batch(conn: asyncpg.Connection, batch: list[Record]) -> int:
    """Apply one partition's batch in one transaction; returns how many records applied cleanly.

    No offsets are stored per batch: a rebuild that fails is discarded whole, so only the final ends matter.
    """
    applied = 0
    async with conn.transaction():
        for record in batch:
            try:
                async with conn.transaction():  # a savepoint: a bad record is left out, as the live one was
                    await handle_record(conn, record)
                applied += 1
            except Exception as exc:  # the live projector dead-lettered the same record
                log.warning(
                    "record skipped in rebuild",
                    extra={"topic": record.topic, "offset": record.offset, "error": str(exc)},
                )
    return applied


async def _save_ends(conn: asyncpg.Connection, group: str, ends: dict[TopicPartition, int]) -> None:
    """The live projector's offsets after the swap: exactly where the replay stopped reading."""
    for tp, end in ends.items():
        await conn.execute(SAVE_OFFSET, group, tp.topic, tp.partition, end)
