"""SQL for one column's values: its type, the checks that reject a staged value, and the cast that loads it.

Staged values arrive trimmed, with empty as NULL. The checks (`bad_value`) are regular expressions and
arithmetic, never a cast that might raise, so one bad value rejects its row instead of failing the whole
set-based statement; each cast is only applied to rows whose checks all passed.

Regular expressions are the expensive part of a load, so a file is first given a cheaper chance: `proof`
is a condition that is only true for values the checks would accept (sufficient, not necessary), built from
casts and their round trip back to text. It may raise on a bad value: the caller then, like when a proof is
false, runs the exact checks. Most files are clean, and for them the checks never run.
"""

from __future__ import annotations

from collections.abc import Callable

from connect_events import ColumnSpec, ColumnType
from connect_runner.domain.rejects import FORMAT_REASON, RejectReason

INTEGER_RE = "^[+-]?[0-9]+$"
SHORT_INTEGER_RE = "^[+-]?[0-9]{1,18}$"  # always inside bigint; longer ones are compared exactly
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
NUMBER_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
BOOLEAN_WORDS = ("true", "false", "t", "f", "yes", "no", "y", "n", "1", "0", "on", "off")
# Month and day ranges are checked by the pattern; only days 29-31 need the calendar (see `_calendar_bad`).
DATE_RE = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
TIME_RE = r"[ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"


def sql_type(column: ColumnSpec) -> str:
    """The PostgreSQL type of a custom-table column."""
    if column.type is ColumnType.TEXT:
        return f"varchar({int(column.max_length)})" if column.max_length else "text"
    if column.type is ColumnType.NUMBER:
        if column.precision is None:
            return "numeric"
        return f"numeric({int(column.precision)},{int(column.scale or 0)})"
    return _PLAIN_TYPES[column.type]


_PLAIN_TYPES = {
    ColumnType.INTEGER: "bigint",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "date",
    ColumnType.TIMESTAMP: "timestamp",
}


def cast(ref: str, column: ColumnSpec) -> str:
    """`ref` (a staged text value that passed `bad_value`) as the column's type."""
    if column.type is ColumnType.TEXT:
        return ref
    if column.type is ColumnType.NUMBER:
        return f"{ref}::numeric"
    return f"{ref}::{_PLAIN_TYPES[column.type]}"


def bad_value(ref: str, column: ColumnSpec) -> tuple[str, RejectReason] | None:
    """A condition that is true when `ref` cannot be loaded into `column`, with its reason; None: any fits."""
    check = _CHECKS[column.type](ref, column)
    return None if check is None else (check, FORMAT_REASON[column.type])


def proof(ref: str, column: ColumnSpec) -> str | None:
    """True (or raising) only for values `bad_value` accepts; None when every value is accepted."""
    condition = _PROOFS[column.type](ref, column)
    return None if condition is None else f"({ref} IS NULL OR {condition})"


def _text_proof(ref: str, column: ColumnSpec) -> str | None:
    return f"char_length({ref}) <= {int(column.max_length)}" if column.max_length else None


def _integer_proof(ref: str, _column: ColumnSpec) -> str:
    # The canonical text of a bigint: optional minus, digits, no leading zero (others go to the checks).
    return f"{ref}::bigint::text = {ref}"


def _number_proof(ref: str, column: ColumnSpec) -> str:
    # NaN and Infinity survive the round trip but are not numbers here; the typed cast raises on overflow.
    typed = f" AND {ref}::{sql_type(column)} IS NOT NULL" if column.precision is not None else ""
    return f"({ref}::numeric::text = {ref} AND {ref} NOT IN ('NaN', 'Infinity', '-Infinity'){typed})"


def _boolean_proof(ref: str, column: ColumnSpec) -> str:
    return f"NOT ({_boolean(ref, column)})"


def _date_proof(ref: str, _column: ColumnSpec) -> str:
    # The shape excludes what also round-trips but is no plain date: 5-digit years, BC, infinity.
    return f"({ref} LIKE '____-__-__' AND {ref}::date::text = {ref})"


def _timestamp_proof(ref: str, _column: ColumnSpec) -> str:
    return f"({ref} LIKE '____-__-__ __:__:__%' AND {ref} NOT LIKE '%BC' AND {ref}::timestamp::text = {ref})"


def _text(ref: str, column: ColumnSpec) -> str | None:
    return f"char_length({ref}) > {int(column.max_length)}" if column.max_length else None


def _integer(ref: str, _column: ColumnSpec) -> str:
    return (
        f"CASE WHEN {ref} ~ '{SHORT_INTEGER_RE}' THEN false WHEN {ref} !~ '{INTEGER_RE}' THEN true"
        f" ELSE {ref}::numeric NOT BETWEEN {BIGINT_MIN} AND {BIGINT_MAX} END"
    )


def _number(ref: str, column: ColumnSpec) -> str:
    if column.precision is None:
        return f"{ref} !~ '{NUMBER_RE}'"
    scale = int(column.scale or 0)
    whole_digits = int(column.precision) - scale
    exact = f"abs(round({ref}::numeric, {scale})) >= {'1' + '0' * whole_digits}"
    if whole_digits < 1:
        return f"CASE WHEN {ref} !~ '{NUMBER_RE}' THEN true ELSE {exact} END"
    # Fewer whole digits than allowed always fit, even after rounding to the scale: skip the exact test.
    fits = rf"^[+-]?0*[0-9]{{0,{whole_digits - 1}}}(\.[0-9]*)?$"
    return f"CASE WHEN {ref} !~ '{NUMBER_RE}' THEN true WHEN {ref} ~ '{fits}' THEN false ELSE {exact} END"


def _boolean(ref: str, _column: ColumnSpec) -> str:
    words = ", ".join(f"'{w}'" for w in BOOLEAN_WORDS)
    return f"lower({ref}) NOT IN ({words})"


def _date(ref: str, _column: ColumnSpec) -> str:
    return _calendar_bad(ref, f"^{DATE_RE}$")


def _timestamp(ref: str, _column: ColumnSpec) -> str:
    return _calendar_bad(ref, f"^{DATE_RE}{TIME_RE}$")


def _calendar_bad(ref: str, pattern: str) -> str:
    """Pattern first; then only days 29-31 are checked against their month (and Feb 29 against leap years).

    Year 0000 does not exist in PostgreSQL's calendar either, so it is refused here rather than by a cast.
    """
    year = f"substr({ref}, 1, 4)::int"
    month, day = f"substr({ref}, 6, 2)", f"substr({ref}, 9, 2)"
    leap = f"({year} % 4 = 0 AND ({year} % 100 <> 0 OR {year} % 400 = 0))"
    return (
        f"CASE WHEN {ref} !~ '{pattern}' THEN true WHEN {ref} < '0001' COLLATE \"C\" THEN true"
        f" WHEN {day} < '29' COLLATE \"C\" THEN false"
        f" WHEN {month} = '02' THEN NOT ({day} = '29' AND {leap})"
        f" WHEN {month} IN ('04', '06', '09', '11') THEN {day} = '31' ELSE false END"
    )


_CHECKS: dict[ColumnType, Callable[[str, ColumnSpec], str | None]] = {
    ColumnType.TEXT: _text,
    ColumnType.INTEGER: _integer,
    ColumnType.NUMBER: _number,
    ColumnType.BOOLEAN: _boolean,
    ColumnType.DATE: _date,
    ColumnType.TIMESTAMP: _timestamp,
}


_PROOFS: dict[ColumnType, Callable[[str, ColumnSpec], str | None]] = {
    ColumnType.TEXT: _text_proof,
    ColumnType.INTEGER: _integer_proof,
    ColumnType.NUMBER: _number_proof,
    ColumnType.BOOLEAN: _boolean_proof,
    ColumnType.DATE: _date_proof,
    ColumnType.TIMESTAMP: _timestamp_proof,
}
