"""Run requests this runner cannot decode (e.g. a newer `schema_version`): their runs must still end.

Dead-lettering such a record alone would leave its run without a terminal event forever. When the record
still says it is a run request and names its run, the runner fails that run instead, with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeGuard
from uuid import UUID, uuid5

from pydantic import ValidationError

from connect_events import run_key
from connect_runner.domain.events import RunNumbers

REQUEST_TYPE = "run.requested"
ERROR_PREFIX = "this runner cannot read the run request: "
MAX_PROBLEMS = 3
# Derives stand-in ids when the record's own are unreadable; fixed, so every redelivery derives the same ones.
FALLBACK_NAMESPACE = UUID("5f0b7c1e-7d43-4f6e-9a55-1c2b8e0f4a21")


@dataclass(frozen=True)
class UnreadableRequest:
    """The readable part of an undecodable run request: enough to fail its run (a `RunOrigin`)."""

    event_id: UUID
    aggregate_id: str
    correlation_id: UUID
    payload: RunNumbers
    problem: str

    @property
    def error(self) -> str:
        """The failure message shown to users."""
        return ERROR_PREFIX + self.problem


def identify(raw: bytes, error: Exception) -> UnreadableRequest | None:
    """The run an undecodable record requests; None unless it is a run request naming a consistent run."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") != REQUEST_TYPE:
        return None
    payload = data.get("payload")
    aggregate_id = data.get("aggregate_id")
    if not isinstance(payload, dict):
        return None
    job_id, run_id = payload.get("job_id"), payload.get("run_id")
    if not (_is_id(job_id) and _is_id(run_id)) or aggregate_id != run_key(job_id, run_id):
        return None
    event_id = _uuid(data.get("event_id")) or uuid5(FALLBACK_NAMESPACE, aggregate_id)
    return UnreadableRequest(
        event_id=event_id,
        aggregate_id=aggregate_id,
        correlation_id=_uuid(data.get("correlation_id")) or event_id,
        payload=RunNumbers(job_id=job_id, run_id=run_id),
        problem=summarize(error),
    )


def summarize(error: Exception) -> str:
    """A short account of why decoding failed: field paths and the kind of each problem in the runner's own
    words, never the offending values nor a library's message."""
    if not isinstance(error, ValidationError):
        return NOT_A_REQUEST
    problems = [_problem(e["loc"], e["type"]) for e in error.errors(include_url=False, include_input=False)]
    more = len(problems) - MAX_PROBLEMS
    text = "; ".join(problems[:MAX_PROBLEMS])
    return f"{text} (and {more} more)" if more > 0 else text


NOT_A_REQUEST = "it matches no message this runner knows"
# pydantic's error types (stable identifiers, unlike its messages) in words; anything else is "not valid".
PROBLEM_WORDS = {
    "missing": "missing",
    "extra_forbidden": "not a field this runner knows",
    "literal_error": "not a value this runner knows",
    "enum": "not a value this runner knows",
    "union_tag_invalid": "not a kind this runner knows",
    "union_tag_not_found": "no kind given",
    "int_type": "not a whole number",
    "int_parsing": "not a whole number",
    "int_from_float": "not a whole number",
    "string_type": "not text",
    "bool_type": "not true or false",
    "bool_parsing": "not true or false",
    "uuid_type": "not a UUID",
    "uuid_parsing": "not a UUID",
    "datetime_type": "not a date and time",
    "datetime_parsing": "not a date and time",
    "datetime_from_date_parsing": "not a date and time",
    "string_too_long": "too long",
    "string_too_short": "too short",
    "too_long": "too long",
    "too_short": "too short",
    "greater_than": "out of range",
    "greater_than_equal": "out of range",
    "less_than": "out of range",
    "less_than_equal": "out of range",
}
NOT_VALID = "not valid"


def _problem(loc: tuple[int | str, ...], kind: str) -> str:
    # The union's discriminator value leads every path (`run.requested.payload...`); it says nothing new.
    path = [_printable(str(part)) for part in loc if part != REQUEST_TYPE]
    words = PROBLEM_WORDS.get(kind, NOT_VALID)
    return f"{'.'.join(path)}: {words}" if path else words


def _printable(part: str) -> str:
    """A field name from the record as it may be shown: no control characters (NUL included), not too long."""
    shown = "".join(c if c.isprintable() else "?" for c in part[:MAX_PART_CHARS])
    return shown + "…" if len(part) > MAX_PART_CHARS else shown


MAX_PART_CHARS = 64


def _is_id(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None
