"""Request and response bodies of the REST API.

These are not the event contract: `mapping.py` converts explicitly, so the API and the events evolve apart.
Requests forbid unknown fields, so a misspelt field is an error instead of a silently ignored value, and
take each value only in the JSON type their schema states.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, StringConstraints, Tag, field_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from connect_events import RefusalReason
from connect_gateway.domain import limits as lim
from connect_gateway.domain.errors import ErrorCode
from connect_gateway.entrypoints.http.fields import (
    TEXT,
    CronExpression,
    DateFormat,
    Description,
    Extension,
    Host,
    HostedPath,
    HostKeyLine,
    Identifier,
    IsoDateTime,
    JobIdValue,
    JobName,
    LocalDateTimeText,
    MaxLength,
    MonthDay,
    Password,
    Percent,
    Port,
    Precision,
    PrivateKey,
    ReadyTimeout,
    RowCount,
    Scale,
    SourceColumn,
    SourcePath,
    TimeOfDayText,
    TimeZoneName,
    User,
    Version,
)
from connect_gateway.entrypoints.http.value_rule import RULE_ERROR

ColumnTypeName = Literal["text", "integer", "number", "boolean", "date", "timestamp"]
DelimiterChar = Literal[",", ";", "\t", "|"]
QualifierChar = Literal['"', ""]
EncodingName = Literal["utf-8", "iso-8859-1", "windows-1252", "utf-16"]
DecimalSeparator = Literal[".", ","]
WriteModeName = Literal["merge", "append", "overwrite"]
JobStateName = Literal["active", "inactive"]
RunStatusName = Literal["queued", "running", "succeeded", "failed", "stopped", "skipped"]
WeekdayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class RequestBody(BaseModel):
    """Base of request bodies: strict, so a value is taken only in the JSON type the schema states.

    Lax mode would take `false` or `"2"` for an integer and `1` or `"yes"` for a boolean: a request the
    OpenAPI document calls invalid would be accepted.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseBody(BaseModel):
    """Base of response bodies."""


class ErrorItem(ResponseBody):
    """One failing field, as a dotted path into the request (`mapping[2].target`)."""

    field: str
    message: str


class ErrorBody(ResponseBody):
    """Every error the API returns; `reason` says precisely why the scheduler refused a command (e.g.
    `JOB_RUNNING`, `STALE_VERSION`, `COPY_REQUIRES_INACTIVE`), null when `code` says all there is."""

    code: ErrorCode
    message: str
    errors: list[ErrorItem] = []
    reason: RefusalReason | None = None


class PendingOut(ResponseBody):
    """The command was sent but not decided in time; it will still be applied or refused."""

    status: Literal["pending"] = "pending"
    command_id: UUID
    status_url: str = Field(description="Where the decision can be read once it is made")
    message: str = "the command was sent but no decision arrived in time; check status_url later"


class CommandOut(ResponseBody):
    """The scheduler's decision on a command; `url` names what an accepted command created or changed.

    A rejection carries the same `code`, `message` and `errors` a timely reply would have answered with.
    """

    command_id: UUID
    command_type: str
    status: str = Field(description="accepted | rejected")
    target_type: str | None
    target_id: str | None
    target_version: int | None
    run_id: int | None
    code: str | None
    reason: RefusalReason | None
    message: str | None
    errors: list[ErrorItem] = Field(description="A refusal's field errors, or those an accepted draft was saved with")
    replied_at: datetime
    url: str | None


class ColumnIn(RequestBody):
    """A column: `max_length` for text, `precision`/`scale` for number."""

    name: Identifier
    type: ColumnTypeName
    max_length: MaxLength | None = None
    precision: Precision | None = None
    scale: Scale | None = None


class TableIn(RequestBody):
    """A custom table to define."""

    name: Identifier
    columns: list[ColumnIn] = Field(min_length=1, max_length=lim.MAX_COLUMNS)
    primary_key: list[Identifier] = Field(min_length=1, max_length=lim.MAX_COLUMNS)


class ColumnOut(ResponseBody):
    """A column of a table."""

    name: str
    type: ColumnTypeName
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None


class TableOut(ResponseBody):
    """A defined custom table."""

    name: str
    columns: list[ColumnOut]
    primary_key: list[str]
    defined_at: datetime | None = None
    defined_by: str | None = None


class TableCreatedOut(ResponseBody):
    """A table was defined."""

    name: str
    url: str


class SourceFields(RequestBody):
    """An external SFTP file and the secret to log in with."""

    kind: Literal["sftp"] = Field(default="sftp", description="An external SFTP server (the default)")
    host: Host = Field(description="A DNS name or an IP address (IPv6 without brackets)")
    port: Port = 22
    user: User
    path: SourcePath = Field(
        description="Sent to the SFTP server as given: a relative path is relative to the directory the server "
        "starts the session in (usually the user's home), and the server resolves `..`. The file name may "
        "hold `*` and the date tokens %YYYY% %MM% %DD% %HH% %MI% %SS%"
    )
    private_key: PrivateKey | None = Field(
        default=None,
        description="OpenSSH or PEM, without passphrase; on update, required again when host, port or user changes",
        json_schema_extra={"format": "password", "writeOnly": True},
    )
    password: Password | None = Field(default=None, json_schema_extra={"format": "password", "writeOnly": True})
    host_key: HostKeyLine | None = Field(
        default=None, description="The server's public host key line; read from the server when omitted"
    )


def _given(*names: str) -> JsonDict:
    """A secret counts as given when it is a string: `null` is the same as leaving it out."""
    return {"required": list(names), "properties": {name: {"type": "string"} for name in names}}


class SourceIn(SourceFields):
    """Where a new job's file comes from: exactly one of `private_key` and `password`."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [_given("private_key"), _given("password")]})


class SourceUpdateIn(SourceFields):
    """Where an edited job's file comes from: at most one of `private_key` and `password`; none keeps the
    stored secret."""

    model_config = ConfigDict(json_schema_extra={"not": _given("private_key", "password")})


class FileIn(RequestBody):
    """How the file is written."""

    delimiter: DelimiterChar = ","
    qualifier: QualifierChar = '"'
    header: bool = True
    encoding: EncodingName = "utf-8"
    decimal_separator: DecimalSeparator = Field(
        default=".", description="How numbers write their fraction (`,`: `1234,5`; no thousands separators)"
    )


HeaderName = Annotated[str, StringConstraints(max_length=lim.MAX_MAPPING_NAME), TEXT]


class AutoMappingIn(RequestBody):
    """Where the header names come from: `header` as given, or `hosted_path`, a file on the hosted file server
    whose header line is read (`file` says how it is written; plain, `.gz` or a `.zip` of one file)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "oneOf": [
                {"required": ["header"], "properties": {"header": {"type": "array"}}, "not": {"required": ["file"]}},
                {"required": ["hosted_path"], "properties": {"hosted_path": {"type": "string"}}},
            ],
            "examples": [{"header": ["Email", "first_name", "City"]}, {"hosted_path": "upload/customers.csv"}],
        },
    )

    header: list[HeaderName] | None = Field(default=None, max_length=lim.MAX_HEADER_NAMES)
    hosted_path: HostedPath | None = None
    file: FileIn = Field(default_factory=FileIn, description="With `hosted_path` only; its header must be true")


class SuggestedMappingOut(ResponseBody):
    """A header name and the column of the same name."""

    source: str
    target: str


class AutoMappingOut(ResponseBody):
    """Header names matched to the table's columns by name (case-insensitive, surrounding spaces ignored), in the
    shape of a job's `mapping`; a name the header holds twice maps nothing."""

    mapping: list[SuggestedMappingOut]
    unmatched_sources: list[str] = Field(description="Header names no column has, in header order")
    unmapped_columns: list[str] = Field(description="Columns no header name matched, in the table's order")


class TargetIn(RequestBody):
    """The custom table to load and how."""

    table: Identifier
    write_mode: WriteModeName = "merge"
    insert_on_no_match: bool = True
    update_on_match: bool = True


class MappingIn(RequestBody):
    """Source column (header name, or 1-based position without a header) to target column."""

    source: SourceColumn
    target: Identifier
    format: DateFormat | None = Field(
        default=None,
        description="How a date or timestamp column is written when not `YYYY-MM-DD [HH24:MI:SS]`, e.g. "
        "`DD/MM/YYYY` or `MON DD YYYY HH24:MI`: the tokens YYYY, MM, MON, DD, HH24 (or HH), MI, SS and FF, "
        "separated by space - / . : , or T (the scheduler checks it against the column's type)",
    )


def examples(*samples: JsonDict) -> ConfigDict:
    """A request body's examples for the OpenAPI document (strict and closed, like every request)."""
    return ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": list(samples)})


class OnDemandIn(RequestBody):
    """Runs only when started by run-now, a group or the API."""

    model_config = examples({"kind": "on_demand"})

    kind: Literal["on_demand"]


class TimedIn(RequestBody):
    """What every timed schedule has: an IANA time zone, and the optional 15-minute start window."""

    time_zone: TimeZoneName = Field(default="UTC", description="An IANA time zone, e.g. Europe/Amsterdam")
    start_window: bool = Field(
        default=False, description="Start at a random minute of the 15 minutes that begin at the scheduled time"
    )


class OneTimeIn(TimedIn):
    """Once, at a wall-clock date and time in the time zone."""

    model_config = examples({"kind": "one_time", "at": "2027-01-31T06:30", "time_zone": "Europe/Amsterdam"})

    kind: Literal["one_time"]
    at: LocalDateTimeText


class DailyIn(TimedIn):
    """Every day at a wall-clock time; a time a daylight-saving jump skips runs at the first minute after it."""

    model_config = examples({"kind": "daily", "time": "06:30", "time_zone": "Europe/Amsterdam"})

    kind: Literal["daily"]
    time: TimeOfDayText


class WeeklyIn(TimedIn):
    """On the chosen weekdays at a wall-clock time."""

    model_config = examples({"kind": "weekly", "days": ["mon", "thu"], "time": "22:00", "time_zone": "UTC"})

    kind: Literal["weekly"]
    days: list[WeekdayName] = Field(min_length=1, max_length=7)
    time: TimeOfDayText


class MonthlyIn(TimedIn):
    """On a day of the month, or its last day, at a wall-clock time (a day past a month's end: its last day)."""

    model_config = examples({"kind": "monthly", "day": "last", "time": "23:30", "time_zone": "America/New_York"})

    kind: Literal["monthly"]
    day: MonthDay = Field(description="1 to 31, or last")
    time: TimeOfDayText


class CronIn(TimedIn):
    """A five-field cron expression (minute hour day-of-month month day-of-week) in the time zone."""

    model_config = examples({"kind": "cron", "expression": "*/15 8-18 * * mon-fri", "time_zone": "Asia/Tokyo"})

    kind: Literal["cron"]
    expression: CronExpression


class HostedSourceIn(RequestBody):
    """A file on the hosted file server, by its path under the account's root: no host, user, credential or host
    key (the runner reads the account's files itself)."""

    model_config = examples({"kind": "hosted", "path": "upload/customers_%YYYY%%MM%%DD%.csv"})

    kind: Literal["hosted"]
    path: HostedPath = Field(
        description="A folder and a file name, e.g. `upload/customers.csv`; the name may hold `*` and the date "
        "tokens %YYYY% %MM% %DD% %HH% %MI% %SS%"
    )


def _source_kind(value: object) -> str | None:
    """A source without `kind` is an external SFTP one, as before the hosted file server existed."""
    if not isinstance(value, dict):
        return "sftp"  # not an object: the SFTP shape says so
    kind = value.get("kind", "sftp")
    return kind if isinstance(kind, str) else None


_SOURCE_KIND = Discriminator(
    _source_kind,
    custom_error_type=RULE_ERROR,
    custom_error_message="{problem}",
    custom_error_context={"problem": "kind must be sftp or hosted"},
)
NewSourceIn = Annotated[Annotated[SourceIn, Tag("sftp")] | Annotated[HostedSourceIn, Tag("hosted")], _SOURCE_KIND]
EditedSourceIn = Annotated[
    Annotated[SourceUpdateIn, Tag("sftp")] | Annotated[HostedSourceIn, Tag("hosted")], _SOURCE_KIND
]


class FilesIn(RequestBody):
    """Companion files and where the file goes after the run, named after the data file the run reads
    (`customers.csv.gz` has the count file `customers.csv.gz.cnt`, in the same folder).

    A count file holds the number of data rows (header excluded): a mismatch fails the run before anything is
    written. With a ready file the run waits up to `ready_timeout_s` for it before reading the data file. With
    an archive folder the file is moved there after a success or a failure the file itself caused, and copied
    there after any other failure (it stays for the next run), as `<JobID>.<RunID>_<file name>`.
    """

    model_config = examples({"count_file": "cnt", "ready_file": "ready", "ready_timeout_s": 1800})

    count_file: Extension | None = Field(default=None, description="The count file's extension, e.g. `cnt`")
    ready_file: Extension | None = Field(default=None, description="The ready file's extension, e.g. `ready`")
    ready_timeout_s: ReadyTimeout = Field(default=3600, description="How long the run waits for the ready file")
    archive_folder: HostedPath | None = Field(
        default=None,
        description="A folder relative to the account's root (hosted) or to the login folder (external SFTP). "
        "Omitted on a hosted source: `archive`; null: the file is not archived",
    )


class LimitsIn(RequestBody):
    """Reject thresholds and row-volume gates (null: none): beyond any of them the run fails and writes nothing."""

    model_config = examples({"max_rejected_percent": 5, "min_rows": 1000})

    max_rejected_rows: RowCount | None = None
    max_rejected_percent: Percent | None = Field(default=None, description="Of the data rows read, 0 to 100")
    min_rows: RowCount | None = Field(default=None, description="Fewest data rows the file may hold")
    max_rows: RowCount | None = Field(default=None, description="Most data rows the file may hold")


ScheduleIn = Annotated[OnDemandIn | OneTimeIn | DailyIn | WeeklyIn | MonthlyIn | CronIn, Field(discriminator="kind")]

EmailAddress = Annotated[str, Field(max_length=lim.MAX_EMAIL)]


class NotificationsIn(RequestBody):
    """Who hears about a run's end: on success and/or on failure, by email and/or a signed webhook (JSON POST,
    HMAC-SHA256). The scheduler checks the addresses and the URL (at most 20 addresses, an http(s) URL)."""

    model_config = examples(
        {"on_failure": True, "emails": ["ops@example.com"], "webhook_url": "https://hooks.example.com/connect"}
    )

    on_success: bool = False
    on_failure: bool = False
    emails: list[EmailAddress] = Field(default_factory=list, max_length=lim.MAX_EMAILS)
    webhook_url: Annotated[str, Field(max_length=lim.MAX_WEBHOOK_URL)] | None = None


class RetryIn(RequestBody):
    """How often a run is tried again after a transient failure (network, server unavailable); data errors are
    never retried. `attempts` counts the first; the n-th wait is `initial_backoff_s * multiplier**(n-1)`. The
    scheduler checks the bounds (1–10 attempts, 1 s to 6 h, a multiplier from 1 to 10)."""

    model_config = examples({"attempts": 3, "initial_backoff_s": 60, "multiplier": 2.0})

    attempts: Annotated[int, Field(ge=0, le=lim.MAX_INT)] = 1
    initial_backoff_s: Annotated[int, Field(ge=0, le=lim.MAX_INT)] = 60
    multiplier: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = 2.0


class ImportFields(RequestBody):
    """The fields every import job has, whatever its `type`.

    The scheduler checks the whole definition (the target and its columns, the schedule's time zone and cron
    expression, an expiration still ahead): a definition with errors is saved all the same, inactive, and
    the answer lists its `errors`; it can be activated once they are fixed.
    """

    name: JobName
    description: Description = ""
    source: SourceFields | HostedSourceIn
    file: FileIn = FileIn()
    mapping: list[MappingIn] = Field(min_length=1, max_length=lim.MAX_MAPPINGS)
    truncate_long_text: bool = Field(
        default=False, description="Cut text longer than its column instead of rejecting the row"
    )
    files: FilesIn = Field(default_factory=FilesIn)
    limits: LimitsIn = Field(default_factory=LimitsIn)
    schedule: ScheduleIn = Field(default_factory=lambda: OnDemandIn(kind="on_demand"))
    expires_at: IsoDateTime | None = Field(default=None, description="When the job is deleted; null: never")
    retry: RetryIn = Field(default_factory=RetryIn)
    notifications: NotificationsIn = Field(default_factory=NotificationsIn)


class JobFields(ImportFields):
    """The fields of an *import custom table* job."""

    type: Literal["import_custom_table"]
    target: TargetIn


class JobIn(JobFields):
    """A job to create; `activate` also activates it when it has no errors."""

    source: NewSourceIn = Field(description="An external SFTP server (`kind` sftp, the default) or the hosted one")
    activate: bool = False


class JobUpdateIn(JobFields):
    """A job's full replacement, based on `expected_version` (a stale one is refused with 409)."""

    source: EditedSourceIn = Field(
        description="An external SFTP server (`kind` sftp, the default) or the hosted one; moving a job to an "
        "external server needs its secret, moving it to the hosted one forgets it"
    )
    expected_version: Version


class CopyIn(RequestBody):
    """The copy's name; the copy gets a new Job ID and is inactive."""

    model_config = examples({"name": "Import stores (copy)"})

    name: JobName


class DeleteJobsIn(RequestBody):
    """The jobs to delete, each at most once."""

    model_config = examples({"job_ids": [1042, 1043]})

    job_ids: list[JobIdValue] = Field(
        min_length=1, max_length=lim.MAX_BULK_DELETE, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("job_ids")
    @classmethod
    def _each_once(cls, job_ids: list[int]) -> list[int]:
        if len(set(job_ids)) != len(job_ids):
            raise PydanticCustomError(RULE_ERROR, "{problem}", {"problem": "name each job once"})
        return job_ids


class JobWrittenOut(ResponseBody):
    """A job was created or changed; `version` is what the next edit sends as `expected_version`.

    `errors` are those the definition was saved with: a job with errors is an inactive draft until they are
    fixed. `state` is the job's state after the change (null for a deleted job).
    """

    job_id: int
    version: int
    url: str
    state: JobStateName | None = None
    errors: list[ErrorItem] = []


class ResultErrorOut(ResponseBody):
    """Why one job of a multi-job request was refused, in the shape of every error."""

    code: ErrorCode
    reason: RefusalReason | None = None
    message: str


class DeleteResultOut(ResponseBody):
    """What came of deleting one job: deleted, refused (`error`), or not decided in time (`status_url`)."""

    job_id: int
    deleted: bool
    error: ResultErrorOut | None = None
    status_url: str | None = Field(default=None, description="When no decision arrived in time: where it will be")


class DeleteJobsOut(ResponseBody):
    """One result per requested job, in the request's order."""

    results: list[DeleteResultOut]


class StopRequestedOut(ResponseBody):
    """The run was asked to stop; it ends *Stopped* (or, if it finished first, its log says the stop came late)."""

    job_id: int
    run_id: int
    run: str = Field(description="`JobID.RunID`")
    status_url: str


class HistoryEntryOut(ResponseBody):
    """One change of a job: its version, when, by whom, what; an edit names the fields it changed."""

    version: int
    at: datetime
    by: str
    what: str = Field(description="created | copied | updated | activated | deactivated | deleted")
    reason: str | None = Field(description="deleted: user | expired")
    copied_from: int | None = Field(description="copied: the job this one copies")
    changed: list[str] = Field(description="updated: the changed fields, as the request names them")


class RunStartedOut(ResponseBody):
    """A run was requested."""

    job_id: int
    run_id: int
    run: str = Field(description="`JobID.RunID`")
    status_url: str


class RunNowOut(RootModel[RunStartedOut | PendingOut]):
    """What run-now answers with 202: the run requested, or `pending` when no decision arrived in time."""


class SourceOut(ResponseBody):
    """Where the file comes from: `kind` and the fields that kind has (the others are null); the secret is never
    shown."""

    kind: Literal["sftp", "hosted"]
    path: str
    host: str | None = Field(default=None, description="sftp")
    port: int | None = Field(default=None, description="sftp")
    user: str | None = Field(default=None, description="sftp")
    host_key: str | None = Field(default=None, description="sftp")
    host_key_fingerprint: str | None = Field(default=None, description="sftp")


class FileOut(ResponseBody):
    """How the file is written."""

    delimiter: str
    qualifier: str
    header: bool
    encoding: str
    decimal_separator: str


class FilesOut(ResponseBody):
    """Companion files and where the file goes after the run (null: none)."""

    count_file: str | None
    ready_file: str | None
    ready_timeout_s: int
    archive_folder: str | None


class LimitsOut(ResponseBody):
    """Reject thresholds and row-volume gates (null: none)."""

    max_rejected_rows: int | None
    max_rejected_percent: float | None
    min_rows: int | None
    max_rows: int | None


class TargetOut(ResponseBody):
    """The custom table loaded and how."""

    table: str
    write_mode: str
    insert_on_no_match: bool
    update_on_match: bool


class MappingOut(ResponseBody):
    """Source column to target column, and how a date or timestamp is written (null: the default)."""

    source: str
    target: str
    format: str | None = None


class ScheduleOut(ResponseBody):
    """When the job runs: `kind` and the fields that kind has (the others are null)."""

    kind: str = Field(description="on_demand | one_time | daily | weekly | monthly | cron")
    time_zone: str | None = None
    start_window: bool | None = None
    at: str | None = Field(default=None, description="one_time: local date and time")
    time: str | None = Field(default=None, description="daily, weekly, monthly: HH:MM")
    days: list[str] | None = Field(default=None, description="weekly")
    day: int | Literal["last"] | None = Field(default=None, description="monthly")
    expression: str | None = Field(default=None, description="cron")


class JobSummaryOut(ResponseBody):
    """A row of the All jobs tab: Job ID, Group, Name, Job type, Created on, By, Job state, Next run, Previous
    run, Schedule type, Expiration date; and whether it has errors, and its run in progress."""

    job_id: int
    group: int | None = Field(description="The Group ID of the group the job is in; null when in none")
    name: str
    description: str
    type: str
    created_at: datetime
    created_by: str
    state: JobStateName
    next_run_at: datetime | None = Field(description="The next scheduled fire; null when none is scheduled")
    previous_run_at: datetime | None = Field(description="When the latest run was requested (its fire time)")
    schedule_type: str = Field(description="on_demand | one_time | daily | weekly | monthly | cron")
    expires_at: datetime | None
    has_errors: bool
    running_run_id: int | None = Field(description="The queued or running run, if any")
    version: int
    updated_at: datetime
    updated_by: str
    last_run: str | None = Field(description="The latest run, `JobID.RunID`")
    copied_from: int | None


class NotificationsOut(ResponseBody):
    """Who hears about a run's end, and when."""

    on_success: bool
    on_failure: bool
    emails: list[str]
    webhook_url: str | None = Field(
        description="The URL runs are POSTed to, whole for data directors and admins only: it often holds the "
        "receiver's secret token, so other roles see its scheme and host, e.g. `https://hooks.example.com/…`; "
        "null: no webhook"
    )


class RetryOut(ResponseBody):
    """How a run is tried again after a transient failure."""

    attempts: int
    initial_backoff_s: int
    multiplier: float


class ImportJobOut(JobSummaryOut):
    """What every import job shows: its settings, and the errors it was saved with (fields named as in the
    request)."""

    source: SourceOut
    file: FileOut
    mapping: list[MappingOut]
    truncate_long_text: bool
    files: FilesOut
    limits: LimitsOut
    schedule: ScheduleOut
    retry: RetryOut
    notifications: NotificationsOut
    errors: list[ErrorItem]


class JobOut(ImportJobOut):
    """An *import custom table* job with its settings."""

    target: TargetOut


class CountsOut(ResponseBody):
    """Counters of a run."""

    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    bytes_transferred: int
    skipped: int = Field(
        description="Profile imports: rows the job's switches left alone (no match and no insert, or a match and "
        "no update)"
    )
    duplicates: int = Field(description="Profile imports: earlier rows of a key the file repeats (the last won)")
    filtered: int = Field(
        default=0, description="Analytics feeds: hits the filters dropped (excluded, data-source), within rows_read"
    )


class RunOut(ResponseBody):
    """One run; also a row of the Completed jobs tab: `JobID.RunID`, `GroupID.RunID`, Group, Name, Job type,
    Start time, Duration, Run status and the counts."""

    id: str = Field(description="`JobID.RunID` (the same as `run_key`)")
    run_key: str = Field(description="`JobID.RunID`")
    group_run_key: str | None = Field(description="`GroupID.RunID` of the group run this run is a member of")
    group: int | None = Field(description="The Group ID of that group run")
    job_id: int
    run_id: int
    job_name: str
    job_type: str | None
    job_deleted: bool
    status: RunStatusName
    trigger: str
    dry_run: bool = Field(description="A dry run: its counts and rejects say what a run would do; it wrote nothing")
    attempt: int
    counts: CountsOut
    total_bytes: int | None
    stage: str | None
    requested_at: datetime
    scheduled_for: datetime | None = Field(description="A scheduled fire: the time it stands for")
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    error_code: str | None
    error: str | None
    url: str
    log_url: str


class LogLineOut(ResponseBody):
    """One log entry."""

    at: datetime
    level: str
    message: str


class RunLogOut(ResponseBody):
    """A run's log in order."""

    run: str
    lines: list[LogLineOut]


class HealthOut(ResponseBody):
    """Liveness or readiness, with the checks that failed."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}


class GroupFields(RequestBody):
    """A group: at least two active, on-demand, non-partner jobs in running order, each in no other group.

    The scheduler checks the rules and refuses a group that breaks one (nothing is saved), every error at once
    with its field (`members[1]`) and the most precise `reason` (e.g. `GROUP_MEMBER_NOT_ON_DEMAND`).
    """

    name: JobName
    description: Description = ""
    members: list[JobIdValue] = Field(
        max_length=lim.MAX_GROUP_MEMBERS, description="Job IDs in running order (at least 2, at most 100)"
    )
    schedule: ScheduleIn = Field(default_factory=lambda: OnDemandIn(kind="on_demand"))
    expires_at: IsoDateTime | None = Field(default=None, description="When the group is deleted (its jobs stay)")
    notifications: NotificationsIn = Field(
        default_factory=NotificationsIn, description="Sent once, after a group run ends"
    )


class GroupIn(GroupFields):
    """A group to create."""

    model_config = examples(
        {
            "name": "Nightly chain",
            "description": "stores, then orders",
            "members": [1042, 1043],
            "schedule": {"kind": "daily", "time": "02:00", "time_zone": "Europe/Amsterdam"},
            "notifications": {"on_failure": True, "emails": ["ops@example.com"]},
        }
    )


class GroupUpdateIn(GroupFields):
    """A group's full replacement, based on `expected_version` (a stale one is refused with 409 STALE_VERSION)."""

    model_config = examples({"name": "Nightly chain", "members": [1043, 1042], "expected_version": 1})

    expected_version: Version


class GroupWrittenOut(ResponseBody):
    """A group was created or changed; `version` is what the next edit sends as `expected_version`."""

    group_id: int
    version: int
    url: str


class GroupSummaryOut(ResponseBody):
    """A row of the Group jobs tab: Group ID, Created on, By, Name, Next run, Previous run, Schedule type,
    Expiration date; and its latest and running group runs."""

    group_id: int
    name: str
    description: str
    created_at: datetime
    created_by: str
    next_run_at: datetime | None = Field(description="The next scheduled fire; null when none is scheduled")
    previous_run_at: datetime | None = Field(description="When the latest group run was requested (its fire time)")
    schedule_type: str = Field(description="on_demand | one_time | daily | weekly | monthly | cron")
    expires_at: datetime | None
    version: int
    updated_at: datetime
    updated_by: str
    last_run: str | None = Field(description="The latest group run, `GroupID.RunID`")
    running_run: str | None = Field(description="The group run in progress, `GroupID.RunID`")
    url: str


class GroupMemberOut(ResponseBody):
    """A member job, in running order."""

    position: int = Field(description="1 for the job that runs first")
    job_id: int
    url: str


class GroupOut(GroupSummaryOut):
    """A group with its members in running order, its schedule and its notifications."""

    members: list[GroupMemberOut]
    schedule: ScheduleOut
    notifications: NotificationsOut


class GroupRunStartedOut(ResponseBody):
    """A group run was requested (its first member starts at once), or asked to stop."""

    group_id: int
    run_id: int
    run: str = Field(description="`GroupID.RunID`")
    status_url: str


class GroupRunNowOut(RootModel[GroupRunStartedOut | PendingOut]):
    """What group run-now answers with 202: the group run requested, or `pending` when no decision arrived."""


class GroupRunMemberOut(ResponseBody):
    """A member of a group run in running order: its run once started (`run` null: it never started)."""

    position: int = Field(description="1 for the member that runs first")
    job_id: int
    run: str | None = Field(description="The member run, `JobID.RunID`")
    run_id: int | None
    status: RunStatusName | None = Field(description="The member run's status; null when it never started")
    url: str | None


class GroupRunOut(ResponseBody):
    """One group run, `GroupID.RunID`: its status (running, then exactly one of succeeded, failed, stopped,
    skipped), and for one that did not succeed the member that did not, with the error in words."""

    id: str = Field(description="`GroupID.RunID`")
    group_id: int
    run_id: int
    group_name: str
    status: RunStatusName
    trigger: str = Field(description="manual | schedule")
    requested_at: datetime
    scheduled_for: datetime | None = Field(description="A scheduled fire: the time it stands for")
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    stop_requested: bool
    failed_job_id: int | None = Field(description="The member that did not succeed")
    failed_run: str | None = Field(description="Its run, `JobID.RunID` (null when it could not start)")
    error: str | None
    url: str


class GroupRunDetailOut(GroupRunOut):
    """A group run with its members in running order (and their runs) and its log."""

    members: list[GroupRunMemberOut]
    log: list[LogLineOut]
