"""Schema management for rebuilds: build the read models in a fresh schema, then swap it in for `public`.

The live projector holds a shared advisory lock for as long as it runs; the swap needs the same lock
exclusively, so it can only happen while no projector is writing to the schema being replaced.
"""

from __future__ import annotations

import logging

import asyncpg

from connect_runtime.sql_names import quote_ident

log = logging.getLogger(__name__)

PROJECTOR_LOCK_ID = 7_100_010
LIVE_SCHEMA = "public"

HOLD_PROJECTOR_LOCK = "SELECT pg_advisory_lock_shared($1)"
TRY_SWAP_LOCK = "SELECT pg_try_advisory_xact_lock($1)"
SCHEMA_OWNER = "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1"

# Privileges the replaced schema and its tables had (e.g. the gateway's read-only role), re-issued for the
# same names in the new live schema; Postgres quotes the identifiers itself.
GRANTS_TO_COPY = """
WITH grantee AS (
    SELECT oid, CASE WHEN oid = 0 THEN 'PUBLIC' ELSE quote_ident(rolname) END AS name
    FROM (SELECT 0::oid AS oid, NULL::name AS rolname UNION ALL SELECT oid, rolname FROM pg_roles) r
)
SELECT format('GRANT %s ON SCHEMA %I TO %s', a.privilege_type, $2::text, g.name)
FROM pg_namespace n, aclexplode(n.nspacl) a JOIN grantee g ON g.oid = a.grantee
WHERE n.nspname = $1 AND a.grantee <> n.nspowner
UNION ALL
SELECT format('GRANT %s ON %s %I.%I TO %s', a.privilege_type,
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, $2::text, c.relname, g.name)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
     JOIN grantee g ON g.oid = a.grantee
WHERE n.nspname = $1 AND c.relkind IN ('r', 'S') AND a.grantee <> c.relowner
  AND EXISTS (SELECT 1 FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
              WHERE n2.nspname = $2 AND c2.relname = c.relname)
"""


class ProjectorRunningError(RuntimeError):
    """A live projector is connected to the catalog database; stop it before swapping schemas."""


async def hold_projector_lock(dsn: str) -> asyncpg.Connection:
    """A connection holding the projector's shared lock until it is closed (waits out a swap)."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    await conn.execute(HOLD_PROJECTOR_LOCK, PROJECTOR_LOCK_ID)
    return conn


async def create_schema(conn: asyncpg.Connection, schema: str) -> None:
    """A new, empty schema (a leftover one of the same name from a failed rebuild is dropped)."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
    await conn.execute(f"CREATE SCHEMA {quote_ident(schema)}")


async def drop_schema(conn: asyncpg.Connection, schema: str) -> None:
    """Remove `schema` and everything in it."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")


async def swap_in(conn: asyncpg.Connection, schema: str, replaced: str, *, drop_old: bool) -> None:
    """Make `schema` the live one in one transaction; the old live schema becomes `replaced` (or is dropped).

    Readers see either the old tables or the new ones, never a mix: renames commit atomically.
    """
    async with conn.transaction():
        if not await conn.fetchval(TRY_SWAP_LOCK, PROJECTOR_LOCK_ID):
            raise ProjectorRunningError("stop the catalog projector before swapping in a rebuilt schema")
        owner = await conn.fetchval(SCHEMA_OWNER, LIVE_SCHEMA)
        await conn.execute(f"ALTER SCHEMA {quote_ident(LIVE_SCHEMA)} RENAME TO {quote_ident(replaced)}")
        await conn.execute(f"ALTER SCHEMA {quote_ident(schema)} RENAME TO {quote_ident(LIVE_SCHEMA)}")
        if owner is not None:  # `owner` is already quoted by regrole's text form
            await conn.execute(f"ALTER SCHEMA {quote_ident(LIVE_SCHEMA)} OWNER TO {owner}")
        for (grant,) in await conn.fetch(GRANTS_TO_COPY, replaced, LIVE_SCHEMA):
            await conn.execute(grant)
        if drop_old:
            await drop_schema(conn, replaced)
    log.info("rebuilt read models swapped in", extra={"replaced": None if drop_old else replaced})
