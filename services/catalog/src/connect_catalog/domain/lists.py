"""Projection rules for profile lists and PETs (ADR 0011): one row each, its custom columns growing one
`column_added` at a time (a list's system columns are `connect_events.SYSTEM_COLUMNS`, never stored); and for
audiences: one row each, replaced whole by each definition, removed when deleted."""

from __future__ import annotations

import json

from connect_catalog.domain.changes import AddColumn, Change, InsertList, InsertPet, PutAudience, RemoveAudience
from connect_events import (
    AudienceDefined,
    AudienceDeleted,
    AudienceEvent,
    AudienceUpdated,
    ColumnSpec,
    ListColumnAdded,
    ListDefined,
    ListEvent,
    PetColumnAdded,
    PetDefined,
    PetEvent,
)


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


def project_audience(event: AudienceEvent) -> tuple[Change, ...]:
    """A definition or an update puts the audience's row, at the event's version; a deletion removes it."""
    match event:
        case AudienceDefined(payload=p) | AudienceUpdated(payload=p):
            spec = p.audience
            version, at, by = event.aggregate_version, event.occurred_at, event.actor
            return (PutAudience(spec.name, spec.list_name, spec.model_dump_json(), version, at, by),)
        case AudienceDeleted(payload=p):
            return (RemoveAudience(p.name, event.aggregate_version),)
    return ()


def _columns_json(columns: tuple[ColumnSpec, ...]) -> str:
    return json.dumps([column.model_dump(mode="json") for column in columns])
