"""Case-insensitive name ownership and id counters of jobs and groups, kept in the command's transaction.

`Register` is the one mechanism; `JOBS` (table `job_names`, counter `job_id`) and `GROUPS` (in
`group_store.py`) are its two uses. The module-level functions are the job register's.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from connect_events.values import storable_problem
from connect_runtime.db import Conn
from connect_scheduler.adapters.event_store import ConcurrencyError

# The row lock taken here is held to commit, so concurrent creates get ids in commit order.
NEXT_VALUE = "UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value"


class NameTakenError(ConcurrencyError):
    """Another job (or group) claimed the name after this command checked it was free (a concurrent create or
    rename)."""

    def __init__(self, name: str, noun: str = "job") -> None:
        super().__init__(f"{noun} name {name!r} was taken concurrently")
        self.name = name


@dataclass(frozen=True)
class Register:
    """Names unique case-insensitively among the live aggregates of one kind (`<noun>_names`: one row each),
    and the transactional counter of their ids (a rolled-back create gives its id back)."""

    noun: str

    @property
    def _table(self) -> str:
        return f"{self.noun}_names"

    @property
    def _id(self) -> str:
        return f"{self.noun}_id"

    async def name_owner(self, conn: Conn, name: str) -> int | None:
        """The live aggregate holding `name` (any case), if any."""
        if storable_problem(name):
            return None  # PostgreSQL cannot hold such a name, so nothing has it; the domain refuses it
        owner_of = f"SELECT {self._id} FROM {self._table} WHERE lower_name = lower($1)"
        owner: int | None = await conn.fetchval(owner_of, name)
        return owner

    async def claim_name(self, conn: Conn, owner: int, name: str) -> None:
        """Make `name` the owner's only name; raises `NameTakenError` if another one claimed it concurrently."""
        await self.release_name(conn, owner)
        try:
            claim = f"INSERT INTO {self._table} (lower_name, {self._id}) VALUES (lower($1), $2)"
            await conn.execute(claim, name, owner)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == f"{self._table}_pkey":  # the name is another's
                raise NameTakenError(name, self.noun) from exc
            raise ConcurrencyError(f"{self.noun} {owner} claimed a name concurrently") from exc

    async def release_name(self, conn: Conn, owner: int) -> None:
        """Free the owner's name (on delete, or before a rename)."""
        await conn.execute(f"DELETE FROM {self._table} WHERE {self._id} = $1", owner)

    async def next_id(self, conn: Conn) -> int:
        """The next id: 1, 2, 3...; given back if the transaction rolls back."""
        value: int = await conn.fetchval(NEXT_VALUE, self._id)
        return value


JOBS = Register("job")

name_owner = JOBS.name_owner
claim_name = JOBS.claim_name
release_name = JOBS.release_name
next_job_id = JOBS.next_id
