"""Case-insensitive job-name ownership and the job-id counter, kept in the command's transaction."""

from __future__ import annotations

import asyncpg

from connect_events.values import storable_problem
from connect_runtime.db import Conn
from connect_scheduler.adapters.event_store import ConcurrencyError

NAME_OWNER = "SELECT job_id FROM job_names WHERE lower_name = lower($1)"
RELEASE_NAME = "DELETE FROM job_names WHERE job_id = $1"
CLAIM_NAME = "INSERT INTO job_names (lower_name, job_id) VALUES (lower($1), $2)"
NAME_KEY = "job_names_pkey"  # the constraint a name claimed by another job violates
# The row lock taken here is held to commit, so concurrent creates get ids in commit order.
NEXT_VALUE = "UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value"
JOB_ID_COUNTER = "job_id"


class NameTakenError(ConcurrencyError):
    """Another job claimed the name after this command checked it was free (a concurrent create or rename)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"job name {name!r} was taken concurrently")
        self.name = name


async def name_owner(conn: Conn, name: str) -> int | None:
    """The live job holding `name` (any case), if any."""
    if storable_problem(name):
        return None  # PostgreSQL cannot hold such a name, so no job has it; the domain refuses it
    owner: int | None = await conn.fetchval(NAME_OWNER, name)
    return owner


async def claim_name(conn: Conn, job_id: int, name: str) -> None:
    """Make `name` the job's only name; raises `NameTakenError` if another job claimed it concurrently."""
    await release_name(conn, job_id)
    try:
        await conn.execute(CLAIM_NAME, name, job_id)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == NAME_KEY:
            raise NameTakenError(name) from exc
        raise ConcurrencyError(f"job {job_id} claimed a name concurrently") from exc


async def release_name(conn: Conn, job_id: int) -> None:
    """Free the job's name (on delete, or before a rename)."""
    await conn.execute(RELEASE_NAME, job_id)


async def next_job_id(conn: Conn) -> int:
    """The next job id: 1, 2, 3...; given back if the transaction rolls back."""
    value: int = await conn.fetchval(NEXT_VALUE, JOB_ID_COUNTER)
    return value
