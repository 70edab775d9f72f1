"""Profile lists and profile extension tables (PETs), spec §1 and ADR 0011.

A list's system columns are fixed here, once, for every service; a `ListSpec` holds the list's name and its
custom columns only. A PET adds columns to one list, one row per `RIID_` of that list. Both are aggregates on
`connect.tables` (types `list` and `pet`, keyed by the lower-cased name), defined and extended by commands the
scheduler answers; their events are in `connect_events.tables`.
"""

from __future__ import annotations

from typing import get_args

from connect_events.definitions import ColumnSpec, ColumnType, MatchColumn, TableSpec
from connect_events.envelope import Message


def _text(name: str, length: int) -> ColumnSpec:
    return ColumnSpec(name=name, type=ColumnType.TEXT, max_length=length)


RIID = "RIID_"
SYSTEM_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec(name=RIID, type=ColumnType.INTEGER),
    _text("CUSTOMER_ID_", 255),
    _text("EMAIL_ADDRESS_", 255),
    _text("EMAIL_DOMAIN_", 255),
    _text("EMAIL_MD5_HASH_", 32),
    _text("EMAIL_SHA256_HASH_", 64),
    _text("EMAIL_FORMAT_", 1),
    _text("EMAIL_PERMISSION_STATUS_", 1),
    _text("EMAIL_DELIVERABILITY_STATUS_", 1),
    _text("MOBILE_NUMBER_", 20),
    _text("MOBILE_COUNTRY_", 2),
    _text("MOBILE_PERMISSION_STATUS_", 1),
    _text("POSTAL_STREET_1_", 255),
    _text("POSTAL_STREET_2_", 255),
    _text("CITY_", 100),
    _text("STATE_", 100),
    _text("POSTAL_CODE_", 20),
    _text("COUNTRY_", 100),
    ColumnSpec(name="CREATED_DATE_", type=ColumnType.TIMESTAMP),
    ColumnSpec(name="MODIFIED_DATE_", type=ColumnType.TIMESTAMP),
)
"""The system columns of every list, in this order (spec §1)."""

DERIVED_COLUMNS = frozenset({"EMAIL_DOMAIN_", "EMAIL_MD5_HASH_", "EMAIL_SHA256_HASH_"})
"""Computed by the store from the trimmed, lower-cased `EMAIL_ADDRESS_`; never mapped from a file."""
ASSIGNED_COLUMNS = frozenset({RIID, "CREATED_DATE_", "MODIFIED_DATE_"})
"""Set by the store (`RIID_` from an identity, never reused; the dates on insert and change); never mapped.
`RIID_` may still be a match column: a file can name existing recipients by their RIID."""
MATCH_COLUMNS: tuple[str, ...] = get_args(MatchColumn)
"""The columns an import may match list rows on (spec §4.3)."""
HASH_COLUMNS = frozenset({"EMAIL_MD5_HASH_", "EMAIL_SHA256_HASH_"})
SYSTEM_SUFFIX = "_"
"""System column names end with `_`; custom column names may not (so no custom column can ever shadow one)."""


class ListSpec(Message):
    """A profile list: its name and custom columns (the system columns are `SYSTEM_COLUMNS`)."""

    name: str
    columns: tuple[ColumnSpec, ...] = ()

    def all_columns(self) -> tuple[ColumnSpec, ...]:
        """System columns first, then the custom ones."""
        return SYSTEM_COLUMNS + self.columns

    def as_table(self) -> TableSpec:
        """The list as a table definition: every column, keyed by `RIID_`."""
        return TableSpec(name=self.name, columns=self.all_columns(), primary_key=(RIID,))


class PetSpec(Message):
    """A profile extension table of the list `list_name`: one row per `RIID_`, plus its own columns."""

    name: str
    list_name: str
    columns: tuple[ColumnSpec, ...]

    def as_table(self) -> TableSpec:
        """The PET as a table definition: `RIID_` and its columns, keyed by `RIID_`."""
        return TableSpec(name=self.name, columns=(SYSTEM_COLUMNS[0], *self.columns), primary_key=(RIID,))
