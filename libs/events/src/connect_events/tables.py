"""Table events (topic `connect.tables`, keyed by the lower-cased table name)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from connect_events.definitions import TableSpec
from connect_events.envelope import Event, Payload

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


# A one-member union still decodes by `type`, so adding `table.altered` later is additive.
AnyTableEvent = Annotated[TableDefined, Field(discriminator="type")]
