"""The event store: one stream per aggregate in PostgreSQL, with optimistic concurrency.

Streams are `job:<id>` (the job's events and the run events the scheduler writes for it: requested,
skipped, stop requested; what the job needs of those is kept aside, see `job_store.py`) and
`table:<lower name>`. `(stream_id, stream_version)` is the primary key, so two writers that loaded the
same version cannot both append: the second gets `ConcurrencyError` and nothing of its own is stored.
Everything here runs on the caller's connection, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from connect_events import Event, decode, encode
from connect_events.values import storable_problem
from connect_runtime.db import Conn

LOAD_STREAM = """
SELECT topic, data::text AS data, stream_version FROM events WHERE stream_id = $1 ORDER BY stream_version
"""
INSERT_EVENT = """
INSERT INTO events (stream_id, stream_version, event_id, topic, type, data)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
"""
# A job stream's own events, without the run events it also holds (`adapters/job_store.py` keeps what the job
# needs of those), so their cost does not grow with the job's run history. One statement, so the events and the
# version are of the same moment.
LOAD_WITHOUT_RUNS = """
WITH stream AS (SELECT coalesce(max(stream_version), 0) AS version FROM events WHERE stream_id = $1)
SELECT stream.version, e.topic, e.data::text AS data
FROM stream LEFT JOIN events e ON e.stream_id = $1 AND e.type NOT LIKE 'run.%'
ORDER BY e.stream_version
"""
EVENT_EXISTS = "SELECT EXISTS (SELECT 1 FROM events WHERE event_id = $1)"


class ConcurrencyError(Exception):
    """Another writer appended to the stream (or stored the same event) since it was loaded."""


def job_stream(job_id: int) -> str:
    """The stream of one job and its run requests."""
    return f"job:{job_id}"


def table_stream(name: str) -> str:
    """The stream of one table; names are unique case-insensitively."""
    return f"table:{name.lower()}"


async def load(conn: Conn, stream_id: str) -> tuple[list[Event], int]:
    """The stream's events in order, and its version (0 for a stream that does not exist)."""
    if storable_problem(stream_id):
        # PostgreSQL cannot hold such an id (a NUL in a table name), so no stream has it; asking would
        # fail. The domain refuses the name before anything is appended under it.
        return [], 0
    rows = await conn.fetch(LOAD_STREAM, stream_id)
    events = [_event(row["topic"], row["data"]) for row in rows]
    return events, (rows[-1]["stream_version"] if rows else 0)


async def load_without_runs(conn: Conn, stream_id: str) -> tuple[list[Event], int]:
    """The stream's events other than run events (`run.*`), in order, and the version of the whole stream."""
    rows = await conn.fetch(LOAD_WITHOUT_RUNS, stream_id)
    events = [_event(row["topic"], row["data"]) for row in rows if row["topic"] is not None]
    version: int = rows[0]["version"]
    return events, version


async def append(conn: Conn, stream_id: str, expected_stream_version: int, events: Sequence[Event]) -> int:
    """Append `events` after `expected_stream_version`; returns the new stream version."""
    rows = [
        (stream_id, expected_stream_version + i, e.event_id, e.TOPIC, _wire_type(e), encode(e).decode())
        for i, e in enumerate(events, start=1)
    ]
    if rows:
        try:
            await conn.executemany(INSERT_EVENT, rows)
        except asyncpg.UniqueViolationError as exc:
            raise ConcurrencyError(f"stream {stream_id} changed after version {expected_stream_version}") from exc
    return expected_stream_version + len(rows)


async def contains_event(conn: Conn, event_id: UUID) -> bool:
    """Whether an event with this id is stored (a command whose first event exists was handled)."""
    return bool(await conn.fetchval(EVENT_EXISTS, event_id))


def _event(topic: str, data: str) -> Event:
    message = decode(topic, data.encode())
    if not isinstance(message, Event):
        raise TypeError(f"the event store holds a {type(message).__name__}, not an event")
    return message


def _wire_type(event: Event) -> str:
    wire: str = getattr(event, "type")  # noqa: B009 - every concrete event pins `type` with a Literal
    return wire
