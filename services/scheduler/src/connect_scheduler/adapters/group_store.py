"""A group's stream, its case-insensitive name ownership and the group-id counter, in the command's transaction."""

from __future__ import annotations

import asyncpg

from connect_events.values import storable_problem
from connect_runtime.db import Conn
from connect_scheduler.adapters.event_store import ConcurrencyError
from connect_scheduler.adapters.job_names import NEXT_VALUE

GROUP_NAMES_DDL = """
-- Group names are unique case-insensitively among groups; one row per live (not deleted) group.
CREATE TABLE IF NOT EXISTS group_names (
    lower_name text   PRIMARY KEY,
    group_id   bigint NOT NULL UNIQUE
);
INSERT INTO counters (name, value) VALUES ('group_id', 0) ON CONFLICT (name) DO NOTHING;
"""
NAME_OWNER = "SELECT group_id FROM group_names WHERE lower_name = lower($1)"
RELEASE_NAME = "DELETE FROM group_names WHERE group_id = $1"
CLAIM_NAME = "INSERT INTO group_names (lower_name, group_id) VALUES (lower($1), $2)"
NAME_KEY = "group_names_pkey"  # the constraint a name claimed by another group violates
GROUP_ID_COUNTER = "group_id"


class GroupNameTakenError(ConcurrencyError):
    """Another group claimed the name after this command checked it was free."""

    def __init__(self, name: str) -> None:
        super().__init__(f"group name {name!r} was taken concurrently")
        self.name = name


def group_stream(group_id: int) -> str:
    """The stream of one group and its group runs."""
    return f"group:{group_id}"


async def name_owner(conn: Conn, name: str) -> int | None:
    """The live group holding `name` (any case), if any."""
    if storable_problem(name):
        return None  # PostgreSQL cannot hold such a name, so no group has it; the domain refuses it
    owner: int | None = await conn.fetchval(NAME_OWNER, name)
    return owner


async def claim_name(conn: Conn, group_id: int, name: str) -> None:
    """Make `name` the group's only name; raises `GroupNameTakenError` if another group claimed it meanwhile."""
    await release_name(conn, group_id)
    try:
        await conn.execute(CLAIM_NAME, name, group_id)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == NAME_KEY:
            raise GroupNameTakenError(name) from exc
        raise ConcurrencyError(f"group {group_id} claimed a name concurrently") from exc


async def release_name(conn: Conn, group_id: int) -> None:
    """Free the group's name (on delete, or before a rename)."""
    await conn.execute(RELEASE_NAME, group_id)


async def next_group_id(conn: Conn) -> int:
    """The next group id: 1, 2, 3...; given back if the transaction rolls back."""
    value: int = await conn.fetchval(NEXT_VALUE, GROUP_ID_COUNTER)
    return value
