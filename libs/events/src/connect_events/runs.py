"""Run events (topic `connect.runs`, keyed by job id so one job's runs stay ordered).

The aggregate is the run, `JobID.RunID`. The scheduler writes version 1 (`run.requested`); the runner
numbers its own events from 2 upwards in its ledger, across restarts. Progress is best-effort; exactly one
terminal event (`run.succeeded`, `run.failed`, `run.stopped`) exists per run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from connect_events.definitions import JobDefinition, RunCounts, TableSpec
from connect_events.envelope import Event, Payload

RUNS_TOPIC = "connect.runs"

FailureCode = Literal[
    "FILE_NOT_FOUND",
    "BAD_HEADER",
    "AUTH_FAILED",
    "HOST_KEY_MISMATCH",
    "CONNECTION_FAILED",
    "TARGET_MISSING",
    "LOAD_FAILED",
    "INTERNAL",
]


def run_key(job_id: int, run_id: int) -> str:
    """The run's display id and aggregate id, `JobID.RunID`."""
    return f"{job_id}.{run_id}"


class RunPayload(Payload):
    """Names the run."""

    job_id: int
    run_id: int


class RunRequestedPayload(RunPayload):
    """Everything the runner needs, frozen at request time, so edits apply to the next run only."""

    trigger: Literal["manual", "schedule", "group"] = "manual"
    idempotency_key: str | None = None
    job_version: int
    definition: JobDefinition
    table: TableSpec


class RunStartedPayload(RunPayload):
    """Which runner took the run, and which attempt this is (a restarted runner starts a new attempt)."""

    attempt: int
    runner: str
    started_at: datetime


class RunProgressedPayload(RunPayload):
    """Rows and bytes so far; `total_bytes` when the file size is known."""

    rows_read: int
    bytes_transferred: int
    total_bytes: int | None = None
    stage: str


class RunEndedPayload(RunPayload):
    """Counters and times of a run that ended."""

    counts: RunCounts
    started_at: datetime
    finished_at: datetime


class RunFailedPayload(RunEndedPayload):
    """Why the run failed, in plain words, with a machine code."""

    code: FailureCode
    error: str


class RunEvent(Event):
    """Base of run events."""

    TOPIC: ClassVar[str] = RUNS_TOPIC
    aggregate_type: Literal["run"] = "run"

    @property
    def partition_key(self) -> str:
        """Runs are keyed by their job, so a job's runs are consumed in order."""
        return self.aggregate_id.split(".", 1)[0]


class RunRequested(RunEvent):
    """A run of a job was requested (run now, schedule or group)."""

    type: Literal["run.requested"] = "run.requested"
    schema_version: Literal[1] = 1
    payload: RunRequestedPayload


class RunStarted(RunEvent):
    """A runner started (or, after a crash, restarted) executing the run."""

    type: Literal["run.started"] = "run.started"
    schema_version: Literal[1] = 1
    payload: RunStartedPayload


class RunProgressed(RunEvent):
    """A running run reported progress."""

    type: Literal["run.progressed"] = "run.progressed"
    schema_version: Literal[1] = 1
    payload: RunProgressedPayload


class RunSucceeded(RunEvent):
    """The run committed its load; rejected rows (under the threshold) are counted."""

    type: Literal["run.succeeded"] = "run.succeeded"
    schema_version: Literal[1] = 1
    payload: RunEndedPayload


class RunFailed(RunEvent):
    """The run ended without changing the target."""

    type: Literal["run.failed"] = "run.failed"
    schema_version: Literal[1] = 1
    payload: RunFailedPayload


class RunStopped(RunEvent):
    """The run was stopped on request before its final commit; the target is unchanged."""

    type: Literal["run.stopped"] = "run.stopped"
    schema_version: Literal[1] = 1
    payload: RunEndedPayload


TERMINAL_RUN_EVENTS: tuple[type[RunEvent], ...] = (RunSucceeded, RunFailed, RunStopped)

AnyRunEvent = Annotated[
    RunRequested | RunStarted | RunProgressed | RunSucceeded | RunFailed | RunStopped,
    Field(discriminator="type"),
]
