"""The catalog database's DDL: the read models plus the consumer's stored offsets."""

from __future__ import annotations

from importlib.resources import files

import asyncpg

from connect_runtime.offsets import OFFSETS_DDL

CATALOG_DATABASE = "catalog"
DDL_LOCK_ID = 7_100_000  # the lock connect_runtime.db.open_pool serialises DDL on


def catalog_ddl() -> str:
    """Idempotent DDL of every catalog table, unqualified: it lands in the search path's first schema."""
    read_models = files("connect_catalog.adapters").joinpath("schema.sql").read_text()
    return read_models + "\n" + OFFSETS_DDL


async def ensure_schema(dsn: str) -> None:
    """Apply the DDL to the live schema (idempotent; concurrent starts serialise on a lock)."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", DDL_LOCK_ID)
            await conn.execute(catalog_ddl())
    finally:
        await conn.close()
