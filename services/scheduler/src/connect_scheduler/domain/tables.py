"""The custom-table aggregate: a table is defined once; its definition must be usable as Postgres DDL."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from connect_events import ColumnSpec, ColumnType, DefineTable, Event, FieldError, TableDefined, TableSpec
from connect_events.tables import TableDefinedPayload
from connect_events.values import MAX_PRECISION, MAX_TEXT_LENGTH, control_problem, identifier_problem
from connect_runtime.messages import Causation
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.rejection import Rejected, invalid


@dataclass(frozen=True)
class TableState:
    """A defined table and its aggregate version."""

    spec: TableSpec
    version: int


def table_key(name: str) -> str:
    """Aggregate id and Kafka key of a table, list or PET: names are unique case-insensitively (per kind)."""
    return name.lower()


def evolve_table(state: TableState | None, event: TableDefined) -> TableState:
    """The table after `event`."""
    return TableState(spec=event.payload.table, version=(state.version if state else 0) + 1)


def fold_table(events: Iterable[Event]) -> TableState | None:
    """The table after its stream's events (None: never defined)."""
    state: TableState | None = None
    for event in events:
        if not isinstance(event, TableDefined):
            raise TypeError(f"a table stream cannot hold {type(event).__name__}")
        state = evolve_table(state, event)
    return state


def decide_define_table(state: TableState | None, cmd: DefineTable, causation: Causation) -> list[Event]:
    """Define a new table, or refuse: `conflict` when it exists, `validation` listing every error."""
    spec = cmd.payload.table
    if state is not None:
        raise Rejected("conflict", f"a table named {state.spec.name} already exists", reason="TABLE_EXISTS")
    errors = validate_table(spec)
    if errors:
        raise invalid(f"{_label(spec, quoted=True)} has {len(errors)} error(s)", errors)
    return [TableDefined(**envelope(causation, 0, table_key(spec.name), 1), payload=TableDefinedPayload(table=spec))]


def validate_table(spec: TableSpec) -> list[FieldError]:
    """Every problem of `spec`, each naming its field."""
    errors = identifier_errors("table.name", spec.name)
    errors += _columns_errors(spec.columns)
    errors += _primary_key_errors(spec)
    return errors


def identifier_errors(field: str, name: str) -> list[FieldError]:
    """The shared identifier rule for a table, list, PET or column name, naming `field`."""
    # Checked again here although the gateway does (any producer may send a command); the shared rule's
    # words say what is wrong without quoting a value that may hold NUL or line breaks.
    problem = identifier_problem(name)
    return [] if problem is None else [FieldError(field=field, message=problem)]


def _label(spec: TableSpec, *, quoted: bool = False) -> str:
    """How messages name the table: by its name when that is printable."""
    if control_problem(spec.name):
        return "the table"
    return f"table {spec.name!r}" if quoted else f"table {spec.name}"


def _columns_errors(columns: tuple[ColumnSpec, ...]) -> list[FieldError]:
    if not columns:
        return [FieldError(field="table.columns", message="a table needs at least one column")]
    return columns_errors("table.columns", columns)


def columns_errors(field: str, columns: tuple[ColumnSpec, ...]) -> list[FieldError]:
    """Each column's own rules (`column_errors`), and no name twice (case-insensitively)."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, column in enumerate(columns):
        errors += column_errors(f"{field}[{i}]", column)
        if column.name.lower() in seen and not control_problem(column.name):  # never quote an unprintable name
            errors.append(FieldError(field=f"{field}[{i}].name", message=f"column {column.name} is defined twice"))
        seen.add(column.name.lower())
    return errors


def column_errors(field: str, column: ColumnSpec) -> list[FieldError]:
    """A column's name is an identifier and its type's attributes fit the type."""
    return identifier_errors(f"{field}.name", column.name) + _type_errors(field, column)


def _type_errors(field: str, column: ColumnSpec) -> list[FieldError]:
    """Length only for text, precision and scale only for number, each within what Postgres accepts."""
    errors: list[FieldError] = []
    if column.max_length is not None:
        if column.type is not ColumnType.TEXT:
            errors.append(FieldError(field=f"{field}.max_length", message="max_length is only for text columns"))
        elif not 1 <= column.max_length <= MAX_TEXT_LENGTH:
            errors.append(FieldError(field=f"{field}.max_length", message=f"must be 1 to {MAX_TEXT_LENGTH}"))
    if column.type is not ColumnType.NUMBER:
        for name, value in (("precision", column.precision), ("scale", column.scale)):
            if value is not None:
                errors.append(FieldError(field=f"{field}.{name}", message=f"{name} is only for number columns"))
        return errors
    return errors + _number_errors(field, column.precision, column.scale)


def _number_errors(field: str, precision: int | None, scale: int | None) -> list[FieldError]:
    if precision is None:
        if scale is None:
            return []
        return [FieldError(field=f"{field}.scale", message="a scale needs a precision")]
    if not 1 <= precision <= MAX_PRECISION:
        return [FieldError(field=f"{field}.precision", message=f"must be 1 to {MAX_PRECISION}")]
    if scale is not None and not 0 <= scale <= precision:
        return [FieldError(field=f"{field}.scale", message=f"must be 0 to the precision ({precision})")]
    return []


def _primary_key_errors(spec: TableSpec) -> list[FieldError]:
    if not spec.primary_key:
        return [FieldError(field="table.primary_key", message="name at least one primary-key column")]
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, key in enumerate(spec.primary_key):
        field = f"table.primary_key[{i}]"
        if problem := control_problem(key):
            errors.append(FieldError(field=field, message=problem))
        elif spec.column(key) is None:
            errors.append(FieldError(field=field, message=f"{_label(spec)} has no column {key}"))
        elif key.lower() in seen:
            errors.append(FieldError(field=field, message=f"column {key} is in the primary key twice"))
        seen.add(key.lower())
    return errors
