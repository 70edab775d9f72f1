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

REQUEST_TYPE = "run.requested"
ERROR_PREFIX = "this runner cannot read the run request: "
MAX_PROBLEMS = 3
# Derives stand-in ids when the record's own are unreadable; fixed, so every redelivery derives the same ones.
FALLBACK_NAMESPACE = UUID("5f0b7c1e-7d43-4f6e-9a55-1c2b8e0f4a21")


@dataclass(frozen=True)
class RunNumbers:
    """Job and run id, read from the record's payload."""

    job_id: int
    run_id: int


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
    """A short account of why decoding failed: field paths and messages, never the offending values."""
    if not isinstance(error, ValidationError):
        return type(error).__name__
    problems = [_problem(e["loc"], e["msg"]) for e in error.errors(include_url=False, include_input=False)]
    more = len(problems) - MAX_PROBLEMS
    text = "; ".join(problems[:MAX_PROBLEMS])
    return f"{text} (and {more} more)" if more > 0 else text


def _problem(loc: tuple[int | str, ...], message: str) -> str:
    # The union's discriminator value leads every path (`run.requested.payload...`); it says nothing new.
    path = [str(part) for part in loc if part != REQUEST_TYPE]
    return f"{'.'.join(path)}: {message}" if path else message


def _is_id(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None
