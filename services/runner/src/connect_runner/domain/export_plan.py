"""What an export reads (ADR 0012): the columns of its file, in order, and the `FROM … WHERE …` they come from,
built from the definitions its request froze: a custom table (`t`), a list (`l`), a PET (`p`) joined to its list,
or an audience over its list, compiled by `connect_runtime.audiences`. An incremental export adds
`l."MODIFIED_DATE_" >= $n` (the start of the job's last successful export, `since`).

Every name comes from the frozen definitions, quoted; every value is a parameter. A header name met before (any
case) is written `<PET>.<COLUMN>`, as an audience does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from connect_events import (
    RIID,
    AudienceExport,
    ColumnSpec,
    ExportApi,
    ExportFile,
    ListExport,
    ListSpec,
    PetExport,
    PetSpec,
    RunRequested,
    TableExport,
    TableSpec,
)
from connect_runner.domain.export_select import Exported, OutputFormat, export_query
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.statements import target
from connect_runtime.audiences import AudienceInvalidError, compile_audience
from connect_runtime.sql_names import list_table, pet_table, quote_ident

MODIFIED = "MODIFIED_DATE_"


@dataclass(frozen=True)
class ExportSelection:
    """The rows an export writes: its columns (header name, definition, SQL), the `FROM … WHERE …` text and its
    parameters, and the order (a key, so a redone run writes the same file)."""

    columns: tuple[Exported, ...]
    from_where: str
    params: tuple[object, ...]
    order: str

    def query(self, output: OutputFormat) -> str:
        """The SELECT writing each column as the file does."""
        return export_query(self.columns, self.from_where, self.order, output)

    @property
    def count(self) -> str:
        """How many rows the export writes."""
        return f"SELECT count(*) {self.from_where}"


def export_selection(
    request: RunRequested, settings: ExportFile | ExportApi, since: datetime | None, today: date | None = None
) -> ExportSelection:
    """The rows of the export `request` asks for (to a file or an API); `since` (incremental exports only) is
    where its rows start."""
    payload, source = request.payload, settings.source
    match source:
        case TableExport():
            return _table(payload.table, source.columns)
        case ListExport():
            listed = _required(payload.list, "list")
            selection = _list(listed, source.columns)
            return _since(selection, since, filtered=False) if settings.incremental else selection
        case PetExport():
            return _pet(_required(payload.list, "list"), _pet_spec(payload.pets), source)
        case AudienceExport():
            selection, filtered = _audience(request, today)
            return _since(selection, since, filtered=filtered) if settings.incremental else selection


def _required(spec: ListSpec | None, what: str) -> ListSpec:
    if spec is None:
        raise RunFailure("INTERNAL", f"the run's request lacks the definition of its {what}")
    return spec


def _pet_spec(pets: tuple[PetSpec, ...]) -> PetSpec:
    if len(pets) != 1:
        raise RunFailure("INTERNAL", "the run's request lacks the definition of its PET")
    return pets[0]


def _table(table: TableSpec, chosen: tuple[str, ...]) -> ExportSelection:
    columns = _chosen(table.columns, chosen)
    order = ", ".join(f"t.{quote_ident(key)}" for key in table.primary_key) or "1"
    return ExportSelection(_exported("t", columns), f"FROM {target(table)} AS t", (), order)


def _list(listed: ListSpec, chosen: tuple[str, ...]) -> ExportSelection:
    columns = _exported("l", _chosen(listed.all_columns(), chosen))
    return ExportSelection(columns, f"FROM {list_table(listed.name)} AS l", (), f"l.{quote_ident(RIID)}")


def _pet(listed: ListSpec, pet: PetSpec, source: PetExport) -> ExportSelection:
    keys = _exported("l", _chosen(listed.all_columns(), source.key_columns))
    own = _exported("p", _chosen(pet.columns, source.columns))
    taken = {column.name.lower() for column in keys}
    renamed = tuple(Exported(f"{pet.name}.{c.name}", c.spec, c.sql) if c.name.lower() in taken else c for c in own)
    riid = quote_ident(RIID)
    joined = f"FROM {pet_table(pet.name)} AS p JOIN {list_table(listed.name)} AS l ON l.{riid} = p.{riid}"
    return ExportSelection(keys + renamed, joined, (), f"p.{riid}")


def _audience(request: RunRequested, today: date | None) -> tuple[ExportSelection, bool]:
    payload = request.payload
    audience, listed = payload.audience, _required(payload.list, "list")
    if audience is None:
        raise RunFailure("INTERNAL", "the run's request lacks the definition of its audience")
    try:
        query = compile_audience(audience, listed, {pet.name.lower(): pet for pet in payload.pets}, today=today)
    except AudienceInvalidError as exc:  # checked when the job was saved and run; the definitions moved since
        first = exc.errors[0]
        message = f"audience {audience.name} no longer fits its list and PETs ({first.field}: {first.message})"
        raise RunFailure("TARGET_MISSING", message) from exc
    columns = tuple(Exported(c.name, c.spec, c.sql) for c in query.columns)
    return ExportSelection(columns, query.from_where, query.params, f"l.{quote_ident(RIID)}"), query.filtered


def _since(selection: ExportSelection, since: datetime | None, *, filtered: bool) -> ExportSelection:
    """Only the rows modified since `since` (None: the first run, every row)."""
    if since is None:
        return selection
    number = len(selection.params) + 1
    condition = f"l.{quote_ident(MODIFIED)} >= ${number}"
    joiner = "AND" if filtered else "WHERE"
    stamp = since.astimezone(UTC).replace(tzinfo=None)  # `MODIFIED_DATE_` is UTC without a zone
    return ExportSelection(
        selection.columns, f"{selection.from_where} {joiner} {condition}", (*selection.params, stamp), selection.order
    )


def _chosen(columns: tuple[ColumnSpec, ...], chosen: tuple[str, ...]) -> tuple[ColumnSpec, ...]:
    """The chosen columns (any case) in the order chosen, by their definitions' spelling; every one when none is
    chosen. A name the definition lacks fails the run (the scheduler checked it; the definition moved since)."""
    if not chosen:
        return columns
    by_name = {column.name.lower(): column for column in columns}
    missing = [name for name in chosen if name.lower() not in by_name]
    if missing:
        raise RunFailure("TARGET_MISSING", f"the column {missing[0]} to export is no longer defined")
    return tuple(by_name[name.lower()] for name in chosen)


def _exported(alias: str, columns: Iterable[ColumnSpec]) -> tuple[Exported, ...]:
    return tuple(Exported(c.name, c, f"{alias}.{quote_ident(c.name)}") for c in columns)
