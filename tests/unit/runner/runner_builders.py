"""Builders for the runner's tests: tables, mappings, locations and run requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

from connect_events import (
    ColumnMapping,
    ColumnSpec,
    ColumnType,
    CsvSettings,
    FileLocation,
    FileRules,
    ImportAnalyticsFeed,
    ImportCustomTable,
    ImportProfileData,
    JobDefinition,
    Limits,
    ListSpec,
    PetImport,
    PetSpec,
    RunRequested,
    RunRequestedPayload,
    RunStopRequested,
    RunStopRequestedPayload,
    SftpLocation,
    TableSpec,
    run_key,
)
from connect_events.definitions import JobSettings, WriteMode

REQUESTED_AT = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def column(name: str, type_: ColumnType = ColumnType.TEXT, **kwargs: int) -> ColumnSpec:
    return ColumnSpec(name=name, type=type_, **kwargs)


def people_table(name: str = "people") -> TableSpec:
    """A small table using every column type."""
    return TableSpec(
        name=name,
        columns=(
            column("id", ColumnType.INTEGER),
            column("name", max_length=10),
            column("score", ColumnType.NUMBER, precision=6, scale=2),
            column("active", ColumnType.BOOLEAN),
            column("born", ColumnType.DATE),
            column("seen", ColumnType.TIMESTAMP),
        ),
        primary_key=("id",),
    )


def mapping(*pairs: str | tuple[str, str]) -> tuple[ColumnMapping, ...]:
    """`"a"` maps source a to target a; `("src", "dst")` maps src to dst."""
    return tuple(
        ColumnMapping(source=p, target=p) if isinstance(p, str) else ColumnMapping(source=p[0], target=p[1])
        for p in pairs
    )


PEOPLE_MAPPING = mapping("id", "name", "score", "active", "born", "seen")


def location(
    path: str,
    credential_ref: UUID | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 22,
    user: str = "connect",
    host_key: str = "ssh-ed25519 AAAA",
    fingerprint: str = "SHA256:test",
) -> SftpLocation:
    return SftpLocation(
        host=host,
        port=port,
        user=user,
        path=path,
        credential_ref=credential_ref or uuid4(),
        host_key=host_key,
        host_key_fingerprint=fingerprint,
    )


def run_request(
    job_id: int,
    run_id: int,
    *,
    source: FileLocation,
    table: TableSpec | None = None,
    columns: Sequence[ColumnMapping] = PEOPLE_MAPPING,
    file: CsvSettings | None = None,
    write_mode: WriteMode = "merge",
    insert_on_no_match: bool = True,
    update_on_match: bool = True,
    files: FileRules | None = None,
    limits: Limits | None = None,
    dry_run: bool = False,
    requested_at: datetime = REQUESTED_AT,
) -> RunRequested:
    table = table or people_table()
    settings: JobSettings = ImportCustomTable(
        source=source,
        file=file or CsvSettings(),
        table=table.name,
        mapping=tuple(columns),
        write_mode=write_mode,
        insert_on_no_match=insert_on_no_match,
        update_on_match=update_on_match,
        files=files or FileRules(),
        limits=limits or Limits(),
    )
    payload = RunRequestedPayload(
        job_id=job_id,
        run_id=run_id,
        job_version=1,
        definition=JobDefinition(name=f"job {job_id}", settings=settings),
        table=table,
        dry_run=dry_run,
    )
    return _requested(job_id, run_id, payload, requested_at)


def feed_request(
    job_id: int,
    run_id: int,
    *,
    source: SftpLocation,
    table: TableSpec,
    columns: Sequence[ColumnMapping],
    report_suite: str = "shop",
    requested_at: datetime = REQUESTED_AT,
    pet: PetSpec | None = None,
    list_spec: ListSpec | None = None,
    **options: object,
) -> RunRequested:
    """A request to run an *import analytics feed* job of `report_suite` in the folder `source.path` into
    `table`, or into `pet` of `list_spec` (`table` then is the list's); `options` are the job's other settings
    (granularity, labels, filters, write mode, match column, limits)."""
    target = {"table": table.name} if pet is None else {"pet": pet.name}
    settings = ImportAnalyticsFeed(
        source=source, report_suite=report_suite, mapping=tuple(columns), **target, **options
    )
    payload = RunRequestedPayload(
        job_id=job_id,
        run_id=run_id,
        job_version=1,
        definition=JobDefinition(name=f"job {job_id}", settings=settings),
        table=table,
        list=list_spec,
        pets=() if pet is None else (pet,),
    )
    return _requested(job_id, run_id, payload, requested_at)


def profile_request(
    job_id: int,
    run_id: int,
    *,
    source: FileLocation,
    list_spec: ListSpec,
    columns: Sequence[ColumnMapping],
    pets: Sequence[tuple[PetSpec, Sequence[ColumnMapping]]] = (),
    dry_run: bool = False,
    requested_at: datetime = REQUESTED_AT,
    **options: object,
) -> RunRequested:
    """A request to run an *import profile data* job into `list_spec` (and `pets`, each with its mapping);
    `options` are the job's other settings (match columns, switches, mappings, checks)."""
    settings = ImportProfileData.model_validate(
        {
            "source": source,
            "list_name": list_spec.name,
            "mapping": tuple(columns),
            "pets": tuple(PetImport(pet=pet.name, mapping=tuple(m)) for pet, m in pets),
            **options,
        }
    )
    payload = RunRequestedPayload(
        job_id=job_id,
        run_id=run_id,
        job_version=1,
        definition=JobDefinition(name=f"job {job_id}", settings=settings),
        table=list_spec.as_table(),
        list=list_spec,
        pets=tuple(pet for pet, _ in pets),
        dry_run=dry_run,
    )
    return _requested(job_id, run_id, payload, requested_at)


def _requested(job_id: int, run_id: int, payload: RunRequestedPayload, at: datetime) -> RunRequested:
    return RunRequested(
        event_id=uuid4(),
        aggregate_id=run_key(job_id, run_id),
        aggregate_version=1,
        occurred_at=at,
        actor="tester",
        correlation_id=uuid4(),
        payload=payload,
    )


def stop_request(job_id: int, run_id: int, *, at: datetime = REQUESTED_AT, actor: str = "ada") -> RunStopRequested:
    """A user's request to stop run `job_id.run_id`, as the scheduler emits it."""
    return RunStopRequested(
        event_id=uuid4(),
        aggregate_id=run_key(job_id, run_id),
        aggregate_version=1,
        occurred_at=at,
        actor=actor,
        correlation_id=uuid4(),
        payload=RunStopRequestedPayload(job_id=job_id, run_id=run_id),
    )
