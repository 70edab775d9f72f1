"""The event store: one stream per aggregate in PostgreSQL, with optimistic concurrency.

Streams are `job:<id>` (the job's events and the run events the scheduler writes for it: requested,
skipped, stop requested; what the job needs of those is kept aside, see `job_store.py`), `table:<lower name>`,
`list:<lower name>`, `pet:<lower name>` and `audience:<lower name>`. `(stream_id, stream_version)` is the
primary key, so two writers that loaded the same version cannot both append: the second gets `ConcurrencyError`
and nothing of its own is stored.
Everything here runs on the caller's connection, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
# Streams' own events, without the run events a job stream also holds (`adapters/job_store.py` keeps what the
# job needs of those), so their cost does not grow with the job's run history; each stream's version is of the
# whole stream. One statement, so the events and the versions are of the same moment.
LOAD_WITHOUT_RUNS = """
SELECT s.stream_id, v.version, e.stream_version AS own_version, e.topic, e.data::text AS data
FROM unnest($1::text[]) AS s(stream_id)
CROSS JOIN LATERAL (SELECT coalesce(max(stream_version), 0) AS version FROM events WHERE stream_id = s.stream_id) AS v
LEFT JOIN events e ON e.stream_id = s.stream_id AND e.type NOT LIKE 'run.%'
ORDER BY s.stream_id, e.stream_version
"""
# Each stream's version and that of its last own event (not a run event), from the indexes alone.
VERSIONS = """
SELECT s.stream_id,
    (SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = s.stream_id) AS version,
    (SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = s.stream_id AND type NOT LIKE 'run.%')
        AS own_version
FROM unnest($1::text[]) AS s(stream_id)
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


def list_stream(name: str) -> str:
    """The stream of one profile list; names are unique case-insensitively."""
    return f"list:{name.lower()}"


def pet_stream(name: str) -> str:
    """The stream of one PET; names are unique case-insensitively."""
    return f"pet:{name.lower()}"


def audience_stream(name: str) -> str:
    """The stream of one audience; names are unique case-insensitively."""
    return f"audience:{name.lower()}"


async def load(conn: Conn, stream_id: str) -> tuple[list[Event], int]:
    """The stream's events in order, and its version (0 for a stream that does not exist)."""
    if storable_problem(stream_id):
        # PostgreSQL cannot hold such an id (a NUL in a table name), so no stream has it; asking would
        # fail. The domain refuses the name before anything is appended under it.
        return [], 0
    rows = await conn.fetch(LOAD_STREAM, stream_id)
    events = [_event(row["topic"], row["data"]) for row in rows]
    return events, (rows[-1]["stream_version"] if rows else 0)


@dataclass
class OwnEvents:
    """A stream's events other than run events, the version of the whole stream and that of its last own
    event (0: none)."""

    events: list[Event]
    version: int
    own_version: int = 0


async def load_without_runs(conn: Conn, stream_ids: Sequence[str]) -> dict[str, OwnEvents]:
    """Each stream's events other than run events (`run.*`), in order, with its versions."""
    loaded: dict[str, OwnEvents] = {}
    for row in await conn.fetch(LOAD_WITHOUT_RUNS, list(stream_ids)):
        stream = loaded.setdefault(row["stream_id"], OwnEvents([], row["version"]))
        if row["topic"] is not None:
            stream.events.append(_event(row["topic"], row["data"]))
            stream.own_version = row["own_version"]
    return loaded


async def versions(conn: Conn, stream_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each stream's version and the version of its last event other than a run event (0: none)."""
    rows = await conn.fetch(VERSIONS, list(stream_ids))
    return {row["stream_id"]: (row["version"], row["own_version"]) for row in rows}


async def append(conn: Conn, stream_id: str, expected_stream_version: int, events: Sequence[Event]) -> int:
    """Append `events` after `expected_stream_version`; returns the new stream version."""
    return (await append_many(conn, [(stream_id, expected_stream_version, events)]))[0]


async def append_many(conn: Conn, appends: Sequence[tuple[str, int, Sequence[Event]]]) -> list[int]:
    """Append to each stream its events after its expected version, in one statement; returns the new
    versions. If any stream changed since it was loaded, nothing is appended."""
    rows = [
        (stream_id, expected + i, e.event_id, e.TOPIC, _wire_type(e), encode(e).decode())
        for stream_id, expected, events in appends
        for i, e in enumerate(events, start=1)
    ]
    if rows:
        try:
            await conn.executemany(INSERT_EVENT, rows)
        except asyncpg.UniqueViolationError as exc:
            changed = appends[0][0] if len(appends) == 1 else f"one of {len(appends)} streams"
            raise ConcurrencyError(f"{changed} changed after it was loaded") from exc
    return [expected + len(events) for _, expected, events in appends]


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
