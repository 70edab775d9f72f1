"""Projection rules for profile lists and PETs (ADR 0011): one row each, its custom columns growing one
`column_added` at a time (a list's system columns are `connect_events.SYSTEM_COLUMNS`, never stored)."""

from __future__ import annotations

import json

from connect_catalog.domain.changes import AddColumn, Change, InsertList, InsertPet
from connect_events import ColumnSpec, ListColumnAdded, ListDefined, ListEvent, PetColumnAdded, PetDefined, PetEvent


def project_list(event: ListEvent | PetEvent) -> tuple[Change, ...]:
    """A definition inserts the row; an added column joins its columns, at the event's version."""
    match event:
        case ListDefined(payload=p):
            return (InsertList(p.list.name, _columns_json(p.list.columns), event.occurred_at, event.actor),)
        case PetDefined(payload=p):
            columns = _columns_json(p.pet.columns)
            return (InsertPet(p.pet.name, p.pet.list_name, columns, event.occurred_at, event.actor),)
        case ListColumnAdded(payload=p):
            return (AddColumn("list", p.name, p.column.model_dump_json(), event.aggregate_version, event.occurred_at),)
        case PetColumnAdded(payload=p):
            return (AddColumn("pet", p.name, p.column.model_dump_json(), event.aggregate_version, event.occurred_at),)
    return ()


def _columns_json(columns: tuple[ColumnSpec, ...]) -> str:
    return json.dumps([column.model_dump(mode="json") for column in columns])
