"""Audiences (spec §1): saved filters over a profile list, optionally joined with its PETs, and the ordered
columns an export of them writes.

A column is named by `ColumnRef`: a column of the list (`pet` is None) or of one of the audience's PETs. A PET
joins on `RIID_`, left outer: a list row without a PET row has NULL in every column of that PET. Conditions
compare a column with values written as text and read by the column's type (`values` as for a file: numbers
with `.`, dates `YYYY-MM-DD`, timestamps `YYYY-MM-DD HH:MM:SS`, booleans `true`/`false`); groups combine
conditions and other groups with AND (`all`) or OR (`any`).

| operator | values | true when the column's value … |
|---|---|---|
| `equals`, `not_equals` | 1 | is (is not) the value; `not_equals` is also true for NULL |
| `in` | 1 or more | is one of the values |
| `contains`, `starts_with` | 1 (text columns) | contains (starts with) the value, ignoring case |
| `is_empty`, `is_not_empty` | none | is NULL or blank text (is neither) |
| `greater_than`, `less_than` | 1 | is greater (less) than the value |
| `between` | 2 | lies between the two values, both included |
| `in_last_days` | 1 whole number N ≥ 1 (date and timestamp columns) | falls within the last N days (today counts) |

These are data: `connect_runtime.audiences` checks a definition against the list and PET definitions and
compiles it to parameterised SQL (the only place user-given names meet SQL, always quoted from the
definitions, never spliced from the input).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from connect_events.envelope import Command, Event, Message, Payload

Operator = Literal[
    "equals",
    "not_equals",
    "in",
    "contains",
    "starts_with",
    "is_empty",
    "is_not_empty",
    "greater_than",
    "less_than",
    "between",
    "in_last_days",
]


class ColumnRef(Message):
    """A column of the audience's list (`pet` None) or of one of its PETs."""

    column: str
    pet: str | None = None


class Condition(Message):
    """One test of a column's value (see the module's table for each operator's values)."""

    kind: Literal["condition"] = "condition"
    column: ColumnRef
    operator: Operator
    values: tuple[str, ...] = ()


class ConditionGroup(Message):
    """Conditions and groups combined: all of them must hold (`all`, AND) or any one (`any`, OR)."""

    kind: Literal["group"] = "group"
    match: Literal["all", "any"] = "all"
    conditions: tuple[Annotated[Condition | ConditionGroup, Field(discriminator="kind")], ...] = Field(min_length=1)


ConditionGroup.model_rebuild()


class AudienceSpec(Message):
    """An audience: its list, the PETs it joins, its filter (None: every row of the list) and the columns an
    export writes, in order."""

    name: str
    list_name: str
    pets: tuple[str, ...] = ()
    filter: ConditionGroup | None = None
    columns: tuple[ColumnRef, ...]


# Commands (topic `connect.commands`, keyed by the lower-cased audience name).


class AudiencePayload(Payload):
    """The audience's whole definition."""

    audience: AudienceSpec


class AudienceNamePayload(Payload):
    """The audience's name."""

    name: str


class _WholeAudienceCommand(Command):
    payload: AudiencePayload

    @property
    def partition_key(self) -> str:
        """The lower-cased audience name."""
        return self.payload.audience.name.lower()


class DefineAudience(_WholeAudienceCommand):
    """Define an audience (its name must be new)."""

    type: Literal["audience.define"] = "audience.define"
    schema_version: Literal[1] = 1


class UpdateAudience(_WholeAudienceCommand):
    """Replace an audience's PETs, filter and columns (its name and list stay)."""

    type: Literal["audience.update"] = "audience.update"
    schema_version: Literal[1] = 1


class DeleteAudience(Command):
    """Delete an audience; export jobs naming it fail their validation from then on."""

    type: Literal["audience.delete"] = "audience.delete"
    schema_version: Literal[1] = 1
    payload: AudienceNamePayload

    @property
    def partition_key(self) -> str:
        """The lower-cased audience name."""
        return self.payload.name.lower()


# Events (topic `connect.tables`, keyed by the lower-cased audience name).


class AudienceEvent(Event):
    """Base of audience events."""

    TOPIC: ClassVar[str] = "connect.tables"  # `tables.TABLES_TOPIC`, which gathers these events
    aggregate_type: Literal["audience"] = "audience"


class AudienceDefined(AudienceEvent):
    """An audience was defined."""

    type: Literal["audience.defined"] = "audience.defined"
    schema_version: Literal[1] = 1
    payload: AudiencePayload


class AudienceUpdated(AudienceEvent):
    """An audience's definition was replaced (the payload holds the whole new one)."""

    type: Literal["audience.updated"] = "audience.updated"
    schema_version: Literal[1] = 1
    payload: AudiencePayload


class AudienceDeleted(AudienceEvent):
    """An audience was deleted."""

    type: Literal["audience.deleted"] = "audience.deleted"
    schema_version: Literal[1] = 1
    payload: AudienceNamePayload
