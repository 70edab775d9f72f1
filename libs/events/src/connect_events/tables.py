"""Events of the audience store's objects (topic `connect.tables`): custom tables, profile lists, PETs and
audiences (`connect_events.audiences`), each keyed by its lower-cased name."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from connect_events.audiences import AudienceDefined, AudienceDeleted, AudienceUpdated
from connect_events.definitions import ColumnSpec, TableSpec
from connect_events.envelope import Event, Payload
from connect_events.lists import ListSpec, PetSpec

TABLES_TOPIC = "connect.tables"


class TableDefinedPayload(Payload):
    """The table's definition."""

    table: TableSpec


class TableEvent(Event):
    """Base of table events."""

    TOPIC: ClassVar[str] = TABLES_TOPIC
    aggregate_type: Literal["table"] = "table"


class TableDefined(TableEvent):
    """A custom table was defined in the audience store."""

    type: Literal["table.defined"] = "table.defined"
    schema_version: Literal[1] = 1
    payload: TableDefinedPayload


class ListDefinedPayload(Payload):
    """The list's definition."""

    list: ListSpec


class PetDefinedPayload(Payload):
    """The PET's definition."""

    pet: PetSpec


class ColumnAddedPayload(Payload):
    """A column added to the list or PET `name` (nullable; existing rows hold NULL in it)."""

    name: str
    column: ColumnSpec


class ListEvent(Event):
    """Base of list events (topic `connect.tables`, keyed by the lower-cased list name)."""

    TOPIC: ClassVar[str] = TABLES_TOPIC
    aggregate_type: Literal["list"] = "list"


class PetEvent(Event):
    """Base of PET events (topic `connect.tables`, keyed by the lower-cased PET name)."""

    TOPIC: ClassVar[str] = TABLES_TOPIC
    aggregate_type: Literal["pet"] = "pet"


class ListDefined(ListEvent):
    """A profile list was defined."""

    type: Literal["list.defined"] = "list.defined"
    schema_version: Literal[1] = 1
    payload: ListDefinedPayload


class ListColumnAdded(ListEvent):
    """A custom column was added to a list."""

    type: Literal["list.column_added"] = "list.column_added"
    schema_version: Literal[1] = 1
    payload: ColumnAddedPayload


class PetDefined(PetEvent):
    """A PET was defined for a list."""

    type: Literal["pet.defined"] = "pet.defined"
    schema_version: Literal[1] = 1
    payload: PetDefinedPayload


class PetColumnAdded(PetEvent):
    """A column was added to a PET."""

    type: Literal["pet.column_added"] = "pet.column_added"
    schema_version: Literal[1] = 1
    payload: ColumnAddedPayload


AnyTableEvent = Annotated[
    TableDefined
    | ListDefined
    | ListColumnAdded
    | PetDefined
    | PetColumnAdded
    | AudienceDefined
    | AudienceUpdated
    | AudienceDeleted,
    Field(discriminator="type"),
]
