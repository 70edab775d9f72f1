"""The Postgres event store, job names and id counter against a real PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from connect_events import Event
from connect_runtime.db import Conn
from connect_scheduler.adapters import event_store, job_names
from connect_scheduler.adapters.event_store import ConcurrencyError, job_stream, table_stream
from connect_scheduler.adapters.job_names import NameTakenError
from connect_scheduler.domain.jobs import decide_create_job
from connect_scheduler.handlers import causation_of
from tests.integration.scheduler.scheduler_commands import T0, create_job, customers

pytestmark = pytest.mark.integration

STREAM = job_stream(7)


def job_events(job_id: int = 7) -> list[Event]:
    """JobCreated + JobActivated, as a real create-and-activate command produces them."""
    cmd = create_job(activate=True)
    return decide_create_job(job_id, cmd, customers(), None, T0, causation_of(cmd))


class TestAppendAndLoad:
    async def test_round_trip_keeps_order_and_content(self, conn: Conn) -> None:
        events = job_events()

        assert await event_store.append(conn, STREAM, 0, events) == 2
        loaded, version = await event_store.load(conn, STREAM)

        assert loaded == events
        assert version == 2

    async def test_an_unknown_stream_is_empty_at_version_0(self, conn: Conn) -> None:
        assert await event_store.load(conn, job_stream(999)) == ([], 0)

    async def test_rows_carry_topic_type_and_event_id(self, conn: Conn) -> None:
        events = job_events()
        await event_store.append(conn, STREAM, 0, events)

        rows = await conn.fetch("SELECT * FROM events ORDER BY stream_version")

        assert [(r["stream_id"], r["stream_version"], r["topic"], r["type"]) for r in rows] == [
            ("job:7", 1, "connect.jobs", "job.created"),
            ("job:7", 2, "connect.jobs", "job.activated"),
        ]
        assert [r["event_id"] for r in rows] == [e.event_id for e in events]
        assert await event_store.contains_event(conn, events[0].event_id)

    async def test_appending_at_a_stale_version_raises_and_stores_nothing(self, conn: Conn) -> None:
        events = job_events()
        await event_store.append(conn, STREAM, 0, events[:1])

        with pytest.raises(ConcurrencyError):
            async with conn.transaction():
                await event_store.append(conn, STREAM, 0, events[1:])

        assert await event_store.load(conn, STREAM) == (events[:1], 1)

    async def test_the_same_event_twice_is_refused(self, conn: Conn) -> None:
        events = job_events()
        await event_store.append(conn, STREAM, 0, events)

        with pytest.raises(ConcurrencyError):
            async with conn.transaction():
                await event_store.append(conn, job_stream(8), 0, events)

    def test_table_streams_ignore_case(self) -> None:
        assert table_stream("Customers") == table_stream("CUSTOMERS") == "table:customers"


async def test_concurrent_appends_at_the_same_version_exactly_one_wins(conn: Conn, pool: asyncpg.Pool) -> None:
    both_loaded = asyncio.Barrier(2)

    async def writer(events: list[Event]) -> int:
        async with pool.acquire() as own, own.transaction():
            _, version = await event_store.load(own, STREAM)
            await both_loaded.wait()
            return await event_store.append(own, STREAM, version, events)

    first, second = job_events(), job_events()
    results = await asyncio.gather(writer(first), writer(second), return_exceptions=True)

    assert sorted(type(r).__name__ for r in results) == ["ConcurrencyError", "int"]
    winner = first if results[0] == 2 else second
    assert await event_store.load(conn, STREAM) == (winner, 2)


class TestJobNames:
    async def test_a_name_is_unique_in_any_case(self, conn: Conn) -> None:
        await job_names.claim_name(conn, 1, "Nightly Import")

        with pytest.raises(NameTakenError) as taken:
            async with conn.transaction():
                await job_names.claim_name(conn, 2, "NIGHTLY import")

        assert taken.value.name == "NIGHTLY import"

        assert await job_names.name_owner(conn, "nightly IMPORT") == 1
        assert await job_names.name_owner(conn, "other") is None

    async def test_a_rename_frees_the_old_name(self, conn: Conn) -> None:
        await job_names.claim_name(conn, 1, "Old")
        await job_names.claim_name(conn, 1, "New")

        assert await job_names.name_owner(conn, "old") is None
        assert await job_names.name_owner(conn, "new") == 1

    async def test_release_frees_the_name(self, conn: Conn) -> None:
        await job_names.claim_name(conn, 1, "Gone")
        await job_names.release_name(conn, 1)
        await job_names.claim_name(conn, 2, "gone")
        assert await job_names.name_owner(conn, "GONE") == 2


class TestJobIds:
    async def test_ids_start_at_1_and_increase(self, conn: Conn) -> None:
        assert [await job_names.next_job_id(conn) for _ in range(3)] == [1, 2, 3]

    async def test_a_rolled_back_transaction_gives_its_id_back(self, conn: Conn) -> None:
        assert await job_names.next_job_id(conn) == 1
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                assert await job_names.next_job_id(conn) == 2
                raise RuntimeError("refused")
        assert await job_names.next_job_id(conn) == 2
