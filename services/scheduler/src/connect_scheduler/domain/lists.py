"""The profile-list and PET aggregates (spec §1, ADR 0011): defined once, then extended a column at a time.

A list's system columns are fixed by the contract (`connect_events.lists.SYSTEM_COLUMNS`); its custom columns,
and a PET's, follow the custom-table column rules (`domain/tables.py`) and may not end with `_`, so no custom
column can ever take a system column's name. A PET belongs to one list, which must exist when the PET is
defined; lists are never removed, so it exists for good.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from connect_events import (
    SYSTEM_COLUMNS,
    AddListColumn,
    AddPetColumn,
    ColumnSpec,
    DefineList,
    DefinePet,
    Event,
    FieldError,
    ListColumnAdded,
    ListDefined,
    ListSpec,
    PetColumnAdded,
    PetDefined,
    PetSpec,
    RefusalReason,
)
from connect_events.lists import SYSTEM_SUFFIX
from connect_events.tables import ColumnAddedPayload, ListDefinedPayload, PetDefinedPayload
from connect_events.values import identifier_problem
from connect_runtime.messages import Causation
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.rejection import Rejected, invalid
from connect_scheduler.domain.tables import column_errors, columns_errors, identifier_errors, table_key

Spec = TypeVar("Spec", ListSpec, PetSpec)
SYSTEM_NAMES = frozenset(column.name.lower() for column in SYSTEM_COLUMNS)


@dataclass(frozen=True)
class Defined(Generic[Spec]):
    """A defined list or PET and its aggregate version (1, plus one per column added)."""

    spec: Spec
    version: int = 1

    def with_column(self, column: ColumnSpec) -> Defined[Spec]:
        """The list or PET after `column` was added."""
        return Defined(self.spec.model_copy(update={"columns": (*self.spec.columns, column)}), self.version + 1)


def fold_list(events: Iterable[Event]) -> Defined[ListSpec] | None:
    """The list after its stream's events (None: never defined)."""
    state: Defined[ListSpec] | None = None
    for event in events:
        if isinstance(event, ListDefined) and state is None:
            state = Defined(event.payload.list)
        elif isinstance(event, ListColumnAdded) and state is not None:
            state = state.with_column(event.payload.column)
        else:
            raise TypeError(f"a list stream cannot hold {type(event).__name__} here")
    return state


def fold_pet(events: Iterable[Event]) -> Defined[PetSpec] | None:
    """The PET after its stream's events (None: never defined)."""
    state: Defined[PetSpec] | None = None
    for event in events:
        if isinstance(event, PetDefined) and state is None:
            state = Defined(event.payload.pet)
        elif isinstance(event, PetColumnAdded) and state is not None:
            state = state.with_column(event.payload.column)
        else:
            raise TypeError(f"a PET stream cannot hold {type(event).__name__} here")
    return state


def decide_define_list(state: Defined[ListSpec] | None, cmd: DefineList, causation: Causation) -> list[Event]:
    """Define a new list, or refuse: `conflict` when one of that name exists, `validation` listing every error."""
    spec = cmd.payload.list
    if state is not None:
        raise Rejected("conflict", f"a list named {state.spec.name} already exists", reason="LIST_EXISTS")
    errors = identifier_errors("list.name", spec.name) + custom_columns_errors("list.columns", spec.columns)
    if errors:
        raise invalid(f"{label('list', spec.name)} has {len(errors)} error(s)", errors)
    return [ListDefined(**envelope(causation, 0, table_key(spec.name), 1), payload=ListDefinedPayload(list=spec))]


def decide_define_pet(
    state: Defined[PetSpec] | None, parent: Defined[ListSpec] | None, cmd: DefinePet, causation: Causation
) -> list[Event]:
    """Define a new PET of the list `parent` (None: no such list), or refuse: `conflict` when one of that name
    exists, `validation` listing every error (`LIST_NOT_FOUND` when the list is one of them).

    The event names the list as it was defined, whatever case the command used, so every reader finds it.
    """
    spec = cmd.payload.pet
    if state is not None:
        raise Rejected("conflict", f"a PET named {state.spec.name} already exists", reason="PET_EXISTS")
    errors = identifier_errors("pet.name", spec.name)
    if not spec.columns:
        errors.append(FieldError(field="pet.columns", message="a PET needs at least one column"))
    errors += custom_columns_errors("pet.columns", spec.columns)
    if parent is None:
        errors.append(FieldError(field="pet.list_name", message=f"{label('list', spec.list_name)} does not exist"))
    if errors:
        reason: RefusalReason = "LIST_NOT_FOUND" if parent is None else "INVALID_VALUE"
        raise invalid(f"{label('PET', spec.name)} has {len(errors)} error(s)", errors, reason)
    assert parent is not None
    defined = spec.model_copy(update={"list_name": parent.spec.name})
    return [PetDefined(**envelope(causation, 0, table_key(spec.name), 1), payload=PetDefinedPayload(pet=defined))]


def decide_add_list_column(state: Defined[ListSpec] | None, cmd: AddListColumn, causation: Causation) -> list[Event]:
    """Add a custom column to a list (`not_found`, `conflict` for a name it has, `validation`)."""
    if state is None:
        raise Rejected("not_found", f"{label('list', cmd.payload.name)} does not exist", reason="LIST_NOT_FOUND")
    return _column_added(ListColumnAdded, "list", state, cmd.payload.column, causation)


def decide_add_pet_column(state: Defined[PetSpec] | None, cmd: AddPetColumn, causation: Causation) -> list[Event]:
    """Add a column to a PET (`not_found`, `conflict` for a name it has, `validation`)."""
    if state is None:
        raise Rejected("not_found", f"{label('PET', cmd.payload.name)} does not exist", reason="PET_NOT_FOUND")
    return _column_added(PetColumnAdded, "PET", state, cmd.payload.column, causation)


def _column_added(
    event_type: type[ListColumnAdded] | type[PetColumnAdded],
    kind: str,
    state: Defined[ListSpec] | Defined[PetSpec],
    column: ColumnSpec,
    causation: Causation,
) -> list[Event]:
    """The column added to the list or PET `state`; a name it has (a system column too) is a conflict."""
    name = state.spec.name
    if (existing := state.spec.as_table().column(column.name)) is not None:
        message = f"{kind} {name} already has a column {existing.name}"
        raise Rejected("conflict", message, reason="COLUMN_EXISTS")
    if errors := custom_column_errors("column", column):
        raise invalid(f"the column for {kind} {name} has {len(errors)} error(s)", errors)
    payload = ColumnAddedPayload(name=name, column=column)
    return [event_type(**envelope(causation, 0, table_key(name), state.version + 1), payload=payload)]


def custom_columns_errors(field: str, columns: tuple[ColumnSpec, ...]) -> list[FieldError]:
    """The column rules of custom tables, and custom names that do not end with `_` (system names do)."""
    errors = columns_errors(field, columns)
    for i, column in enumerate(columns):
        errors += _system_name_errors(f"{field}[{i}].name", column.name)
    return errors


def custom_column_errors(field: str, column: ColumnSpec) -> list[FieldError]:
    """One custom column's rules (`custom_columns_errors`)."""
    return column_errors(field, column) + _system_name_errors(f"{field}.name", column.name)


def _system_name_errors(field: str, name: str) -> list[FieldError]:
    if identifier_problem(name) is not None or not name.endswith(SYSTEM_SUFFIX):
        return []  # a name that is no identifier has that error only
    if name.lower() in SYSTEM_NAMES:
        return [FieldError(field=field, message=f"{name} is a system column")]
    return [FieldError(field=field, message=f"must not end with {SYSTEM_SUFFIX} (system column names do)")]


def label(kind: str, name: str) -> str:
    """How messages name a list or PET: by its name when that is an identifier (so printable), else by kind."""
    return f"{kind} {name}" if identifier_problem(name) is None else f"the {kind}"
