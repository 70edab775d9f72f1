"""Explicit conversions between HTTP bodies and the event contract / read models."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from functools import partial
from typing import Any
from urllib.parse import quote
from uuid import UUID

from connect_events import (
    ApiEndpoint,
    AudienceExport,
    ColumnMapping,
    ColumnSpec,
    ColumnType,
    Cron,
    CsvOutput,
    CsvSettings,
    Daily,
    EmailFormatMapping,
    ExportApi,
    ExportFile,
    ExportFileRules,
    ExportSource,
    FileLocation,
    FileRules,
    GroupDefinition,
    HostedLocation,
    ImportAnalyticsFeed,
    ImportCustomTable,
    ImportProfileData,
    Limits,
    ListExport,
    ListSpec,
    MergeRule,
    Monthly,
    Notifications,
    OnDemand,
    OneTime,
    PermissionMapping,
    PetExport,
    PetImport,
    PetSpec,
    RetryPolicy,
    Role,
    Schedule,
    SftpLocation,
    TableExport,
    TableSpec,
    Weekly,
    group_run_key,
    run_key,
)
from connect_gateway.domain.errors import REJECTION
from connect_gateway.domain.jobs import (
    HOSTED_ARCHIVE_FOLDER,
    ApiDraft,
    HostedSourceDraft,
    JobDraft,
    SettingsDraft,
    SourceDraft,
)
from connect_gateway.domain.paths import COMMAND_PATHS, JOB_PATHS, to_request_errors, to_request_path
from connect_gateway.domain.profiles import column_kind, is_match_column, json_value
from connect_gateway.domain.webhooks import shown_webhook_url
from connect_gateway.entrypoints.http import export_schemas as es
from connect_gateway.entrypoints.http import feed_schemas as fs
from connect_gateway.entrypoints.http import profile_schemas as ps
from connect_gateway.entrypoints.http import schemas as s
from connect_gateway.read_models import (
    CommandRecord,
    GroupRecord,
    GroupRunMember,
    GroupRunRecord,
    GroupSummary,
    HistoryRecord,
    JobRecord,
    JobSummary,
    ListRecord,
    LogLine,
    PetRecord,
    RunRecord,
    ScheduledSummary,
    TableRecord,
)

API = "/api/v1"
_API_CODES: dict[str, str] = {code: name for code, name in REJECTION.items()}


def table_url(name: str) -> str:
    """Where a table is read."""
    return f"{API}/tables/{quote(name, safe='')}"


def list_url(name: str) -> str:
    """Where a profile list is read."""
    return f"{API}/lists/{quote(name, safe='')}"


def pet_url(name: str) -> str:
    """Where a PET is read."""
    return f"{API}/pets/{quote(name, safe='')}"


def job_url(job_id: int) -> str:
    """Where a job is read."""
    return f"{API}/jobs/{job_id}"


def run_url(job_id: int, run_id: int) -> str:
    """Where a run is read."""
    return f"{API}/runs/{run_key(job_id, run_id)}"


def group_url(group_id: int) -> str:
    """Where a group is read."""
    return f"{API}/groups/{group_id}"


def group_run_url(group_id: int, run_id: int) -> str:
    """Where a group run is read."""
    return f"{API}/groups/{group_id}/runs/{run_id}"


def command_url(command_id: UUID) -> str:
    """Where a command's decision is read."""
    return f"{API}/commands/{command_id}"


def column_spec(body: s.ColumnIn) -> ColumnSpec:
    """The contract's column of the request's."""
    return ColumnSpec(
        name=body.name,
        type=ColumnType(body.type),
        max_length=body.max_length,
        precision=body.precision,
        scale=body.scale,
    )


def table_spec(body: s.TableIn) -> TableSpec:
    """The table definition a `DefineTable` command carries."""
    columns = tuple(column_spec(c) for c in body.columns)
    return TableSpec(name=body.name, columns=columns, primary_key=tuple(body.primary_key))


def list_spec(body: ps.ListIn) -> ListSpec:
    """The list definition a `DefineList` command carries."""
    return ListSpec(name=body.name, columns=tuple(column_spec(c) for c in body.columns))


def pet_spec(body: ps.PetIn) -> PetSpec:
    """The PET definition a `DefinePet` command carries."""
    return PetSpec(name=body.name, list_name=body.list_name, columns=tuple(column_spec(c) for c in body.columns))


def list_out(record: ListRecord, pets: list[PetRecord]) -> ps.ListOut:
    """A list as the API shows it: every column with its kind, and its PETs."""
    spec = record.spec
    return ps.ListOut(
        name=spec.name,
        columns=[_profile_column_out(c) for c in spec.all_columns()],
        pets=[ps.PetRefOut(name=p.spec.name, url=pet_url(p.spec.name)) for p in pets],
        version=record.version,
        defined_at=record.defined_at,
        defined_by=record.defined_by,
        updated_at=record.updated_at,
        url=list_url(spec.name),
    )


def pet_out(record: PetRecord) -> ps.PetOut:
    """A PET as the API shows it: `RIID_`, then its own columns."""
    spec = record.spec
    return ps.PetOut(
        name=spec.name,
        list_name=spec.list_name,
        list_url=list_url(spec.list_name),
        columns=[_profile_column_out(c) for c in spec.as_table().columns],
        version=record.version,
        defined_at=record.defined_at,
        defined_by=record.defined_by,
        updated_at=record.updated_at,
        url=pet_url(spec.name),
    )


def _profile_column_out(column: ColumnSpec) -> ps.ListColumnOut:
    return ps.ListColumnOut(
        **_column_fields(column), kind=column_kind(column.name), match_column=is_match_column(column)
    )


def _column_fields(column: ColumnSpec) -> dict[str, Any]:
    return {
        "name": column.name,
        "type": column.type.value,
        "max_length": column.max_length,
        "precision": column.precision,
        "scale": column.scale,
    }


def rows_out(name: str, rows: list[dict[str, object]]) -> ps.RowsOut:
    """Rows of a list or PET, their values as JSON."""
    return ps.RowsOut(name=name, rows=[{key: json_value(value) for key, value in row.items()} for row in rows])


def job_draft(
    body: s.JobFields | ps.ProfileJobFields | es.ExportJobFields | es.ApiExportJobFields | fs.FeedJobFields,
) -> JobDraft:
    """The job as sent, before the host key is pinned and the secret vaulted."""
    settings: SettingsDraft
    source: SourceDraft | HostedSourceDraft | ApiDraft
    if isinstance(body, es.ApiExportJobFields):
        source, settings = api_draft(body.endpoint), api_export_settings(body)
    elif isinstance(body, fs.FeedJobFields):
        source, settings = source_draft(body.source), feed_settings(body)
    elif isinstance(body, es.ExportJobFields):
        source = source_draft(body.destination)
        settings = export_settings(body)
    else:
        source = source_draft(body.source)
        hosted = isinstance(source, HostedSourceDraft)
        settings = (
            custom_table_settings(body, hosted) if isinstance(body, s.JobFields) else profile_settings(body, hosted)
        )
    return JobDraft(
        name=body.name,
        description=body.description,
        source=source,
        settings=settings,
        schedule=schedule(body.schedule),
        expires_at=body.expires_at,
        retry=RetryPolicy(**body.retry.model_dump()),
        notifications=notifications(body.notifications),
    )


def _exported(source: es.ListSourceIn | es.AudienceSourceIn | es.PetSourceIn | es.TableSourceIn) -> ExportSource:
    """What an export reads, in the contract's terms."""
    match source:
        case es.ListSourceIn():
            return ListExport(list_name=source.list, columns=tuple(source.columns))
        case es.AudienceSourceIn():
            return AudienceExport(audience=source.audience)
        case es.PetSourceIn():
            return PetExport(pet=source.pet, key_columns=tuple(source.key_columns), columns=tuple(source.columns))
        case es.TableSourceIn():
            return TableExport(table=source.table, columns=tuple(source.columns))


def export_settings(body: es.ExportJobFields) -> SettingsDraft:
    """An *export* job's settings, waiting for their file's location."""
    what = _exported(body.source)

    def settings(*, source: FileLocation | ApiEndpoint) -> ExportFile:
        if isinstance(source, ApiEndpoint):
            raise TypeError("an export file is written to a file location")
        return ExportFile(
            source=what,
            destination=source,
            file=CsvOutput(**body.file.model_dump()),
            files=ExportFileRules(**body.files.model_dump()),
            incremental=body.incremental,
        )

    return settings


def api_draft(body: es.EndpointIn) -> ApiDraft:
    """The marketing API's endpoint as sent, before its password is vaulted."""
    password = None if body.password is None else body.password.get_secret_value()
    return ApiDraft(url=body.url, user=body.user, calls_per_minute=body.calls_per_minute, password=password)


def api_export_settings(body: es.ApiExportJobFields) -> SettingsDraft:
    """An *export to marketing API* job's settings, waiting for their endpoint (its password vaulted)."""
    what = _exported(body.source)
    channels = tuple(body.merge.reject_if_channel_empty)
    merge = MergeRule(**{**body.merge.model_dump(), "reject_if_channel_empty": channels})

    def settings(*, source: FileLocation | ApiEndpoint) -> ExportApi:
        if not isinstance(source, ApiEndpoint):
            raise TypeError("an export to a marketing API goes to its endpoint")
        assert isinstance(what, ListExport | AudienceExport), "the request allows a list or an audience"
        return ExportApi(
            source=what, endpoint=source, remote_list=body.remote_list, merge=merge, incremental=body.incremental
        )

    return settings


def feed_settings(body: fs.FeedJobFields) -> SettingsDraft:
    """An *import analytics feed* job's settings, waiting for their SFTP folder."""
    target = body.target

    written: dict[str, Any] = (
        {"pet": target.pet, "match_column": target.match_column}
        if isinstance(target, fs.PetTargetIn)
        else {
            "table": target.table,
            "write_mode": target.write_mode,
            "insert_on_no_match": target.insert_on_no_match,
            "update_on_match": target.update_on_match,
        }
    )

    def settings(*, source: FileLocation | ApiEndpoint) -> ImportAnalyticsFeed:
        if not isinstance(source, SftpLocation):
            raise TypeError("an analytics feed is read from an external SFTP server")
        return ImportAnalyticsFeed(
            source=source,
            report_suite=body.report_suite,
            granularity=body.granularity,
            mapping=column_mappings(body.mapping),
            labels=tuple(body.labels),
            drop_data_source_hits=body.drop_data_source_hits,
            truncate_long_text=body.truncate_long_text,
            limits=Limits(**body.limits.model_dump()),
            **written,
        )

    return settings


def _import_fields(body: s.ImportFields, hosted: bool) -> dict[str, Any]:
    """The settings every import has, in the contract's terms."""
    return {
        "file": csv_settings(body.file),
        "mapping": column_mappings(body.mapping),
        "truncate_long_text": body.truncate_long_text,
        "files": file_rules(body.files, hosted=hosted),
        "limits": Limits(**body.limits.model_dump()),
    }


def column_mappings(body: list[s.MappingIn]) -> tuple[ColumnMapping, ...]:
    """The contract's mapping of the request's."""
    return tuple(ColumnMapping(source=m.source, target=m.target, format=m.format) for m in body)


def custom_table_settings(body: s.JobFields, hosted: bool) -> SettingsDraft:
    """An *import custom table* job's settings, waiting for their file's location."""
    target = body.target
    return partial(
        ImportCustomTable,
        **_import_fields(body, hosted),
        table=target.table,
        write_mode=target.write_mode,
        insert_on_no_match=target.insert_on_no_match,
        update_on_match=target.update_on_match,
    )


def profile_settings(body: ps.ProfileJobFields, hosted: bool) -> SettingsDraft:
    """An *import profile data* job's settings, waiting for their file's location."""
    target = body.target
    return partial(
        ImportProfileData,
        **_import_fields(body, hosted),
        list_name=target.list,
        match_column_1=target.match_column_1,
        match_column_2=target.match_column_2,
        insert_on_no_match=target.insert_on_no_match,
        update_on_match=target.update_on_match,
        pets=tuple(PetImport(pet=p.pet, mapping=column_mappings(p.mapping)) for p in body.pets),
        email_permission=PermissionMapping(**body.email_permission.model_dump()),
        mobile_permission=PermissionMapping(**body.mobile_permission.model_dump()),
        email_format=EmailFormatMapping(**body.email_format.model_dump()),
        reject_if_channel_empty=tuple(body.reject_if_channel_empty),
        email_check=body.email_check,
        mobile_mode=body.mobile_mode,
        mobile_country=body.mobile_country,
    )


def source_draft(src: s.SourceFields | s.HostedSourceIn) -> SourceDraft | HostedSourceDraft:
    """Where the file comes from, as sent."""
    if isinstance(src, s.HostedSourceIn):
        return HostedSourceDraft(path=src.path)
    return SourceDraft(
        host=src.host,
        port=src.port,
        user=src.user,
        path=src.path,
        private_key=None if src.private_key is None else src.private_key.get_secret_value(),
        password=None if src.password is None else src.password.get_secret_value(),
        host_key=src.host_key,
    )


def csv_settings(body: s.FileIn) -> CsvSettings:
    """The contract's file settings of the request's."""
    return CsvSettings(**body.model_dump())


def file_rules(body: s.FilesIn, *, hosted: bool) -> FileRules:
    """The contract's file rules of the request's; a hosted source archives to `archive` unless the request says
    otherwise (null included)."""
    rules = FileRules(**body.model_dump())
    if hosted and "archive_folder" not in body.model_fields_set:
        return rules.model_copy(update={"archive_folder": HOSTED_ARCHIVE_FOLDER})
    return rules


def notifications(body: s.NotificationsIn) -> Notifications:
    """The contract's notification settings of the request's."""
    return Notifications(
        on_success=body.on_success,
        on_failure=body.on_failure,
        emails=tuple(body.emails),
        webhook_url=body.webhook_url,
    )


def notifications_out(settings: Notifications, role: Role) -> s.NotificationsOut:
    """Notification settings as the API shows them to `role` (the webhook URL whole only to those who edit it)."""
    return s.NotificationsOut(
        on_success=settings.on_success,
        on_failure=settings.on_failure,
        emails=list(settings.emails),
        webhook_url=shown_webhook_url(settings.webhook_url, role),
    )


def group_definition(body: s.GroupFields) -> GroupDefinition:
    """The group definition a `CreateGroup` or `UpdateGroup` command carries."""
    return GroupDefinition(
        name=body.name,
        description=body.description,
        members=tuple(body.members),
        schedule=schedule(body.schedule),
        expires_at=body.expires_at,
        notifications=notifications(body.notifications),
    )


def schedule(body: s.OnDemandIn | s.OneTimeIn | s.DailyIn | s.WeeklyIn | s.MonthlyIn | s.CronIn) -> Schedule:
    """The contract's schedule of the request's (times of day and local date-times parsed from their text)."""
    if isinstance(body, s.OnDemandIn):
        return OnDemand()
    timed: dict[str, Any] = {"time_zone": body.time_zone, "start_window": body.start_window}
    match body:
        case s.OneTimeIn():
            return OneTime(**timed, at=datetime.fromisoformat(body.at))
        case s.DailyIn():
            return Daily(**timed, time=time.fromisoformat(body.time))
        case s.WeeklyIn():
            return Weekly(**timed, days=tuple(body.days), time=time.fromisoformat(body.time))
        case s.MonthlyIn():
            return Monthly(**timed, day=body.day, time=time.fromisoformat(body.time))
    return Cron(**timed, expression=body.expression)


def schedule_out(schedule: Schedule) -> s.ScheduleOut:
    """A schedule as the API shows it: its kind and that kind's fields."""
    if isinstance(schedule, OnDemand):
        return s.ScheduleOut(kind=schedule.kind)
    out = s.ScheduleOut(kind=schedule.kind, time_zone=schedule.time_zone, start_window=schedule.start_window)
    match schedule:
        case OneTime():
            return out.model_copy(update={"at": schedule.at.isoformat(timespec="minutes")})
        case Daily() | Weekly() | Monthly():
            shown: dict[str, Any] = {"time": schedule.time.strftime("%H:%M")}
            if isinstance(schedule, Weekly):
                shown["days"] = list(schedule.days)
            if isinstance(schedule, Monthly):
                shown["day"] = schedule.day
            return out.model_copy(update=shown)
    return out.model_copy(update={"expression": schedule.expression})


def table_out(record: TableRecord) -> s.TableOut:
    """A table as the API shows it."""
    spec = record.spec
    columns = [s.ColumnOut(**_column_fields(c)) for c in spec.columns]
    return s.TableOut(
        name=spec.name,
        columns=columns,
        primary_key=list(spec.primary_key),
        defined_at=record.defined_at,
        defined_by=record.defined_by,
    )


def job_summary_out(job: JobSummary) -> s.JobSummaryOut:
    """A row of the job list."""
    return s.JobSummaryOut(**_summary_fields(job))


def job_out(
    job: JobRecord, role: Role
) -> s.JobOut | ps.ProfileJobOut | es.ExportJobOut | es.ApiExportJobOut | fs.FeedJobOut:
    """A job with its settings as `role` may see them, never its secret or credential reference."""
    settings = job.definition.settings
    if isinstance(settings, ExportFile):
        return _export_out(job, settings, role)
    if isinstance(settings, ExportApi):
        return _api_export_out(job, settings, role)
    if isinstance(settings, ImportAnalyticsFeed):
        return _feed_out(job, settings, role)
    shown = _import_out(job, role)
    if isinstance(settings, ImportCustomTable):
        return s.JobOut(**shown, target=_target_out(settings))
    return ps.ProfileJobOut(
        **shown,
        target=ps.ProfileTargetOut(
            list=settings.list_name,
            match_column_1=settings.match_column_1,
            match_column_2=settings.match_column_2,
            insert_on_no_match=settings.insert_on_no_match,
            update_on_match=settings.update_on_match,
        ),
        pets=[ps.PetMappingOut(pet=p.pet, mapping=mappings_out(p.mapping)) for p in settings.pets],
        email_permission=ps.PermissionOut(**settings.email_permission.model_dump()),
        mobile_permission=ps.PermissionOut(**settings.mobile_permission.model_dump()),
        email_format=ps.EmailFormatOut(**settings.email_format.model_dump()),
        reject_if_channel_empty=list(settings.reject_if_channel_empty),
        email_check=settings.email_check,
        mobile_mode=settings.mobile_mode,
        mobile_country=settings.mobile_country,
    )


def _feed_out(job: JobRecord, settings: ImportAnalyticsFeed, role: Role) -> fs.FeedJobOut:
    return fs.FeedJobOut(
        **_summary_fields(job),
        source=source_out(settings.source),
        report_suite=settings.report_suite,
        granularity=settings.granularity,
        target=_target_out(settings)
        if settings.pet is None
        else fs.PetTargetOut(pet=settings.pet, match_column=settings.match_column),
        mapping=mappings_out(settings.mapping),
        labels=list(settings.labels),
        drop_data_source_hits=settings.drop_data_source_hits,
        truncate_long_text=settings.truncate_long_text,
        limits=s.LimitsOut(**settings.limits.model_dump()),
        **_definition_out(job, role),
    )


def _target_out(settings: ImportCustomTable | ImportAnalyticsFeed) -> s.TargetOut:
    return s.TargetOut(
        table=settings.table,
        write_mode=settings.write_mode,
        insert_on_no_match=settings.insert_on_no_match,
        update_on_match=settings.update_on_match,
    )


def _api_export_out(job: JobRecord, settings: ExportApi, role: Role) -> es.ApiExportJobOut:
    endpoint, merge = settings.endpoint, settings.merge
    return es.ApiExportJobOut(
        **_summary_fields(job),
        source=_export_source_out(settings.source),
        endpoint=es.EndpointOut(url=endpoint.url, user=endpoint.user, calls_per_minute=endpoint.calls_per_minute),
        remote_list=settings.remote_list,
        merge=es.MergeOut(**{**merge.model_dump(), "reject_if_channel_empty": list(merge.reject_if_channel_empty)}),
        incremental=settings.incremental,
        **_definition_out(job, role),
    )


def _export_out(job: JobRecord, settings: ExportFile, role: Role) -> es.ExportJobOut:
    return es.ExportJobOut(
        **_summary_fields(job),
        source=_export_source_out(settings.source),
        destination=source_out(settings.destination),
        file=es.OutputOut(**settings.file.model_dump()),
        files=es.ExportFilesOut(**settings.files.model_dump()),
        incremental=settings.incremental,
        **_definition_out(job, role),
    )


def _export_source_out(source: ExportSource) -> es.ExportSourceOut:
    match source:
        case ListExport():
            what = es.ExportSourceOut(kind=source.kind, list=source.list_name, columns=list(source.columns))
        case AudienceExport():
            what = es.ExportSourceOut(kind=source.kind, audience=source.audience)
        case PetExport():
            keys, columns = list(source.key_columns), list(source.columns)
            what = es.ExportSourceOut(kind=source.kind, pet=source.pet, key_columns=keys, columns=columns)
        case TableExport():
            what = es.ExportSourceOut(kind=source.kind, table=source.table, columns=list(source.columns))
    return what


def _definition_out(job: JobRecord, role: Role) -> dict[str, Any]:
    """What every job shows besides its settings."""
    return {
        "schedule": schedule_out(job.definition.schedule),
        "retry": s.RetryOut(**job.definition.retry.model_dump()),
        "notifications": notifications_out(job.definition.notifications, role),
        "errors": [s.ErrorItem(field=e.field, message=e.message) for e in to_request_errors(job.errors, JOB_PATHS)],
    }


def _import_out(job: JobRecord, role: Role) -> dict[str, Any]:
    """What every import job shows."""
    settings = job.definition.settings
    assert isinstance(settings, ImportCustomTable | ImportProfileData), "a file import's settings"
    return {
        **_summary_fields(job),
        "source": source_out(settings.source),
        "file": s.FileOut(**settings.file.model_dump()),
        "mapping": mappings_out(settings.mapping),
        "truncate_long_text": settings.truncate_long_text,
        "files": s.FilesOut(**settings.files.model_dump()),
        "limits": s.LimitsOut(**settings.limits.model_dump()),
        **_definition_out(job, role),
    }


def mappings_out(mappings: tuple[ColumnMapping, ...]) -> list[s.MappingOut]:
    """A mapping as the API shows it."""
    return [s.MappingOut(source=m.source, target=m.target, format=m.format) for m in mappings]


def source_out(src: FileLocation) -> s.SourceOut:
    """A source as the API shows it: its kind and that kind's fields, never the credential reference."""
    if isinstance(src, HostedLocation):
        return s.SourceOut(kind=src.kind, path=src.path)
    return s.SourceOut(
        kind=src.kind,
        path=src.path,
        host=src.host,
        port=src.port,
        user=src.user,
        host_key=src.host_key,
        host_key_fingerprint=src.host_key_fingerprint,
    )


def _scheduled_fields(row: ScheduledSummary) -> dict[str, Any]:
    """The fields a job's and a group's summaries show alike."""
    return {
        "name": row.name,
        "description": row.description,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "next_run_at": row.next_run_at,
        "previous_run_at": row.previous_run_at,
        "schedule_type": row.schedule_type,
        "expires_at": row.expires_at,
        "version": row.version,
        "updated_at": row.updated_at,
        "updated_by": row.updated_by,
    }


def _summary_fields(job: JobSummary) -> dict[str, Any]:
    return {
        **_scheduled_fields(job),
        "job_id": job.job_id,
        "group": job.group_id,
        "type": job.job_type,
        "state": job.state,
        "has_errors": bool(job.errors),
        "running_run_id": job.running_run_id,
        "last_run": None if job.last_run_id is None else run_key(job.job_id, job.last_run_id),
        "copied_from": job.copied_from,
    }


def run_out(run: RunRecord) -> s.RunOut:
    """A run as the API shows it."""
    key = run_key(run.job_id, run.run_id)
    return s.RunOut(
        id=key,
        run_key=key,
        group_run_key=_group_run_key(run),
        group=run.group_id,
        job_id=run.job_id,
        run_id=run.run_id,
        job_name=run.job_name,
        job_type=run.job_type,
        job_deleted=run.job_deleted,
        status=run.status,
        trigger=run.trigger,
        dry_run=run.dry_run,
        attempt=run.attempt,
        counts=s.CountsOut(**run.counts.model_dump()),
        total_bytes=run.total_bytes,
        stage=run.stage,
        requested_at=run.requested_at,
        scheduled_for=run.scheduled_for,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_ms=run.duration_ms,
        error_code=run.error_code,
        error=run.error,
        url=run_url(run.job_id, run.run_id),
        log_url=f"{run_url(run.job_id, run.run_id)}/log",
    )


def _group_run_key(run: RunRecord) -> str | None:
    """`GroupID.RunID` of the group run `run` is a member of."""
    if run.group_id is None or run.group_run_id is None:
        return None
    return run_key(run.group_id, run.group_run_id)


def group_summary_out(group: GroupSummary) -> s.GroupSummaryOut:
    """A row of the group list."""
    return s.GroupSummaryOut(**_group_fields(group))


def group_out(group: GroupRecord, role: Role) -> s.GroupOut:
    """A group with its members in running order, its settings as `role` may see them."""
    definition = group.definition
    members = [
        s.GroupMemberOut(position=i + 1, job_id=job_id, url=job_url(job_id))
        for i, job_id in enumerate(definition.members)
    ]
    return s.GroupOut(
        **_group_fields(group),
        members=members,
        schedule=schedule_out(definition.schedule),
        notifications=notifications_out(definition.notifications, role),
    )


def _group_fields(group: GroupSummary) -> dict[str, Any]:
    def key(run_id: int | None) -> str | None:
        return None if run_id is None else group_run_key(group.group_id, run_id)

    return {
        **_scheduled_fields(group),
        "group_id": group.group_id,
        "last_run": key(group.last_run_id),
        "running_run": key(group.running_run_id),
        "url": group_url(group.group_id),
    }


def group_run_out(run: GroupRunRecord) -> s.GroupRunOut:
    """A group run as the group's run list shows it."""
    failed_run = (
        None
        if run.failed_job_id is None or run.failed_run_id is None
        else run_key(run.failed_job_id, run.failed_run_id)
    )
    return s.GroupRunOut(
        id=group_run_key(run.group_id, run.run_id),
        group_id=run.group_id,
        run_id=run.run_id,
        group_name=run.group_name,
        status=run.status,
        trigger=run.trigger,
        requested_at=run.requested_at,
        scheduled_for=run.scheduled_for,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_ms=run.duration_ms,
        stop_requested=run.stop_requested,
        failed_job_id=run.failed_job_id,
        failed_run=failed_run,
        error=run.error,
        url=group_run_url(run.group_id, run.run_id),
    )


def group_run_detail_out(run: GroupRunRecord, lines: list[LogLine]) -> s.GroupRunDetailOut:
    """A group run with its members (and their runs) in running order, and its log."""
    return s.GroupRunDetailOut(
        **group_run_out(run).model_dump(),
        members=[_member_out(m) for m in run.members],
        log=[s.LogLineOut(at=line.at, level=line.level, message=line.message) for line in lines],
    )


def _member_out(member: GroupRunMember) -> s.GroupRunMemberOut:
    started = member.run_id is not None
    key = run_key(member.job_id, member.run_id) if member.run_id is not None else None
    return s.GroupRunMemberOut(
        position=member.position + 1,
        job_id=member.job_id,
        run=key,
        run_id=member.run_id,
        status=member.status if started else None,
        url=run_url(member.job_id, member.run_id) if member.run_id is not None else None,
    )


def log_out(job_id: int, run_id: int, lines: list[LogLine]) -> s.RunLogOut:
    """A run's log."""
    return s.RunLogOut(
        run=run_key(job_id, run_id),
        lines=[s.LogLineOut(at=line.at, level=line.level, message=line.message) for line in lines],
    )


TARGET_URLS: dict[str, Callable[[str], str]] = {"table": table_url, "list": list_url, "pet": pet_url}


def command_out(record: CommandRecord) -> s.CommandOut:
    """A command's decision in the API's vocabulary: its error code and the request's field paths."""
    renames = COMMAND_PATHS.get(record.command_type, JOB_PATHS)
    errors = to_request_errors(record.errors, renames)
    return s.CommandOut(
        command_id=record.command_id,
        command_type=record.command_type,
        status=record.status,
        target_type=record.target_type,
        target_id=record.target_id,
        target_version=record.target_version,
        run_id=record.run_id,
        code=None if record.code is None else _API_CODES.get(record.code, record.code),
        reason=record.reason,
        message=record.message,
        errors=[s.ErrorItem(field=e.field, message=e.message) for e in errors],
        replied_at=record.replied_at,
        url=_target_url(record) if record.status == "accepted" else None,
    )


def history_out(entry: HistoryRecord) -> s.HistoryEntryOut:
    """A history entry, the changed fields named as in the request (`mapping`, `target.table`)."""
    changed = dict.fromkeys(to_request_path(path, JOB_PATHS) for path in entry.changed)  # ordered, no repeats
    return s.HistoryEntryOut(
        version=entry.version,
        at=entry.at,
        by=entry.by,
        what=entry.what,
        reason=entry.reason,
        copied_from=entry.copied_from,
        changed=list(changed),
    )


def _target_url(record: CommandRecord) -> str | None:
    """What an accepted command created or changed (nothing to link for a deleted job or group)."""
    target = record.target_id
    if target is None or record.command_type in ("job.delete", "group.delete"):
        return None
    if record.target_type in TARGET_URLS:
        return TARGET_URLS[record.target_type](target)
    if record.target_type == "group" and target.isdigit():
        return group_url(int(target)) if record.run_id is None else group_run_url(int(target), record.run_id)
    if record.target_type != "job" or not target.isdigit():
        return None
    if record.run_id is not None:
        return run_url(int(target), record.run_id)
    return job_url(int(target))
