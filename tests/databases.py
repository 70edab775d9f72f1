"""Throw-away databases for integration tests: each test module makes its own and drops it afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from connect_runtime.db import ensure_database, open_pool
from connect_runtime.settings import database_dsn


async def drop_databases(database_url: str, *names: str) -> None:
    """Drop `names` on the server of `database_url`, closing any session still on them."""
    admin = await asyncpg.connect(database_dsn(database_url, "postgres"))
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def throwaway_pool(database_url: str, name: str, ddl: str, max_size: int = 4) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new database `name` with `ddl` applied; the database is dropped on exit."""
    pool = await open_pool(await ensure_database(database_url, name), ddl, max_size=max_size)
    try:
        yield pool
    finally:
        await pool.close()
        await drop_databases(database_url, name)
