"""Which field of each record goes to which target column: resolved from the mapping and the header.

Mapping errors are caught here, before anything is staged: a header without a mapped column, or naming one
twice, fails the run with `BAD_HEADER`, a mapping that does not fit the table (or a format that does not fit its
column) with `LOAD_FAILED`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connect_events import ColumnMapping, ColumnSpec, ColumnType, TableSpec
from connect_events.formats import format_problem
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.identifiers import InvalidIdentifierError, check_identifier

HEADER_PREVIEW_CHARS = 200


@dataclass(frozen=True)
class MappedColumn:
    """One mapped source field: its 0-based position in a record, the target column it fills and the format its
    values are written in (date and timestamp columns; None: ISO)."""

    position: int
    column: ColumnSpec
    is_key: bool
    slot: int
    format: str | None = None

    @property
    def staging_name(self) -> str:
        """The staging table's column holding this field (`c1`, `c2`, …; never a user name)."""
        return f"c{self.slot}"


@dataclass(frozen=True)
class LoadPlan:
    """The resolved mapping of one file onto one table; `truncate_long_text` cuts over-long text to its column
    instead of rejecting the row."""

    table: TableSpec
    columns: tuple[MappedColumn, ...]
    field_count: int
    truncate_long_text: bool = False

    @property
    def keys(self) -> tuple[MappedColumn, ...]:
        """The mapped primary-key columns, in mapping order."""
        return tuple(c for c in self.columns if c.is_key)

    @property
    def values(self) -> tuple[MappedColumn, ...]:
        """The mapped columns outside the primary key."""
        return tuple(c for c in self.columns if not c.is_key)

    @property
    def positions(self) -> tuple[int, ...]:
        """Record positions to stage, in staging column order."""
        return tuple(c.position for c in self.columns)

    @property
    def field_names(self) -> tuple[str, ...] | None:
        """A staging column per field of the file, in file order, for a COPY of whole records: a mapped field's
        is its `staging_name`, another's `f<n>` (1-based). None when one field is mapped twice (a column can
        hold it only once)."""
        names = {c.position: c.staging_name for c in self.columns}
        if len(names) < len(self.columns):
            return None
        return tuple(names.get(position, f"f{position + 1}") for position in range(self.field_count))


def resolve_by_header(
    header: Sequence[str],
    mapping: Sequence[ColumnMapping],
    table: TableSpec,
    file_label: str,
    *,
    truncate_long_text: bool = False,
) -> LoadPlan:
    """Map sources by header name (case-insensitive, trimmed).

    A mapped name the header holds twice is ambiguous (which one is meant?), so it fails the run like a
    missing one; names repeated among unmapped columns do no harm, but are named when a column is missing,
    since a repeated name is often the missing column misspelled.
    """
    index, repeated = _index(header)
    wanted = dict.fromkeys(m.source.strip().casefold() for m in mapping)
    ambiguous = [repeated[key] for key in wanted if key in repeated]
    if ambiguous:
        raise RunFailure("BAD_HEADER", _duplicate_message(ambiguous, file_label))
    missing = [m.source for m in mapping if m.source.strip().casefold() not in index]
    if missing:
        lacks = _lacking(missing, header)
        if repeated:
            raise RunFailure("BAD_HEADER", f"{_duplicate_message(list(repeated.values()), file_label)}, which {lacks}")
        raise RunFailure("BAD_HEADER", f"header of '{file_label}' {lacks}")
    positions = [index[m.source.strip().casefold()] for m in mapping]
    return _plan(mapping, positions, table, len(header), truncate_long_text)


def resolve_by_position(
    field_count: int,
    mapping: Sequence[ColumnMapping],
    table: TableSpec,
    file_label: str,
    *,
    truncate_long_text: bool = False,
) -> LoadPlan:
    """Map sources by 1-based position, for files without a header row."""
    positions = [_position(m.source) for m in mapping]
    beyond = [str(p + 1) for p in positions if p >= field_count]
    if beyond:
        raise RunFailure(
            "BAD_HEADER",
            f"'{file_label}' has {field_count} columns; the mapping uses column {', '.join(beyond)}",
        )
    return _plan(mapping, positions, table, field_count, truncate_long_text)


def _position(source: str) -> int:
    text = source.strip()
    if not text.isdigit() or int(text) < 1:
        raise RunFailure("LOAD_FAILED", f"mapping source '{source}' is not a column position (1, 2, …)")
    return int(text) - 1


def _index(header: Sequence[str]) -> tuple[dict[str, int], dict[str, str]]:
    """Position of each (casefolded, trimmed) name, and the non-blank names that repeat, as first spelled."""
    index: dict[str, int] = {}
    repeated: dict[str, str] = {}
    for position, name in enumerate(header):
        key = name.strip().casefold()
        if key not in index:
            index[key] = position
        elif key:
            repeated.setdefault(key, header[index[key]].strip())
    return index, repeated


def _duplicate_message(names: Sequence[str], file_label: str) -> str:
    noun = "column" if len(names) == 1 else "columns"
    return f"duplicate {noun} {', '.join(names)} in the header of '{file_label}'"


def _lacking(missing: Sequence[str], header: Sequence[str]) -> str:
    names = ", ".join(f"'{m}'" for m in missing)
    found = ", ".join(h.strip() for h in header)
    if len(found) > HEADER_PREVIEW_CHARS:
        found = found[:HEADER_PREVIEW_CHARS] + "…"
    noun = "column" if len(missing) == 1 else "columns"
    return f"has no {noun} {names} (found: {found})"


def _plan(
    mapping: Sequence[ColumnMapping], positions: Sequence[int], table: TableSpec, fields: int, truncate: bool
) -> LoadPlan:
    columns = [_target(m, table) for m in mapping]
    _check_targets(columns, table)
    keys = {k.casefold() for k in table.primary_key}
    mapped = tuple(
        MappedColumn(position=p, column=c, is_key=c.name.casefold() in keys, slot=i + 1, format=m.format)
        for i, (p, c, m) in enumerate(zip(positions, columns, mapping, strict=True))
    )
    return LoadPlan(table=table, columns=mapped, field_count=fields, truncate_long_text=truncate)


def _target(mapping: ColumnMapping, table: TableSpec) -> ColumnSpec:
    column = table.column(mapping.target)
    if column is None:
        raise RunFailure("LOAD_FAILED", f"mapping target '{mapping.target}' is not a column of '{table.name}'")
    try:
        check_identifier(column.name)
    except InvalidIdentifierError as exc:
        raise RunFailure("LOAD_FAILED", str(exc)) from exc
    if mapping.format is not None:
        _check_format(mapping.format, column)
    return column


def _check_format(text: str, column: ColumnSpec) -> None:
    """The job's format must fit its column: checked on save as well, but a definition may predate the check."""
    if column.type is ColumnType.DATE:
        problem = format_problem(text, "date")
    elif column.type is ColumnType.TIMESTAMP:
        problem = format_problem(text, "timestamp")
    else:
        problem = f"a format applies to date and timestamp columns only, not to {column.type}"
    if problem is not None:
        raise RunFailure("LOAD_FAILED", f"the format of column '{column.name}' cannot be used: {problem}")


def _check_targets(columns: Sequence[ColumnSpec], table: TableSpec) -> None:
    names = [c.name.casefold() for c in columns]
    twice = sorted({c.name for c in columns if names.count(c.name.casefold()) > 1})
    if twice:
        raise RunFailure("LOAD_FAILED", f"column {', '.join(twice)} of '{table.name}' is mapped more than once")
    unmapped = [k for k in table.primary_key if k.casefold() not in names]
    if unmapped:
        raise RunFailure("LOAD_FAILED", f"primary key column {', '.join(unmapped)} of '{table.name}' is not mapped")
