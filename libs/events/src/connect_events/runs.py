"""Run events (topic `connect.runs`, keyed by job id so one job's runs stay ordered), and the run's one state
machine: `RunStatus`, the `TERMINAL` set and the `TRANSITIONS` table every service that reads runs uses.

The aggregate is the run, `JobID.RunID`. Who writes what (ADR 0009): the scheduler writes version 1, either
`run.requested` or, for a fire that met a running run, `run.skipped` (born terminal); the runner numbers its
own events from 2 upwards in its ledger, across restarts (`run.started`, `run.progressed` and exactly one of
`run.succeeded`, `run.failed`, `run.stopped`). A stop is asked for by `run.stop_requested`, an event of its
own aggregate (`run_stop`, written by the scheduler) so the run's versions keep one writer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from connect_events.audiences import AudienceSpec
from connect_events.definitions import JobDefinition, RunCounts, TableSpec
from connect_events.envelope import Event, Payload
from connect_events.lists import ListSpec, PetSpec

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
    "RUNNER_LOST",
    "FILE_INVALID",
    "COUNT_MISMATCH",
    "READY_FILE_TIMEOUT",
    "TOO_MANY_REJECTS",
    "ROW_VOLUME",
    "WRITE_FAILED",
    "EXPORT_INVALID",
]
FILE_PROBLEMS: frozenset[FailureCode] = frozenset(
    {"BAD_HEADER", "FILE_INVALID", "COUNT_MISMATCH", "TOO_MANY_REJECTS", "ROW_VOLUME"}
)
"""Failures the file itself caused (spec §4.1): such a file is archived instead of left for the next run."""


class RunStatus(StrEnum):
    """A run's status: *queued*, *running*, then exactly one terminal status."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    SKIPPED = "skipped"


TERMINAL: frozenset[RunStatus] = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED, RunStatus.SKIPPED}
)

TRANSITIONS: Mapping[RunStatus | None, frozenset[RunStatus]] = MappingProxyType(
    {
        # A run is born queued (requested) or skipped (its fire met a running run).
        None: frozenset({RunStatus.QUEUED, RunStatus.SKIPPED}),
        # A queued run may end without starting: its request was unreadable, or it was stopped first.
        RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.STOPPED}),
        # Running -> running is a new attempt (a restarted runner took the run up again).
        RunStatus.RUNNING: frozenset({RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED}),
        **{status: frozenset() for status in TERMINAL},
    }
)
"""Which status may follow which; a terminal status is final."""


def can_transition(current: RunStatus | None, to: RunStatus) -> bool:
    """Whether a run in `current` (None: no run yet) may move to `to`."""
    return to in TRANSITIONS[current]


def run_key(job_id: int, run_id: int) -> str:
    """The run's display id and aggregate id, `JobID.RunID`."""
    return f"{job_id}.{run_id}"


class RunPayload(Payload):
    """Names the run."""

    job_id: int
    run_id: int


Trigger = Literal["manual", "schedule", "group"]


class RunRequestedPayload(RunPayload):
    """Everything the runner needs, frozen at request time, so edits apply to the next run only.

    For a scheduled fire, `scheduled_for` is the fire time it stands for, `missed_fires` how many earlier
    fires passed while the scheduler was down (they are not run), and `next_run_at` the job's next fire. A
    member run of a group run names it (`group_id`, `group_run_id`).
    """

    trigger: Trigger = "manual"
    idempotency_key: str | None = None
    job_version: int
    definition: JobDefinition
    table: TableSpec
    scheduled_for: datetime | None = None
    missed_fires: int = 0
    next_run_at: datetime | None = None
    group_id: int | None = None
    group_run_id: int | None = None
    dry_run: bool = False
    list: ListSpec | None = Field(default=None, description="A profile import's list (`table` is its table view)")
    pets: tuple[PetSpec, ...] = Field(default=(), description="The PETs a profile import fills or an export reads")
    audience: AudienceSpec | None = Field(default=None, description="The audience an export writes")


class RunSkippedPayload(RunPayload):
    """A fire that met a running run of the same job: recorded, not queued."""

    trigger: Trigger = "schedule"
    job_name: str
    scheduled_for: datetime
    running_run_id: int
    next_run_at: datetime | None = None
    group_id: int | None = None
    group_run_id: int | None = None


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


LogLevel = Literal["INFO", "WARN", "ERROR"]


class RunLoggedPayload(RunPayload):
    """One entry of the run's execution log, written by the runner as a stage ends.

    Stages so far: `ready_file`, `file_found` (size, remote path), `transferred` (bytes, sha256), `decompressed`,
    `count_verified`, `parsed` (rows), `validated` (rejects by reason), `loaded` (inserted, updated, unchanged),
    `dry_run`, `archived` (where to); exports: `selected` (rows; a dry run's `first_rows`), `written` (bytes, the
    temporary path), `renamed` (the final path), `count_file`, `ready_file`, `pushed` (rows, merged, rejects).
    New stages may appear: consumers show `message` and may read `details`.

    The stages that reject rows (`validated`, `pushed`) also count them by reason in `details`, under keys
    `rejected:<REASON>` (`rejected:INVALID_DATE: 3`); `reject_details` writes them, `rejects_by_reason` reads.
    """

    attempt: int
    stage: str
    level: LogLevel = "INFO"
    message: str
    details: dict[str, int | str] = Field(default_factory=dict)


REJECTED_PREFIX = "rejected:"


def reject_details(reasons: Iterable[str]) -> dict[str, int]:
    """A log entry's `details` counting `reasons` (one per rejected row), keyed `rejected:<REASON>`."""
    return {f"{REJECTED_PREFIX}{reason}": count for reason, count in sorted(Counter(reasons).items())}


def rejects_by_reason(details: Mapping[str, int | str]) -> dict[str, int]:
    """The reject counts by reason in a log entry's `details` (none for other entries)."""
    return {
        key.removeprefix(REJECTED_PREFIX): value
        for key, value in details.items()
        if key.startswith(REJECTED_PREFIX) and isinstance(value, int)
    }


class RunAttemptFailedPayload(RunPayload):
    """An attempt failed transiently and the retry policy tries again at `retry_at` (the run stays running)."""

    attempt: int
    code: FailureCode
    error: str
    retry_at: datetime


class RunEndedPayload(RunPayload):
    """Counters and times of a run that ended."""

    counts: RunCounts
    started_at: datetime
    finished_at: datetime


class RunFailedPayload(RunEndedPayload):
    """Why the run failed, in plain words, with a machine code."""

    code: FailureCode
    error: str


class RunStopRequestedPayload(RunPayload):
    """Which run a user asked to stop."""


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


class RunLogged(RunEvent):
    """A stage of the run's attempt ended: an execution-log entry (the run's status does not change)."""

    type: Literal["run.logged"] = "run.logged"
    schema_version: Literal[1] = 1
    payload: RunLoggedPayload


class RunAttemptFailed(RunEvent):
    """One attempt of a running run failed transiently; another attempt follows after the back-off."""

    type: Literal["run.attempt_failed"] = "run.attempt_failed"
    schema_version: Literal[1] = 1
    payload: RunAttemptFailedPayload


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


class RunSkipped(RunEvent):
    """A scheduled fire found the job still running: the run is recorded as skipped and never executes."""

    type: Literal["run.skipped"] = "run.skipped"
    schema_version: Literal[1] = 1
    payload: RunSkippedPayload


class RunStopRequested(Event):
    """A user asked a queued or running run to stop; its own aggregate (`run_stop`), keyed by the job id."""

    # The run's own versions are numbered by the runner alone, so the request is a separate aggregate
    # (`run_stop`, id `JobID.RunID`, version 1); keyed by job id it follows the run's request in order.
    TOPIC: ClassVar[str] = RUNS_TOPIC
    aggregate_type: Literal["run_stop"] = "run_stop"
    type: Literal["run.stop_requested"] = "run.stop_requested"
    schema_version: Literal[1] = 1
    payload: RunStopRequestedPayload

    @property
    def partition_key(self) -> str:
        """The job id, like the run's own events."""
        return self.aggregate_id.split(".", 1)[0]


TERMINAL_RUN_EVENTS: tuple[type[RunEvent], ...] = (RunSucceeded, RunFailed, RunStopped, RunSkipped)

EVENT_STATUS: Mapping[str, RunStatus] = MappingProxyType(
    {
        "run.requested": RunStatus.QUEUED,
        "run.skipped": RunStatus.SKIPPED,
        "run.started": RunStatus.RUNNING,
        "run.succeeded": RunStatus.SUCCEEDED,
        "run.failed": RunStatus.FAILED,
        "run.stopped": RunStatus.STOPPED,
    }
)
"""The status each run event moves its run to; `run.progressed`, `run.logged`, `run.attempt_failed` (the run
stays running) and `run.stop_requested` move none."""


def status_after(current: RunStatus | None, event: RunEvent | RunStopRequested) -> RunStatus | None:
    """The run's status after `event`, or None when the event does not move it (progress, a stop request, or
    an event the table forbids here: a duplicate, a late one after the end)."""
    to = EVENT_STATUS.get(getattr(event, "type"))  # noqa: B009 - every concrete event pins `type`
    if to is None or not can_transition(current, to):
        return None
    return to


AnyRunEvent = Annotated[
    RunRequested
    | RunStarted
    | RunProgressed
    | RunLogged
    | RunAttemptFailed
    | RunSucceeded
    | RunFailed
    | RunStopped
    | RunSkipped
    | RunStopRequested,
    Field(discriminator="type"),
]
