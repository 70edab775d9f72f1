"""The one envelope every event and command travels in.

Wire names (`type`) and `schema_version` are stable strings and numbers that never depend on the Python
class name, so classes can be renamed without breaking downstream consumers.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Message(BaseModel):
    """Base of everything that crosses Kafka: frozen; fields it does not know are ignored.

    Ignoring unknown fields is what lets the contract grow additively: a consumer deployed before a new
    optional field existed still reads the messages that carry it.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")


class Payload(Message):
    """Base of event and command payloads."""


class FieldError(Message):
    """One validation problem, naming the field it is about (dotted path, e.g. `mapping[2].target`)."""

    field: str
    message: str


class Event(Message):
    """Envelope of a fact that happened to one aggregate.

    Subclasses pin `type` and `schema_version` with `Literal` and add a typed `payload`.
    """

    TOPIC: ClassVar[str] = ""

    event_id: UUID
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    actor: str
    correlation_id: UUID
    causation_id: UUID | None = None

    @property
    def partition_key(self) -> str:
        """Kafka key; the aggregate id unless an event family keys by a parent aggregate."""
        return self.aggregate_id


class Command(Message):
    """Envelope of a request to change one aggregate; the scheduler accepts or rejects it."""

    command_id: UUID
    issued_at: datetime
    actor: str
    correlation_id: UUID

    @property
    def partition_key(self) -> str:
        """Kafka key: the target aggregate, so commands for one aggregate are handled in order."""
        return "new"
