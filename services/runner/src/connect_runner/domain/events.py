"""The runner's events for one run: envelopes derived from the request, so retries reproduce them exactly.

Versions come from the run's ledger (`run_attempts.next_seq`): the request is version 1, the runner's events
follow 2, 3, … across attempts and restarts. Event ids are `uuid5(request id, version)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypedDict
from uuid import UUID

from connect_events import (
    FailureCode,
    LogLevel,
    RunAttemptFailed,
    RunAttemptFailedPayload,
    RunCounts,
    RunEndedPayload,
    RunFailed,
    RunFailedPayload,
    RunLogged,
    RunLoggedPayload,
    RunProgressed,
    RunProgressedPayload,
    RunStarted,
    RunStartedPayload,
    RunStopped,
    RunSucceeded,
)
from connect_events.values import storable_text
from connect_runtime.messages import Causation

ACTOR = "runner"
MAX_ERROR_CHARS = 2000


class RunIds(Protocol):
    """The run's numbers, as a request's payload carries them."""

    @property
    def job_id(self) -> int: ...

    @property
    def run_id(self) -> int: ...


class RunOrigin(Protocol):
    """What the runner's events derive from: a `RunRequested`, or the readable part of one it cannot decode."""

    @property
    def event_id(self) -> UUID: ...

    @property
    def aggregate_id(self) -> str: ...

    @property
    def correlation_id(self) -> UUID: ...

    @property
    def payload(self) -> RunIds: ...


@dataclass(frozen=True)
class RunNumbers:
    """Job and run id (`RunIds`)."""

    job_id: int
    run_id: int


@dataclass(frozen=True)
class Origin:
    """A `RunOrigin` as a plain value: the run and the ids of the request its events derive from."""

    event_id: UUID
    aggregate_id: str
    correlation_id: UUID
    payload: RunNumbers

    @classmethod
    def of(cls, origin: RunOrigin) -> Origin:
        """The value of any `RunOrigin` (a `RunRequested`, an unreadable request)."""
        numbers = RunNumbers(job_id=origin.payload.job_id, run_id=origin.payload.run_id)
        return cls(origin.event_id, origin.aggregate_id, origin.correlation_id, numbers)


class _Envelope(TypedDict):
    event_id: UUID
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    actor: str
    correlation_id: UUID
    causation_id: UUID


def _envelope(request: RunOrigin, version: int, now: datetime) -> _Envelope:
    causation = Causation(
        actor=ACTOR, correlation_id=request.correlation_id, causation_id=request.event_id, occurred_at=now
    )
    return _Envelope(
        event_id=causation.event_id(version),
        aggregate_id=request.aggregate_id,
        aggregate_version=version,
        occurred_at=causation.occurred_at,
        actor=causation.actor,
        correlation_id=causation.correlation_id,
        causation_id=causation.causation_id,
    )


def run_started(request: RunOrigin, version: int, attempt: int, runner: str, now: datetime) -> RunStarted:
    """This attempt began on `runner`."""
    payload = RunStartedPayload(
        job_id=request.payload.job_id, run_id=request.payload.run_id, attempt=attempt, runner=runner, started_at=now
    )
    return RunStarted(**_envelope(request, version, now), payload=payload)


def run_progressed(
    request: RunOrigin,
    version: int,
    now: datetime,
    *,
    stage: str,
    rows_read: int,
    bytes_done: int,
    total_bytes: int | None,
) -> RunProgressed:
    """How far the attempt got."""
    payload = RunProgressedPayload(
        job_id=request.payload.job_id,
        run_id=request.payload.run_id,
        rows_read=rows_read,
        bytes_transferred=bytes_done,
        total_bytes=total_bytes,
        stage=stage,
    )
    return RunProgressed(**_envelope(request, version, now), payload=payload)


@dataclass(frozen=True)
class LogEntry:
    """One execution-log entry as a stage ends (`run.logged` once recorded)."""

    stage: str
    message: str
    level: LogLevel = "INFO"
    details: dict[str, int | str] = field(default_factory=dict)


def run_logged(request: RunOrigin, version: int, attempt: int, now: datetime, entry: LogEntry) -> RunLogged:
    """Attempt `attempt` ended a stage (`entry`)."""
    payload = RunLoggedPayload(
        job_id=request.payload.job_id,
        run_id=request.payload.run_id,
        attempt=attempt,
        stage=entry.stage,
        level=entry.level,
        message=storable_text(entry.message[:MAX_ERROR_CHARS]),
        details=entry.details,
    )
    return RunLogged(**_envelope(request, version, now), payload=payload)


def run_attempt_failed(
    request: RunOrigin,
    version: int,
    attempt: int,
    now: datetime,
    *,
    code: FailureCode,
    error: str,
    retry_at: datetime,
) -> RunAttemptFailed:
    """Attempt `attempt` failed transiently; the next one begins at `retry_at`."""
    payload = RunAttemptFailedPayload(
        job_id=request.payload.job_id,
        run_id=request.payload.run_id,
        attempt=attempt,
        code=code,
        error=storable_text(error[:MAX_ERROR_CHARS]),
        retry_at=retry_at,
    )
    return RunAttemptFailed(**_envelope(request, version, now), payload=payload)


def run_succeeded(
    request: RunOrigin, version: int, counts: RunCounts, started_at: datetime, now: datetime
) -> RunSucceeded:
    """The load committed with these counters."""
    return RunSucceeded(**_envelope(request, version, now), payload=_ended(request, counts, started_at, now))


def run_stopped(request: RunOrigin, version: int, counts: RunCounts, started_at: datetime, now: datetime) -> RunStopped:
    """The run stopped on request before its final commit, with its counters so far."""
    return RunStopped(**_envelope(request, version, now), payload=_ended(request, counts, started_at, now))


def _ended(request: RunOrigin, counts: RunCounts, started_at: datetime, now: datetime) -> RunEndedPayload:
    return RunEndedPayload(
        job_id=request.payload.job_id,
        run_id=request.payload.run_id,
        counts=counts,
        started_at=started_at,
        finished_at=now,
    )


def run_failed(
    request: RunOrigin,
    version: int,
    counts: RunCounts,
    started_at: datetime,
    now: datetime,
    *,
    code: FailureCode,
    error: str,
) -> RunFailed:
    """The run ended without changing the target."""
    payload = RunFailedPayload(
        job_id=request.payload.job_id,
        run_id=request.payload.run_id,
        counts=counts,
        started_at=started_at,
        finished_at=now,
        code=code,
        error=storable_text(error[:MAX_ERROR_CHARS]),
    )
    return RunFailed(**_envelope(request, version, now), payload=payload)
