"""DDL of profile lists and PETs (ADR 0011): `lists."<NAME>"` and `pets."<NAME>"` in the audience database.

A list's `RIID_` comes from an identity (a sequence never hands a number out twice, also after rollbacks and
deletes); the address and customer id are unique (NULLs many times), and every other match column is indexed,
so each allowed match probes an index. A PET's `RIID_` is its key and references the list's. Indexes are created
without names (PostgreSQL picks ones that do not collide), which is why creation is guarded by a look into the
catalogue (`existing_columns`) rather than by `IF NOT EXISTS`.
"""

from __future__ import annotations

from collections.abc import Sequence

from connect_events import ColumnSpec, ListSpec, PetSpec
from connect_events.lists import RIID
from connect_runner.domain.identifiers import quote_ident
from connect_runner.domain.values import sql_type
from connect_runtime import sql_names

LIST_SCHEMA = sql_names.LIST_SCHEMA
PET_SCHEMA = sql_names.PET_SCHEMA
UNIQUE_COLUMNS = ("EMAIL_ADDRESS_", "CUSTOMER_ID_")
INDEXED_COLUMNS = ("MOBILE_NUMBER_", "EMAIL_MD5_HASH_", "EMAIL_SHA256_HASH_")

# The columns a table has (none: it does not exist); $1 is the schema, $2 the table's exact name.
EXISTING_COLUMNS = """
SELECT a.attname FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
"""
# A list's or PET's table by its name in any case (events and PETs name it as their own definition spelled it);
# $1 is the schema.
FIND_TABLE = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND lower(c.relname) = lower($2)
ORDER BY c.relname = $2 DESC LIMIT 1
"""


def list_target(name: str) -> str:
    """The list's qualified, quoted table name (`connect_runtime.sql_names.list_table`)."""
    return sql_names.list_table(name)


def pet_target(name: str) -> str:
    """The PET's qualified, quoted table name (`connect_runtime.sql_names.pet_table`)."""
    return sql_names.pet_table(name)


def _column(column: ColumnSpec) -> str:
    return f"{quote_ident(column.name)} {sql_type(column)}"


def create_list(spec: ListSpec) -> str:
    """The list's schema, table and indexes (for a list that does not exist yet)."""
    table = list_target(spec.name)
    columns = [f"{quote_ident(RIID)} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"]
    columns += [_column(c) for c in spec.all_columns() if c.name != RIID]
    unique = [f"CREATE UNIQUE INDEX ON {table} ({quote_ident(c)})" for c in UNIQUE_COLUMNS]
    plain = [f"CREATE INDEX ON {table} ({quote_ident(c)})" for c in INDEXED_COLUMNS]
    return ";\n".join(
        [
            f"CREATE SCHEMA IF NOT EXISTS {quote_ident(LIST_SCHEMA)}",
            f"CREATE TABLE {table} ({', '.join(columns)})",
            *unique,
            *plain,
        ]
    )


def create_pet(spec: PetSpec, list_name: str) -> str:
    """The PET's schema and table, its rows deleted with their list row (`list_name`: the list's table)."""
    riid = quote_ident(RIID)
    key = f"{riid} bigint PRIMARY KEY REFERENCES {list_target(list_name)} ({riid}) ON DELETE CASCADE"
    columns = ", ".join([key, *(_column(c) for c in spec.columns if c.name != RIID)])
    return f"CREATE SCHEMA IF NOT EXISTS {quote_ident(PET_SCHEMA)};\nCREATE TABLE {pet_target(spec.name)} ({columns})"


def add_columns(table: str, columns: Sequence[ColumnSpec]) -> str:
    """Add nullable `columns` to `table` (a qualified name); existing ones are left as they are."""
    added = ", ".join(f"ADD COLUMN IF NOT EXISTS {_column(c)}" for c in columns)
    return f"ALTER TABLE {table} {added}"


def missing_columns(columns: Sequence[ColumnSpec], existing: set[str]) -> list[ColumnSpec]:
    """The `columns` a table lacks (by exact name: identifiers are quoted)."""
    return [c for c in columns if c.name not in existing]
