"""Records on the commands topic that are not commands: which of them someone may be waiting for.

A record that does not decode as a command cannot be decided, but when its JSON still names a command id,
the producer that sent it may be waiting for that command's reply (the gateway answers "pending" and points
at `/api/v1/commands/{id}`). Such a record is refused with a `malformed` reply naming the fields that are
wrong, never their values (a value may be long, binary or secret). A record without a readable command id
has nobody to answer; it goes to the dead-letter topic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from connect_events import COMMANDS_TOPIC, FieldError, message_classes
from connect_events.values import control_problem
from connect_scheduler.domain.envelope import occurred_at

UNKNOWN = "unknown"
MAX_ACTOR_LENGTH = 200
MAX_FIELD_ERRORS = 50  # a reply names at most this many fields; the message says how many there are
MAX_FIELDS_IN_MESSAGE = 3
NOT_JSON = "it is not well-formed JSON in UTF-8 (a broken escape, an unpaired surrogate or a byte that is not UTF-8)"

COMMAND_TYPES: frozenset[str] = frozenset(cls.model_fields["type"].default for cls in message_classes(COMMANDS_TOPIC))

# pydantic's error types (by prefix) in our own words: its messages may quote the rejected input.
_EXPLANATIONS: tuple[tuple[str, str], ...] = (
    ("missing", "is required"),
    ("union_tag_invalid", "is not a command type the scheduler knows"),
    ("union_tag_not_found", "is required: it names the command type"),
    ("uuid", "must be a UUID"),
    ("int", "must be an integer"),
    ("float", "must be a number"),
    ("decimal", "must be a number"),
    ("bool", "must be true or false"),
    ("string_too", "has a length out of range"),
    ("string_pattern", "does not have the required form"),
    ("string", "must be text"),
    ("datetime", "must be a date and time (ISO 8601)"),
    ("timezone", "must be a date and time with a time zone"),
    ("date", "must be a date"),
    ("literal_error", "is not one of the allowed values"),
    ("enum", "is not one of the allowed values"),
    ("model", "must be an object"),
    ("dict", "must be an object"),
    ("tuple", "must be an array"),
    ("list", "must be an array"),
    ("greater_than", "is too small"),
    ("less_than", "is too large"),
    ("too_", "has a length out of range"),
)
NOT_VALID = "is not valid"
# A nested union's tag (`schedule.kind`, `settings.source.kind`) is a field like any other.
_NESTED_TAG = {"union_tag_invalid": "is not one of the allowed values", "union_tag_not_found": "is required"}


@dataclass(frozen=True)
class MalformedCommand:
    """What a refusal of an undecodable record needs: whom to answer, and what is wrong."""

    command_id: UUID
    command_type: str
    actor: str
    correlation_id: UUID
    issued_at: datetime
    message: str
    errors: tuple[FieldError, ...]


def identify_malformed(value: bytes, error: ValidationError, received_at: datetime) -> MalformedCommand | None:
    """The command an undecodable record names, or None when it names none (no readable `command_id`).

    `received_at` (the record's timestamp) stands in for an unreadable `issued_at`, so that handling the
    same record again builds the same reply.
    """
    fields = _json_object(value)
    command_id = _uuid(fields.get("command_id")) if fields is not None else None
    if fields is None or command_id is None:
        return None
    command_type = fields.get("type")
    tag = command_type if isinstance(command_type, str) and command_type in COMMAND_TYPES else None
    errors = field_errors(error.errors(include_url=False, include_input=False), tag, fields)
    return MalformedCommand(
        command_id=command_id,
        command_type=tag or UNKNOWN,
        actor=_actor(fields.get("actor")),
        correlation_id=_uuid(fields.get("correlation_id")) or command_id,
        issued_at=occurred_at(_aware(fields.get("issued_at")) or received_at, fallback=received_at),
        message=describe(errors),
        errors=errors[:MAX_FIELD_ERRORS],
    )


def field_errors(details: Sequence[ErrorDetails], tag: str | None, body: object) -> tuple[FieldError, ...]:
    """One error per failing field, as a dotted path into the command (`payload.definition.name`); `body` is
    the command's JSON, which tells the fields of a path from the tags of nested unions (`schedule`, `source`)."""
    errors: dict[str, FieldError] = {}
    for detail in details:
        kind = detail["type"]
        loc = tuple(detail["loc"])
        if tag is not None and loc[:1] == (tag,):  # a union member's errors start with its tag
            loc = loc[1:]
        if not loc and kind.startswith("union_tag"):
            field, message = "type", explain(kind)
        elif kind.startswith("union_tag"):  # a nested union's `kind` is missing or unknown
            field, message = path((*_fields_of(loc, body), "kind")), _NESTED_TAG.get(kind, NOT_VALID)
        else:
            field, message = path(_fields_of(loc, body)), explain(kind)
        if field and field not in errors:
            errors[field] = FieldError(field=field, message=message)
    return tuple(errors.values())


def _fields_of(loc: Sequence[int | str], body: object) -> tuple[int | str, ...]:
    """`loc` without the tags pydantic inserts after a nested union (`schedule`, `daily`, `time`): a name that is
    not a key of the object at hand is a tag, unless it is the last (a missing field), or a scalar stands there."""
    kept: list[int | str] = []
    node = body
    for i, part in enumerate(loc):
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and i == len(loc) - 1:
            pass  # a missing field
        else:
            continue  # a tag: the same object goes on
        kept.append(part)
    return tuple(kept)


def path(loc: Sequence[int | str]) -> str:
    """`("payload", "mapping", 2, "target")` as `payload.mapping[2].target`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text


def explain(kind: str) -> str:
    """A pydantic error type in plain words, without the input it was about."""
    return next((words for prefix, words in _EXPLANATIONS if kind.startswith(prefix)), NOT_VALID)


def describe(errors: Sequence[FieldError]) -> str:
    """The refusal's sentence: what is wrong, naming at most a few fields."""
    if not errors:
        return f"the command could not be read: {NOT_JSON}"
    named = "; ".join(f"{e.field} {e.message}" for e in errors[:MAX_FIELDS_IN_MESSAGE])
    more = len(errors) - MAX_FIELDS_IN_MESSAGE
    return f"the command could not be read: {named}" + (f"; and {more} more" if more > 0 else "")


def _json_object(value: bytes) -> Mapping[str, Any] | None:
    # Lenient on purpose: the decoder refused the record, and anything readable here helps someone waiting.
    try:
        data = json.loads(value.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _uuid(value: object) -> UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def _actor(value: object) -> str:
    """The actor for the reply's envelope, if it is a short, printable text (it is copied, not shown)."""
    if isinstance(value, str) and value and len(value) <= MAX_ACTOR_LENGTH and control_problem(value) is None:
        return value
    return UNKNOWN


def _aware(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
