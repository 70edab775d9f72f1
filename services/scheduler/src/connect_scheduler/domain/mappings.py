"""The rules of an import's column mappings (spec §4.2), shared by every import type: sources by header name or
1-based position, targets the columns of the target table (each once), formats fit for their columns' types."""

from __future__ import annotations

from collections.abc import Callable

from connect_events import ColumnMapping, ColumnType, FieldError, TableSpec
from connect_events.formats import format_problem
from connect_scheduler.domain.fields import text_errors


class Mapped:
    """The rules of one mapping (`field`) into the columns of `table` (None: unknown, so any name will do), a
    `kind` (table, list, PET) of the file's columns by name (`header`) or position; `targets` collects the
    lower-cased columns mapped, for the rules on what must be mapped."""

    def __init__(self, field: str, kind: str, table: TableSpec | None, *, header: bool) -> None:
        self.field, self.kind, self.table, self.header = field, kind, table, header
        self.targets: set[str] = set()

    def errors(
        self, mappings: tuple[ColumnMapping, ...], unwritable: Callable[[str], str | None] = lambda _: None
    ) -> list[FieldError]:
        """Every mapping's errors; `unwritable` says why a column of the table may not be mapped, if it may not."""
        if not mappings:
            return [FieldError(field=self.field, message="map at least one source column")]
        errors: list[FieldError] = []
        for i, mapping in enumerate(mappings):
            field = f"{self.field}[{i}]"
            errors += text_errors(f"{field}.source", mapping.source) or _source_column_errors(
                f"{field}.source", mapping, header=self.header
            )
            if unfit := text_errors(f"{field}.target", mapping.target):
                errors += unfit
                continue
            errors += self._target_errors(f"{field}.target", mapping.target, unwritable)
            errors += _format_errors(f"{field}.format", mapping, self.table)
            self.targets.add(mapping.target.lower())
        return errors

    def _target_errors(self, field: str, target: str, unwritable: Callable[[str], str | None]) -> list[FieldError]:
        if target.lower() in self.targets:
            return [FieldError(field=field, message=f"column {target} is mapped twice")]
        if self.table is None:
            return []
        if (column := self.table.column(target)) is None:
            return [FieldError(field=field, message=f"{self.kind} {self.table.name} has no column {target}")]
        problem = unwritable(column.name)
        return [] if problem is None else [FieldError(field=field, message=problem)]


def _source_column_errors(field: str, mapping: ColumnMapping, *, header: bool) -> list[FieldError]:
    """With a header, sources are column names; without one, 1-based positions (spec §4.1)."""
    if header:
        if mapping.source.strip():
            return []
        return [FieldError(field=field, message="name the source column")]
    if mapping.source.isascii() and mapping.source.isdigit() and int(mapping.source) >= 1:
        return []
    return [FieldError(field=field, message="without a header row, the source is a column position (1, 2, ...)")]


def _format_errors(field: str, mapping: ColumnMapping, table: TableSpec | None) -> list[FieldError]:
    """A format reads dates and timestamps (`connect_events.formats`); an unknown target has its own error."""
    column = None if table is None else table.column(mapping.target)
    if mapping.format is None or column is None:
        return []
    if column.type not in (ColumnType.DATE, ColumnType.TIMESTAMP):
        return [FieldError(field=field, message="a format applies to date and timestamp columns only")]
    problem = format_problem(mapping.format, "date" if column.type is ColumnType.DATE else "timestamp")
    return [] if problem is None else [FieldError(field=field, message=problem)]


def key_coverage_errors(table: TableSpec, mapped: set[str]) -> list[FieldError]:
    """Key columns are NOT NULL: an unmapped one would reject every row, whatever the write mode."""
    return [
        FieldError(field="settings.mapping", message=f"primary-key column {key} of table {table.name} is not mapped")
        for key in table.primary_key
        if key.lower() not in mapped
    ]
