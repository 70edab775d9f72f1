"""Reads the rows of lists and PETs from the runner's tables in the audience database (`lists."<NAME>"`,
`pets."<NAME>"`; schema owned by the runner), by names from the catalog, always quoted (`domain.profiles`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from connect_events import RIID
from connect_gateway.domain.profiles import ProfileTable, table_name
from connect_gateway.ports import AudienceUnavailableError
from connect_runtime.audiences import AudienceQuery

T = TypeVar("T")


def preview_sql(table: str) -> str:
    """The first `$1` rows of `table` (quoted) by `RIID_`, every column."""
    return f'SELECT * FROM {table} ORDER BY "{RIID}" LIMIT $1'


def count_sql(table: str) -> str:
    """How many rows `table` (quoted) holds."""
    return f"SELECT count(*) FROM {table}"


class PgProfileRows:
    """`ProfileRows` over the audience database (the pool should be read-only)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def preview(self, kind: ProfileTable, name: str, limit: int) -> list[dict[str, object]]:
        """The first `limit` rows by `RIID_`; none while the runner has not created the table."""
        sql = preview_sql(table_name(kind, name))
        none: list[asyncpg.Record] = []
        rows = await self._guard(lambda: self._pool.fetch(sql, limit), none)
        return [dict(row.items()) for row in rows]

    async def count(self, kind: ProfileTable, name: str) -> int:
        """How many rows the table holds; 0 while the runner has not created it."""
        sql = count_sql(table_name(kind, name))
        found: int = await self._guard(lambda: self._pool.fetchval(sql), 0)
        return found

    async def audience_rows(self, query: AudienceQuery, limit: int) -> list[dict[str, object]]:
        """The audience's first `limit` rows by `RIID_`; none while the runner has not created the list's table."""
        sql = f"{query.select} LIMIT ${query.next_param}"
        none: list[asyncpg.Record] = []
        rows = await self._guard(lambda: self._pool.fetch(sql, *query.params, limit), none)
        return [dict(row.items()) for row in rows]

    async def audience_count(self, query: AudienceQuery) -> int:
        """How many rows the audience holds; 0 while the runner has not created the list's table."""
        found: int = await self._guard(lambda: self._pool.fetchval(query.count, *query.params), 0)
        return found

    @staticmethod
    async def _guard(query: Callable[[], Awaitable[T]], missing: T) -> T:
        try:
            return await query()
        except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
            # Defined in the catalog, not created by the runner yet (it creates tables as it reads the events).
            return missing
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise AudienceUnavailableError(f"{type(exc).__name__}: {exc}") from exc
