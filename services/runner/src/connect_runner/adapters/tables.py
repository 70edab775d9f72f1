"""Custom tables, profile lists and PETs in the audience database, created from their definition when missing.

Every change here holds `DDL_LOCK` until its transaction ends, so two runners (or a runner and the tables
consumer) never create the same table at once; each is idempotent, since events may be redelivered and a run
ensures its tables as well (its frozen definition may be newer than what the tables consumer applied so far).
"""

from __future__ import annotations

from collections.abc import Sequence

from connect_events import ColumnSpec, ListSpec, PetSpec, TableSpec
from connect_runner.domain.list_tables import (
    EXISTING_COLUMNS,
    FIND_TABLE,
    LIST_SCHEMA,
    PET_SCHEMA,
    add_columns,
    create_list,
    create_pet,
    list_target,
    missing_columns,
    pet_target,
)
from connect_runner.domain.statements import TARGET_SCHEMA, create_table
from connect_runtime.db import Conn

# Concurrent CREATE ... IF NOT EXISTS of one name can still collide in the catalogue; serialise them.
DDL_LOCK = "SELECT pg_advisory_xact_lock(7100010)"


async def ensure_table(conn: Conn, table: TableSpec) -> None:
    """Create the table (and the `custom` schema) unless it exists; an existing table is left as it is."""
    async with conn.transaction():
        await conn.execute(DDL_LOCK)
        await conn.execute(create_table(table))


async def ensure_list(conn: Conn, spec: ListSpec) -> None:
    """Create the list unless it exists; an existing one gets the custom columns it lacks."""
    async with conn.transaction():
        await conn.execute(DDL_LOCK)
        await _ensure_list(conn, spec)


async def _ensure_list(conn: Conn, spec: ListSpec) -> str:
    """The list's table name (created or completed; the lock is held)."""
    existing = await _columns(conn, LIST_SCHEMA, spec.name)
    if not existing:
        await conn.execute(create_list(spec))
    elif missing := missing_columns(spec.columns, existing):
        await conn.execute(add_columns(list_target(spec.name), missing))
    return spec.name


async def ensure_pet(conn: Conn, spec: PetSpec, parent: ListSpec | None = None) -> None:
    """Create the PET unless it exists (an existing one gets the columns it lacks). Its list is created first
    when missing: definitions of a list and its PET travel on different partitions, so the PET's may come first;
    `parent` is the list's definition when known, else it is created with its system columns only."""
    async with conn.transaction():
        await conn.execute(DDL_LOCK)
        existing = await _columns(conn, PET_SCHEMA, spec.name)
        if existing:
            if missing := missing_columns(spec.columns, existing):
                await conn.execute(add_columns(pet_target(spec.name), missing))
            return
        found = await conn.fetchval(FIND_TABLE, LIST_SCHEMA, spec.list_name)
        name = found if found is not None else await _ensure_list(conn, parent or ListSpec(name=spec.list_name))
        await conn.execute(create_pet(spec, name))


async def add_list_column(conn: Conn, name: str, column: ColumnSpec) -> None:
    """Add a custom column to the list `name` (nothing when it has it, or the list does not exist yet: a run
    creates the list from its definition, columns included)."""
    await _add_column(conn, LIST_SCHEMA, name, column)


async def add_pet_column(conn: Conn, name: str, column: ColumnSpec) -> None:
    """Add a column to the PET `name`, as `add_list_column` does to a list."""
    await _add_column(conn, PET_SCHEMA, name, column)


async def _add_column(conn: Conn, schema: str, name: str, column: ColumnSpec) -> None:
    async with conn.transaction():
        await conn.execute(DDL_LOCK)
        found = await conn.fetchval(FIND_TABLE, schema, name)
        if found is not None and column.name not in await _columns(conn, schema, found):
            table = list_target(found) if schema == LIST_SCHEMA else pet_target(found)
            await conn.execute(add_columns(table, [column]))


async def tables_complete(conn: Conn, table: TableSpec, spec: ListSpec | None, pets: Sequence[PetSpec]) -> bool:
    """Whether `ensure_table` (with no list), or `ensure_list` and `ensure_pet` of each PET, would change nothing:
    the tables are there with every column their definitions name. Read without `DDL_LOCK` (tables only grow)."""
    if spec is None:
        return bool(await _columns(conn, TARGET_SCHEMA, table.name))
    wanted = [(LIST_SCHEMA, spec.name, spec.columns), *((PET_SCHEMA, pet.name, pet.columns) for pet in pets)]
    for schema, name, columns in wanted:
        existing = await _columns(conn, schema, name)
        if not existing or missing_columns(columns, existing):
            return False
    return True


async def _columns(conn: Conn, schema: str, name: str) -> set[str]:
    return {r["attname"] for r in await conn.fetch(EXISTING_COLUMNS, schema, name)}
