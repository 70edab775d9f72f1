"""Profile lists and PETs as the API shows them (spec §1, ADR 0011): what kind of column each is, the SQL name of
their tables in the audience database, and their values as JSON."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Literal

from connect_events import ASSIGNED_COLUMNS, DERIVED_COLUMNS, MATCH_COLUMNS, SYSTEM_COLUMNS, ColumnSpec, ListSpec
from connect_events.values import identifier_problem
from connect_runtime.sql_names import list_table, pet_table

ColumnKind = Literal["assigned", "derived", "system", "custom"]
ProfileTable = Literal["list", "pet"]
SYSTEM_NAMES = frozenset(column.name for column in SYSTEM_COLUMNS)
JsonValue = str | int | float | bool | None


def column_kind(name: str) -> ColumnKind:
    """Who writes a list's column: the store (`assigned`, `derived`), a file (`system`, `custom`)."""
    if name in ASSIGNED_COLUMNS:
        return "assigned"
    if name in DERIVED_COLUMNS:
        return "derived"
    return "system" if name in SYSTEM_NAMES else "custom"


def mappable_columns(spec: ListSpec) -> list[str]:
    """The list's columns a file can fill or match on, in the list's order (what auto-mapping offers)."""
    return [
        c.name for c in spec.all_columns() if c.name in MATCH_COLUMNS or column_kind(c.name) in ("system", "custom")
    ]


def is_match_column(column: ColumnSpec) -> bool:
    """Whether an import may match rows on `column`."""
    return column.name in MATCH_COLUMNS


def table_name(kind: ProfileTable, name: str) -> str:
    """The quoted, schema-qualified table of a list or PET (`name` exactly as defined, as the runner made it).

    The name comes from the catalog; it is checked again so that nothing but an identifier is ever quoted in.
    """
    if (problem := identifier_problem(name)) is not None:
        raise ValueError(f"{kind} name {name!r} {problem}")
    return list_table(name) if kind == "list" else pet_table(name)


def json_value(value: object) -> JsonValue:
    """A column's value as JSON: numbers of number columns as text (no digit lost), dates and times in ISO 8601."""
    match value:
        case None | bool() | int() | float() | str():
            return value
        case Decimal():
            return str(value)
        case datetime() | date() | time():
            return value.isoformat()
    return str(value)
