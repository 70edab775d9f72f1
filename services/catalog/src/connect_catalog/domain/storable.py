"""Text PostgreSQL cannot store, made storable on the way into the read models.

The catalog stores every event and every reply it is given (invariant 2: each is applied exactly once). A
text holding NUL, or an unpaired surrogate, cannot be stored in a `text` or `jsonb` column, and refusing
the event would dead-letter it: a refusal would then never reach `/api/v1/commands/{id}`, whose caller
waits for it. So such characters are replaced with U+FFFD (the replacement character, which says that
something unreadable stood there) before the projection turns the event into rows.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from connect_events.values import storable_problem, storable_text

M = TypeVar("M", bound=BaseModel)


def storable(message: M) -> M:
    """`message` with every text in it made storable; the message itself when all of it already is."""
    if not _needs_repair(message):
        return message
    return type(message).model_validate(_repaired(message.model_dump()))


def _needs_repair(value: object) -> bool:
    if isinstance(value, str):
        return storable_problem(value) is not None
    if isinstance(value, BaseModel):
        return any(_needs_repair(getattr(value, name)) for name in type(value).model_fields)
    if isinstance(value, (tuple, list)):
        return any(_needs_repair(item) for item in value)
    if isinstance(value, dict):
        return any(_needs_repair(k) or _needs_repair(v) for k, v in value.items())
    return False


def _repaired(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_repaired(item) for item in value)
    if isinstance(value, dict):
        return {_repaired(k): _repaired(v) for k, v in value.items()}
    return value
