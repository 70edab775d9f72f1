"""Values a job writes its own way (spec §4.2), rewritten while parsing into the text the SQL checks know.

A date or timestamp column with a format (`connect_events.formats`) is read with an anchored pattern compiled
from it and rewritten as `YYYY-MM-DD` (`YYYY-MM-DD HH:MI:SS[.F]`, missing time fields as 00); a number column of
a file with a decimal comma has its comma turned into a point; with `truncate_long_text` a text value is cut to
its column's length (in characters). The rewritten text then meets the same set-based checks as any other
value, so an impossible date (31/02) or an hour 24 is rejected there. A value not written the column's way (no
match, an unknown month name, a point in a number of a decimal-comma file) rejects its row here, with the reason
a bad value of its type has in SQL.

Only plans that use one of these options pay for it: `value_reader` is None for all others.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from connect_events import ColumnType
from connect_events.formats import Part, parse_format
from connect_runner.domain.plan import LoadPlan, MappedColumn
from connect_runner.domain.rejects import FORMAT_REASON, RejectReason

Reader = Callable[[str], str | None]  # a trimmed, non-empty value → its canonical text, None: not in the form
Record = tuple[Any, ...]  # (line_no, value, …) as staged
Rejects = list[tuple[int, str]]
Matcher = Callable[[str], re.Match[str] | None]
BatchReader = Callable[[list[Record], Rejects], list[Record]]  # kept records; appends the rejected to the list

_TOKEN_PATTERNS = {
    "YYYY": "([0-9]{4})",
    "MM": "([0-9]{1,2})",
    "MON": "([A-Za-z]{3})",
    "DD": "([0-9]{1,2})",
    "HH24": "([0-9]{2})",
    "MI": "([0-9]{2})",
    "SS": "([0-9]{2})",
    "FF": "([0-9]{1,6})",
}
_ABSENT = ("00", "")  # read for a time field a format lacks (index -2), and for a missing fraction (-1)
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: f"{number:02d}" for number, name in enumerate(_MONTH_NAMES, 1)}


def format_reader(text: str, column_type: ColumnType) -> Reader:
    """Reads values written in format `text` (checked with `format_problem`) as a column of `column_type`."""
    parts = parse_format(text.strip())  # values are trimmed: spaces around a format could never match
    match = re.compile("".join(_pattern(part) for part in parts)).fullmatch
    group = {part.text: number for number, part in enumerate(p for p in parts if p.kind == "token")}
    by_name = "MON" in group
    date = (group["YYYY"], group["MON" if by_name else "MM"], group["DD"])
    if column_type is ColumnType.DATE:
        return partial(_read_date, match, by_name, date)
    clock = (group.get("HH24", -2), group.get("MI", -2), group.get("SS", -2), group.get("FF", -1))
    return partial(_read_timestamp, match, by_name, date, clock)


def _pattern(part: Part) -> str:
    return _TOKEN_PATTERNS[part.text] if part.kind == "token" else re.escape(part.text)


def _read_date(match: Matcher, by_name: bool, date: tuple[int, int, int], value: str) -> str | None:
    found = match(value)
    return None if found is None else _date(found.groups(), by_name, date)


def _read_timestamp(
    match: Matcher, by_name: bool, date: tuple[int, int, int], clock: tuple[int, int, int, int], value: str
) -> str | None:
    found = match(value)
    if found is None:
        return None
    groups = found.groups() + _ABSENT
    day = _date(groups, by_name, date)
    if day is None:
        return None
    # Without trailing zeros the text is PostgreSQL's own, so the cheap proof (a round trip) holds for it.
    fraction = groups[clock[3]].rstrip("0")
    time = f"{day} {groups[clock[0]]}:{groups[clock[1]]}:{groups[clock[2]]}"
    return f"{time}.{fraction}" if fraction else time


def _date(groups: tuple[str, ...], by_name: bool, date: tuple[int, int, int]) -> str | None:
    month = _MONTHS.get(groups[date[1]].lower()) if by_name else groups[date[1]].zfill(2)
    return None if month is None else f"{groups[date[0]]}-{month}-{groups[date[2]].zfill(2)}"


def comma_number(value: str) -> str | None:
    """A number written with a decimal comma, with a point instead; None when it holds a point already."""
    return None if "." in value else value.replace(",", ".")


def _cut(length: int, value: str) -> str:
    return value[:length]


def column_reader(column: MappedColumn, decimal_separator: str, truncate_long_text: bool) -> Reader | None:
    """How the values of one mapped column are read; None: as written."""
    spec = column.column
    if column.format is not None:
        return format_reader(column.format, spec.type)
    if spec.type is ColumnType.NUMBER and decimal_separator == ",":
        return comma_number
    if spec.type is ColumnType.TEXT and truncate_long_text and spec.max_length:
        return partial(_cut, int(spec.max_length))
    return None


def value_reader(plan: LoadPlan, decimal_separator: str) -> BatchReader | None:
    """Rewrites a batch of staged records, appending the rows it rejects to the list given; None: nothing to do."""
    readers = [
        (index, reader, FORMAT_REASON[column.column.type])
        for index, column in enumerate(plan.columns, 1)
        if (reader := column_reader(column, decimal_separator, plan.truncate_long_text)) is not None
    ]
    return partial(read_records, readers) if readers else None


def read_records(
    readers: Sequence[tuple[int, Reader, RejectReason]], records: list[Record], rejects: Rejects
) -> list[Record]:
    """`records` with the values at each reader's index read by it; a value it cannot read rejects the row."""
    kept: list[Record] = []
    for record in records:
        values = list(record)
        for index, read, reason in readers:
            value = values[index]
            if value is not None:
                values[index] = value = read(value)
                if value is None:
                    rejects.append((record[0], reason))
                    break
        else:
            kept.append(tuple(values))
    return kept


def chained(first: BatchReader | None, second: BatchReader | None) -> BatchReader | None:
    """`first`, then `second` on the records it kept; None when neither has anything to do."""
    if first is None or second is None:
        return first or second
    return partial(_both, first, second)


def _both(first: BatchReader, second: BatchReader, records: list[Record], rejects: Rejects) -> list[Record]:
    return second(first(records, rejects), rejects)
