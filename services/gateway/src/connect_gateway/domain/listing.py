"""Sorting and cursor paging of list endpoints: allow-listed sort columns and opaque, stable cursors.

A page ends at a position: the last row's sort value and its ids (the tie-breaker). The next page starts
after that position, so rows added or removed meanwhile never shift a page or repeat a row. A missing value
sorts after every other one (`LAST_INT`, `LAST_TIME`), the same in SQL and in memory. The cursor is
base64url JSON: opaque to clients, checked on the way back in (it must belong to the same sort order and
carry values the column can hold: integers within its PostgreSQL type, times that exist in UTC, text without
NUL or unpaired surrogates), so a tampered or stale cursor is a 422 naming `cursor`, never a failing query.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeGuard

from connect_events.values import storable_problem
from connect_gateway.domain.errors import invalid

IntKind = Literal["bigint", "int"]  # PostgreSQL's 8- and 4-byte integers
Kind = IntKind | Literal["text", "time"]
Value = int | str | datetime

INT_BOUNDS: dict[IntKind, int] = {"bigint": 2**63, "int": 2**31}  # each holds -bound .. bound - 1

# Where a missing number or time sorts: after every real one (SQL coalesces to the same values; PostgreSQL's
# 'infinity' is LAST_TIME to asyncpg). Text columns that can be sorted on are never missing.
LAST_INT = 2**63 - 1
LAST_TIME = datetime.max.replace(tzinfo=UTC)

CURSOR_FORM = "not a cursor of this list; start again without one"


@dataclass(frozen=True)
class Sort:
    """A sort column and its direction; `text` is the parameter form (`name`, `-started_at`)."""

    column: str
    descending: bool = False

    @property
    def text(self) -> str:
        """The sort as the `sort` query parameter writes it."""
        return f"-{self.column}" if self.descending else self.column


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last row's sort value (never None: see `LAST_INT`, `LAST_TIME`) and its ids."""

    sort: Sort
    value: Value
    ids: tuple[int, ...]


def sort_pattern(columns: Mapping[str, Kind]) -> str:
    """The regular expression of the `sort` values `columns` allow (for the OpenAPI document)."""
    return "^-?(" + "|".join(sorted(columns)) + ")$"


def parse_sort(text: str, columns: Mapping[str, Kind]) -> Sort:
    """`name` ascending or `-name` descending, for an allow-listed column only."""
    column = text.removeprefix("-")
    if column not in columns:
        raise invalid("sort", f"sort by one of {', '.join(sorted(columns))}, with a leading - for descending")
    return Sort(column, text.startswith("-"))


def encode_cursor(position: Position) -> str:
    """The opaque cursor of `position`."""
    value = position.value.isoformat() if isinstance(position.value, datetime) else position.value
    raw = json.dumps({"s": position.sort.text, "v": value, "k": list(position.ids)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort, columns: Mapping[str, Kind], ids: Sequence[IntKind]) -> Position:
    """The position `cursor` names, for a list sorted by `sort` whose rows' ids are of the kinds `ids`."""
    data = _json(cursor)
    if not isinstance(data, dict) or set(data) != {"s", "v", "k"}:
        raise invalid("cursor", CURSOR_FORM)
    if data["s"] != sort.text:
        raise invalid("cursor", f"the cursor belongs to the sort {data['s']}, not {sort.text}; start again without it")
    keys = data["k"]
    if not isinstance(keys, list) or len(keys) != len(ids) or not all(map(_fits, keys, ids)):
        raise invalid("cursor", CURSOR_FORM)
    return Position(sort, _value(data["v"], columns[sort.column]), tuple(keys))


def _json(cursor: str) -> object:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise invalid("cursor", CURSOR_FORM) from None


def _fits(value: object, kind: IntKind) -> TypeGuard[int]:
    """Whether `value` is a JSON integer the PostgreSQL type `kind` holds."""
    bound = INT_BOUNDS[kind]
    return isinstance(value, int) and not isinstance(value, bool) and -bound <= value < bound


def _value(value: object, kind: Kind) -> Value:
    if kind == "text":
        if isinstance(value, str) and storable_problem(value) is None:
            return value
    elif kind == "time":
        if isinstance(value, str):
            return _utc(value)
    elif _fits(value, kind):
        return value
    raise invalid("cursor", CURSOR_FORM)


def _utc(text: str) -> datetime:
    """The time `text` names, in UTC: an offset that moves it before year 1 or past year 9999 is no time."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise invalid("cursor", CURSOR_FORM)
