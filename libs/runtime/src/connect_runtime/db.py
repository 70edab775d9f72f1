"""PostgreSQL plumbing: create a service's database when missing, open a pool, apply idempotent DDL."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from connect_runtime.settings import database_dsn

# A connection as handlers receive it: a plain one or one borrowed from a pool.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

DUPLICATE_DATABASE = "42P04"


async def ensure_database(server_url: str, database: str) -> str:
    """Create `database` on the server when missing; returns its DSN."""
    conn = await asyncpg.connect(database_dsn(server_url, "postgres"))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            try:
                await conn.execute(f'CREATE DATABASE "{database}"')
            except asyncpg.PostgresError as exc:
                if exc.sqlstate != DUPLICATE_DATABASE:  # created concurrently by another instance
                    raise
    finally:
        await conn.close()
    return database_dsn(server_url, database)


async def open_pool(dsn: str, ddl: str = "", max_size: int = 10) -> asyncpg.Pool:
    """A pool on `dsn`, after applying `ddl` (idempotent `CREATE ... IF NOT EXISTS` statements)."""
    if ddl:
        conn = await asyncpg.connect(dsn)
        try:
            # Concurrent CREATE IF NOT EXISTS can still collide in the catalogue; serialise on a lock.
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(7100000)")
                await conn.execute(ddl)
        finally:
            await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size)
    assert pool is not None
    return pool
