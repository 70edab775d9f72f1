"""Event builders for the catalog's unit tests: valid events with defaults, overridable per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID, uuid4, uuid5

from connect_events import (
    AudienceDefined,
    AudienceDeleted,
    AudienceNamePayload,
    AudiencePayload,
    AudienceSpec,
    AudienceUpdated,
    ColumnAddedPayload,
    ColumnMapping,
    ColumnRef,
    ColumnSpec,
    ColumnType,
    CommandAccepted,
    CommandAcceptedPayload,
    CommandRejected,
    CommandRejectedPayload,
    Condition,
    ConditionGroup,
    FieldError,
    ImportCustomTable,
    JobActivated,
    JobCreated,
    JobDeactivated,
    JobDefined,
    JobDefinition,
    JobDeleted,
    JobDeletedPayload,
    JobRef,
    JobUpdated,
    ListColumnAdded,
    ListDefined,
    ListDefinedPayload,
    ListSpec,
    LogLevel,
    PetColumnAdded,
    PetDefined,
    PetDefinedPayload,
    PetSpec,
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
    RunRequested,
    RunRequestedPayload,
    RunSkipped,
    RunSkippedPayload,
    RunStarted,
    RunStartedPayload,
    RunStopped,
    RunStopRequested,
    RunStopRequestedPayload,
    RunSucceeded,
    SftpLocation,
    TableDefined,
    TableDefinedPayload,
    TableSpec,
    run_key,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACTOR = "alice"
CORRELATION = UUID(int=1)
JOB_ID = 1042
RUN_ID = 7
COUNTS = RunCounts(rows_read=10, inserted=6, updated=2, unchanged=1, rejected=1, bytes_transferred=2048)


def table(name: str = "Orders") -> TableSpec:
    return TableSpec(
        name=name,
        columns=(
            ColumnSpec(name="id", type=ColumnType.INTEGER),
            ColumnSpec(name="note", type=ColumnType.TEXT),
        ),
        primary_key=("id",),
    )


def definition(name: str = "Nightly orders", description: str = "") -> JobDefinition:
    source = SftpLocation(
        host="sftp.example", user="u", path="/upload/orders.csv", credential_ref=UUID(int=9),
        host_key="ssh-ed25519 AAAA", host_key_fingerprint="SHA256:x",
    )  # fmt: skip
    settings = ImportCustomTable(source=source, table="Orders", mapping=(ColumnMapping(source="id", target="id"),))
    return JobDefinition(name=name, description=description, settings=settings)


def _envelope(aggregate_id: str, version: int, at: datetime) -> dict[str, object]:
    return {
        "event_id": uuid4(), "aggregate_id": aggregate_id, "aggregate_version": version, "occurred_at": at,
        "actor": ACTOR, "correlation_id": CORRELATION,
    }  # fmt: skip


def job_created(
    job_id: int = JOB_ID,
    name: str = "Nightly orders",
    at: datetime = T0,
    *,
    errors: tuple[FieldError, ...] = (),
    copied_from: int | None = None,
) -> JobCreated:
    payload = JobDefined(job_id=job_id, definition=definition(name), errors=errors, copied_from=copied_from)
    return JobCreated(**_envelope(str(job_id), 1, at), payload=payload)


def job_updated(
    job_id: int = JOB_ID,
    version: int = 2,
    name: str = "Renamed",
    at: datetime = T0,
    *,
    new: JobDefinition | None = None,
    next_run_at: datetime | None = None,
) -> JobUpdated:
    payload = JobDefined(job_id=job_id, definition=new or definition(name, "edited"), next_run_at=next_run_at)
    return JobUpdated(**_envelope(str(job_id), version, at), payload=payload)


def job_activated(
    job_id: int = JOB_ID, version: int = 2, at: datetime = T0, next_run_at: datetime | None = None
) -> JobActivated:
    return JobActivated(**_envelope(str(job_id), version, at), payload=JobRef(job_id=job_id, next_run_at=next_run_at))


def job_deactivated(job_id: int = JOB_ID, version: int = 3, at: datetime = T0) -> JobDeactivated:
    return JobDeactivated(**_envelope(str(job_id), version, at), payload=JobRef(job_id=job_id))


def job_deleted(
    job_id: int = JOB_ID, version: int = 4, at: datetime = T0, reason: Literal["user", "expired"] = "expired"
) -> JobDeleted:
    payload = JobDeletedPayload(job_id=job_id, reason=reason)
    return JobDeleted(**_envelope(str(job_id), version, at), payload=payload)


def table_defined(name: str = "Orders", at: datetime = T0) -> TableDefined:
    return TableDefined(**_envelope(name.lower(), 1, at), payload=TableDefinedPayload(table=table(name)))


FIRST_NAME = ColumnSpec(name="FIRST_NAME", type=ColumnType.TEXT, max_length=50)
TOTAL = ColumnSpec(name="TOTAL", type=ColumnType.NUMBER, precision=10, scale=2)


def list_defined(name: str = "Members", at: datetime = T0) -> ListDefined:
    payload = ListDefinedPayload(list=ListSpec(name=name, columns=(FIRST_NAME,)))
    return ListDefined(**_envelope(name.lower(), 1, at), payload=payload)


def pet_defined(name: str = "Orders", list_name: str = "Members", at: datetime = T0) -> PetDefined:
    payload = PetDefinedPayload(pet=PetSpec(name=name, list_name=list_name, columns=(TOTAL,)))
    return PetDefined(**_envelope(name.lower(), 1, at), payload=payload)


def audience_event(
    kind: type[AudienceDefined] | type[AudienceUpdated], version: int, *, name: str = "Gold", city: str = "Paris"
) -> AudienceDefined | AudienceUpdated:
    condition = Condition(column=ColumnRef(column="CITY_"), operator="equals", values=(city,))
    spec = AudienceSpec(
        name=name,
        list_name="Members",
        filter=ConditionGroup(conditions=(condition,)),
        columns=(ColumnRef(column="EMAIL_ADDRESS_"),),
    )
    return kind(**_envelope(name.lower(), version, T0), payload=AudiencePayload(audience=spec))


def audience_deleted(version: int, name: str = "Gold") -> AudienceDeleted:
    return AudienceDeleted(**_envelope(name.lower(), version, T0), payload=AudienceNamePayload(name=name))


def list_column_added(column: ColumnSpec, version: int = 2, name: str = "Members") -> ListColumnAdded:
    payload = ColumnAddedPayload(name=name, column=column)
    return ListColumnAdded(**_envelope(name.lower(), version, T0), payload=payload)


def pet_column_added(column: ColumnSpec, version: int = 2, name: str = "Orders", at: datetime = T0) -> PetColumnAdded:
    payload = ColumnAddedPayload(name=name, column=column)
    return PetColumnAdded(**_envelope(name.lower(), version, at), payload=payload)


def run_requested(
    job_id: int = JOB_ID, run_id: int = RUN_ID, at: datetime = T0, *, dry_run: bool = False
) -> RunRequested:
    payload = RunRequestedPayload(
        job_id=job_id, run_id=run_id, job_version=1, definition=definition(), table=table(), dry_run=dry_run
    )
    return RunRequested(**_envelope(run_key(job_id, run_id), 1, at), payload=payload)


def scheduled_run_requested(
    job_id: int = JOB_ID,
    run_id: int = RUN_ID,
    at: datetime = T0,
    *,
    scheduled_for: datetime = T0,
    missed_fires: int = 0,
    next_run_at: datetime | None = None,
    group_run: tuple[int, int] | None = None,
) -> RunRequested:
    """A scheduled fire at `scheduled_for`, saying the job's next one (a member of `group_run`, if given)."""
    group_id, group_run_id = group_run or (None, None)
    payload = RunRequestedPayload(
        job_id=job_id, run_id=run_id, trigger="schedule", job_version=1, definition=definition(), table=table(),
        scheduled_for=scheduled_for, missed_fires=missed_fires, next_run_at=next_run_at, group_id=group_id,
        group_run_id=group_run_id,
    )  # fmt: skip
    return RunRequested(**_envelope(run_key(job_id, run_id), 1, at), payload=payload)


def run_skipped(
    job_id: int = JOB_ID,
    run_id: int = RUN_ID,
    running_run_id: int = RUN_ID - 1,
    at: datetime = T0,
    next_run_at: datetime | None = None,
) -> RunSkipped:
    payload = RunSkippedPayload(
        job_id=job_id, run_id=run_id, job_name="Nightly orders", scheduled_for=at, running_run_id=running_run_id,
        next_run_at=next_run_at,
    )  # fmt: skip
    return RunSkipped(**_envelope(run_key(job_id, run_id), 1, at), payload=payload)


def run_attempt_failed(attempt: int = 1, job_id: int = JOB_ID, run_id: int = RUN_ID) -> RunAttemptFailed:
    payload = RunAttemptFailedPayload(
        job_id=job_id, run_id=run_id, attempt=attempt, code="CONNECTION_FAILED", error="connection refused",
        retry_at=T0 + timedelta(minutes=1),
    )  # fmt: skip
    return RunAttemptFailed(**_envelope(run_key(job_id, run_id), 3, T0), payload=payload)


def run_stop_requested(job_id: int = JOB_ID, run_id: int = RUN_ID, at: datetime = T0) -> RunStopRequested:
    payload = RunStopRequestedPayload(job_id=job_id, run_id=run_id)
    return RunStopRequested(**_envelope(run_key(job_id, run_id), 1, at), payload=payload)


def run_started(
    attempt: int = 1, job_id: int = JOB_ID, run_id: int = RUN_ID, started_at: datetime = T0, version: int = 2
) -> RunStarted:
    payload = RunStartedPayload(job_id=job_id, run_id=run_id, attempt=attempt, runner="runner-a", started_at=started_at)
    occurred_at = started_at if started_at.tzinfo else started_at.replace(tzinfo=UTC)
    return RunStarted(**_envelope(run_key(job_id, run_id), version, occurred_at), payload=payload)


def run_progressed(rows: int = 5, job_id: int = JOB_ID, run_id: int = RUN_ID, version: int = 3) -> RunProgressed:
    payload = RunProgressedPayload(
        job_id=job_id,
        run_id=run_id,
        rows_read=rows,
        bytes_transferred=rows * 100,
        total_bytes=2048,
        stage="load",
    )
    return RunProgressed(**_envelope(run_key(job_id, run_id), version, T0), payload=payload)


def run_logged(
    message: str = "12 rows read", level: LogLevel = "INFO", job_id: int = JOB_ID, run_id: int = RUN_ID
) -> RunLogged:
    payload = RunLoggedPayload(
        job_id=job_id, run_id=run_id, attempt=1, stage="parsed", level=level, message=message, details={"rows": 12}
    )
    return RunLogged(**_envelope(run_key(job_id, run_id), 3, T0 + timedelta(seconds=1)), payload=payload)


def _ended(job_id: int, run_id: int, started_at: datetime) -> dict[str, object]:
    return {
        "job_id": job_id, "run_id": run_id, "counts": COUNTS, "started_at": started_at,
        "finished_at": started_at + timedelta(seconds=90, milliseconds=250),
    }  # fmt: skip


def run_succeeded(
    job_id: int = JOB_ID, run_id: int = RUN_ID, started_at: datetime = T0, version: int = 4
) -> RunSucceeded:
    payload = RunEndedPayload(**_ended(job_id, run_id, started_at))
    return RunSucceeded(**_envelope(run_key(job_id, run_id), version, started_at), payload=payload)


def run_failed(job_id: int = JOB_ID, run_id: int = RUN_ID, started_at: datetime = T0, version: int = 4) -> RunFailed:
    payload = RunFailedPayload(**_ended(job_id, run_id, started_at), code="FILE_NOT_FOUND", error="no file matching x")
    return RunFailed(**_envelope(run_key(job_id, run_id), version, started_at), payload=payload)


def run_stopped(job_id: int = JOB_ID, run_id: int = RUN_ID, started_at: datetime = T0, version: int = 4) -> RunStopped:
    payload = RunEndedPayload(**_ended(job_id, run_id, started_at))
    return RunStopped(**_envelope(run_key(job_id, run_id), version, started_at), payload=payload)


def _reply_envelope(command_id: UUID, at: datetime) -> dict[str, object]:
    """As the scheduler builds it: the command is the aggregate, and the reply's id is fixed per command."""
    return {**_envelope(str(command_id), 1, at), "event_id": uuid5(command_id, "-1"), "causation_id": command_id}


def command_accepted(
    command_id: UUID | None = None, job_id: int = JOB_ID, run_id: int | None = RUN_ID, at: datetime = T0
) -> CommandAccepted:
    command_id = command_id or uuid4()
    payload = CommandAcceptedPayload(
        command_id=command_id, command_type="job.run_now", target_type="job", target_id=str(job_id),
        target_version=2, run_id=run_id,
    )  # fmt: skip
    return CommandAccepted(**_reply_envelope(command_id, at), payload=payload)


def command_rejected(command_id: UUID | None = None, at: datetime = T0) -> CommandRejected:
    command_id = command_id or uuid4()
    payload = CommandRejectedPayload(
        command_id=command_id, command_type="job.create", code="validation", message="the job has 2 error(s)",
        errors=(FieldError(field="name", message="a job named X already exists"),
                FieldError(field="settings.table", message="no table named Nope")),
    )  # fmt: skip
    return CommandRejected(**_reply_envelope(command_id, at), payload=payload)
