"""Builders for the scheduler's unit tests: commands, definitions and the events a history is made of."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from connect_events import (
    ColumnMapping,
    ColumnSpec,
    ColumnType,
    Command,
    CsvSettings,
    Event,
    ImportAnalyticsFeed,
    ImportCustomTable,
    ImportProfileData,
    JobActivated,
    JobCreated,
    JobDeactivated,
    JobDefined,
    JobDefinition,
    JobDeleted,
    JobDeletedPayload,
    JobRef,
    ListSpec,
    OnDemand,
    PetImport,
    PetSpec,
    RunLogged,
    RunLoggedPayload,
    RunProgressed,
    RunProgressedPayload,
    RunRequested,
    RunRequestedPayload,
    RunSkipped,
    RunSkippedPayload,
    RunStopRequested,
    RunStopRequestedPayload,
    Schedule,
    SftpLocation,
    TableSpec,
    run_key,
)
from connect_runtime.messages import Causation

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
ACTOR = "alice"
ON_DEMAND = OnDemand()
CREDENTIAL = UUID("00000000-0000-0000-0000-0000000000c1")


def meta() -> dict[str, Any]:
    """Envelope fields of a fresh command."""
    return {"command_id": uuid4(), "issued_at": T0, "actor": ACTOR, "correlation_id": uuid4()}


def causation(command: Command) -> Causation:
    """The causation the handler derives from `command`."""
    return Causation(
        actor=command.actor,
        correlation_id=command.correlation_id,
        causation_id=command.command_id,
        occurred_at=T0,
    )


def column(name: str, kind: str = "text", **kwargs: Any) -> ColumnSpec:
    return ColumnSpec(name=name, type=ColumnType(kind), **kwargs)


def customers(name: str = "Customers") -> TableSpec:
    """A table keyed by `id` with a text and a number column."""
    columns = (
        column("id", "integer"),
        column("email", max_length=200),
        column("score", "number", precision=10, scale=2),
    )
    return TableSpec(name=name, columns=columns, primary_key=("id",))


def source(**overrides: Any) -> SftpLocation:
    fields: dict[str, Any] = {
        "host": "sftp.example.com",
        "user": "loader",
        "path": "upload/customers.csv",
        "credential_ref": CREDENTIAL,
        "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG",
        "host_key_fingerprint": "SHA256:abc",
    }
    return SftpLocation(**{**fields, **overrides})


def definition(
    name: str = "Nightly customers",
    *,
    table: str = "Customers",
    mapping: tuple[tuple[str, str], ...] = (("id", "id"), ("email", "email")),
    header: bool = True,
    write_mode: str = "merge",
    description: str = "",
    schedule: Schedule = ON_DEMAND,
    expires_at: datetime | None = None,
    **source_overrides: Any,
) -> JobDefinition:
    settings = ImportCustomTable(
        source=source(**source_overrides),
        file=CsvSettings(header=header),
        table=table,
        mapping=tuple(ColumnMapping(source=s, target=t) for s, t in mapping),
        write_mode=write_mode,  # type: ignore[arg-type]
    )
    return JobDefinition(
        name=name, description=description, settings=settings, schedule=schedule, expires_at=expires_at
    )


def members(name: str = "Members") -> ListSpec:
    """A profile list with a text and a date custom column."""
    return ListSpec(name=name, columns=(column("FIRST_NAME", max_length=50), column("BIRTHDAY", "date")))


def orders_pet(name: str = "Orders", list_name: str = "Members") -> PetSpec:
    """A PET of `members()` with a text and a number column."""
    return PetSpec(
        name=name, list_name=list_name, columns=(column("LAST_ORDER", max_length=20), column("TOTAL", "number"))
    )


def mappings(*pairs: tuple[str, str]) -> tuple[ColumnMapping, ...]:
    return tuple(ColumnMapping(source=s, target=t) for s, t in pairs)


def profile_settings(**overrides: Any) -> ImportProfileData:
    """Settings of a valid profile import into `members()` and its PET `orders_pet()`, with `overrides`."""
    fields: dict[str, Any] = {
        "source": source(),
        "list_name": "Members",
        "mapping": mappings(("email", "EMAIL_ADDRESS_"), ("first", "FIRST_NAME")),
        "pets": (PetImport(pet="Orders", mapping=mappings(("last", "LAST_ORDER"))),),
    }
    return ImportProfileData(**{**fields, **overrides})


def profile_definition(name: str = "Member import", **overrides: Any) -> JobDefinition:
    return JobDefinition(name=name, settings=profile_settings(**overrides), schedule=ON_DEMAND)


def feed_settings(**overrides: Any) -> ImportAnalyticsFeed:
    """Settings of a valid analytics feed import of report suite `shop` into `customers()`, with `overrides`."""
    fields: dict[str, Any] = {
        "source": source(path="feeds/shop"),
        "report_suite": "shop",
        "table": "Customers",
        "mapping": mappings(("visit_num", "id"), ("post_evar12", "email"), ("browser", "email2")),
        "labels": ("browser",),
    }
    return ImportAnalyticsFeed(**{**fields, **overrides})


def feed_table() -> TableSpec:
    """`customers()` with a second text column for a lookup label."""
    table = customers()
    return table.model_copy(update={"columns": (*table.columns, column("email2", max_length=100))})


def feed_definition(name: str = "Shop feed", schedule: Schedule = ON_DEMAND, **overrides: Any) -> JobDefinition:
    return JobDefinition(name=name, settings=feed_settings(**overrides), schedule=schedule)


def _event_meta(aggregate_id: str, version: int) -> dict[str, Any]:
    return {
        "event_id": uuid4(),
        "aggregate_id": aggregate_id,
        "aggregate_version": version,
        "occurred_at": T0,
        "actor": ACTOR,
        "correlation_id": uuid4(),
        "causation_id": uuid4(),
    }


def created(job_id: int, job: JobDefinition | None = None) -> JobCreated:
    payload = JobDefined(job_id=job_id, definition=job or definition())
    return JobCreated(**_event_meta(str(job_id), 1), payload=payload)


def activated(job_id: int, version: int) -> JobActivated:
    return JobActivated(**_event_meta(str(job_id), version), payload=JobRef(job_id=job_id))


def deactivated(job_id: int, version: int) -> JobDeactivated:
    return JobDeactivated(**_event_meta(str(job_id), version), payload=JobRef(job_id=job_id))


def deleted(job_id: int, version: int) -> JobDeleted:
    return JobDeleted(**_event_meta(str(job_id), version), payload=JobDeletedPayload(job_id=job_id))


def run_requested(job_id: int, run_id: int, key: str | None = None, job_version: int = 2) -> RunRequested:
    payload = RunRequestedPayload(
        job_id=job_id,
        run_id=run_id,
        idempotency_key=key,
        job_version=job_version,
        definition=definition(),
        table=customers(),
    )
    return RunRequested(**_event_meta(run_key(job_id, run_id), 1), payload=payload)


def skipped(job_id: int, run_id: int, running_run_id: int) -> RunSkipped:
    payload = RunSkippedPayload(
        job_id=job_id, run_id=run_id, job_name="Nightly customers", scheduled_for=T0, running_run_id=running_run_id
    )
    return RunSkipped(**_event_meta(run_key(job_id, run_id), 1), payload=payload)


def run_logged(job_id: int, run_id: int, version: int) -> RunLogged:
    payload = RunLoggedPayload(job_id=job_id, run_id=run_id, attempt=1, stage="validated", message="3 rows rejected")
    return RunLogged(**_event_meta(run_key(job_id, run_id), version), payload=payload)


def progressed(job_id: int, run_id: int, version: int) -> RunProgressed:
    payload = RunProgressedPayload(job_id=job_id, run_id=run_id, rows_read=10, bytes_transferred=100, stage="parsed")
    return RunProgressed(**_event_meta(run_key(job_id, run_id), version), payload=payload)


def stop_requested(job_id: int, run_id: int) -> RunStopRequested:
    payload = RunStopRequestedPayload(job_id=job_id, run_id=run_id)
    return RunStopRequested(**_event_meta(run_key(job_id, run_id), 1), payload=payload)


def active_job(job_id: int, *runs: Event) -> list[Event]:
    """History of a created and activated job, then `runs` (its run events)."""
    return [created(job_id), activated(job_id, 2), *runs]
