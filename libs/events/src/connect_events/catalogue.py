"""The catalogue: which messages travel on which topic, and how to encode and decode them."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, get_args

from pydantic import TypeAdapter

from connect_events.commands import COMMANDS_TOPIC, REPLIES_TOPIC, AnyCommand, AnyReply
from connect_events.envelope import Command, Event, Message
from connect_events.groups import GROUPS_TOPIC, AnyGroupEvent
from connect_events.identity import IDENTITY_TOPIC, AnyUserEvent
from connect_events.jobs import JOBS_TOPIC, AnyJobEvent
from connect_events.runs import RUNS_TOPIC, AnyRunEvent
from connect_events.tables import TABLES_TOPIC, AnyTableEvent

# One discriminated union per topic; a consumer decodes a whole topic with one adapter.
TOPIC_UNIONS: dict[str, Any] = {
    COMMANDS_TOPIC: AnyCommand,
    REPLIES_TOPIC: AnyReply,
    JOBS_TOPIC: AnyJobEvent,
    TABLES_TOPIC: AnyTableEvent,
    RUNS_TOPIC: AnyRunEvent,
    GROUPS_TOPIC: AnyGroupEvent,
    IDENTITY_TOPIC: AnyUserEvent,
}

EVENT_TOPICS: tuple[str, ...] = (JOBS_TOPIC, TABLES_TOPIC, RUNS_TOPIC, GROUPS_TOPIC, REPLIES_TOPIC, IDENTITY_TOPIC)
ALL_TOPICS: tuple[str, ...] = (COMMANDS_TOPIC, *EVENT_TOPICS)

_ADAPTERS: dict[str, TypeAdapter[Any]] = {topic: TypeAdapter(union) for topic, union in TOPIC_UNIONS.items()}


# The wire forms of the messages encoded last, by object identity (each entry holds its message, so its id
# stays its own): an event is encoded for its stream and again for the outbox, often in one batch of hundreds.
RECENT_ENCODINGS = 1024
_recent: OrderedDict[int, tuple[Message, bytes]] = OrderedDict()


class UnknownTopicError(KeyError):
    """The topic is not part of Connect's contract."""


def encode(message: Message) -> bytes:
    """The wire form of a message: UTF-8 JSON. Messages are frozen: the same object encoded again recently
    gets the bytes of the first time."""
    recent = _recent.get(id(message))
    if recent is not None and recent[0] is message:
        return recent[1]
    data = message.model_dump_json().encode()
    _recent[id(message)] = (message, data)
    while len(_recent) > RECENT_ENCODINGS:
        _recent.popitem(last=False)
    return data


def decode(topic: str, data: bytes) -> Event | Command:
    """Decode one record of `topic` with that topic's union; raises pydantic's ValidationError."""
    try:
        adapter = _ADAPTERS[topic]
    except KeyError as exc:
        raise UnknownTopicError(topic) from exc
    message: Event | Command = adapter.validate_json(data)
    return message


def message_classes(topic: str) -> tuple[type[Message], ...]:
    """The concrete classes a topic carries, in union order."""
    inner = get_args(TOPIC_UNIONS[topic])[0]  # Annotated[Union[...], discriminator] -> Union[...]
    return get_args(inner) or (inner,)
