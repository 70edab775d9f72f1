"""Request and response bodies of the REST API.

These are not the event contract: `mapping.py` converts explicitly, so the API and the events evolve apart.
Requests forbid unknown fields, so a misspelt field is an error instead of a silently ignored value, and
take each value only in the JSON type their schema states.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.config import JsonDict

from connect_gateway.domain import limits as lim
from connect_gateway.domain.errors import ErrorCode
from connect_gateway.entrypoints.http.fields import (
    Description,
    Host,
    HostKeyLine,
    Identifier,
    JobName,
    MaxLength,
    Password,
    Port,
    Precision,
    PrivateKey,
    Scale,
    SourceColumn,
    SourcePath,
    User,
    Version,
)

ColumnTypeName = Literal["text", "integer", "number", "boolean", "date", "timestamp"]
DelimiterChar = Literal[",", ";", "\t", "|"]
QualifierChar = Literal['"', ""]
EncodingName = Literal["utf-8", "iso-8859-1", "windows-1252", "utf-16"]
WriteModeName = Literal["merge", "append", "overwrite"]
JobStateName = Literal["active", "inactive"]
RunStatusName = Literal["queued", "running", "succeeded", "failed", "stopped", "skipped"]


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
    """Every error the API returns."""

    code: ErrorCode
    message: str
    errors: list[ErrorItem] = []


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
    message: str | None
    errors: list[ErrorItem]
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


class JobFields(RequestBody):
    """The fields of an *import custom table* job."""

    name: JobName
    description: Description = ""
    type: Literal["import_custom_table"]
    source: SourceFields
    file: FileIn = FileIn()
    target: TargetIn
    mapping: list[MappingIn] = Field(min_length=1, max_length=lim.MAX_MAPPINGS)


class JobIn(JobFields):
    """A job to create; `activate` also activates it when it has no errors."""

    source: SourceIn
    activate: bool = False


class JobUpdateIn(JobFields):
    """A job's full replacement, based on `expected_version` (a stale one is refused with 409)."""

    source: SourceUpdateIn
    expected_version: Version


class JobWrittenOut(ResponseBody):
    """A job was created or changed; `version` is what the next edit sends as `expected_version`."""

    job_id: int
    version: int
    url: str


class RunStartedOut(ResponseBody):
    """A run was requested."""

    job_id: int
    run_id: int
    run: str = Field(description="`JobID.RunID`")
    status_url: str


class RunNowOut(RootModel[RunStartedOut | PendingOut]):
    """What run-now answers with 202: the run requested, or `pending` when no decision arrived in time."""


class SourceOut(ResponseBody):
    """Where the file comes from; the secret is never shown."""

    host: str
    port: int
    user: str
    path: str
    host_key: str
    host_key_fingerprint: str


class FileOut(ResponseBody):
    """How the file is written."""

    delimiter: str
    qualifier: str
    header: bool
    encoding: str


class TargetOut(ResponseBody):
    """The custom table loaded and how."""

    table: str
    write_mode: str
    insert_on_no_match: bool
    update_on_match: bool


class MappingOut(ResponseBody):
    """Source column to target column."""

    source: str
    target: str


class ScheduleOut(ResponseBody):
    """When the job runs."""

    kind: str


class JobSummaryOut(ResponseBody):
    """A row of the job list."""

    job_id: int
    name: str
    description: str
    type: str
    state: str
    schedule_type: str
    version: int
    expires_at: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    last_run: str | None


class JobOut(JobSummaryOut):
    """A job with its settings."""

    source: SourceOut
    file: FileOut
    target: TargetOut
    mapping: list[MappingOut]
    schedule: ScheduleOut


class CountsOut(ResponseBody):
    """Counters of a run."""

    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    bytes_transferred: int


class RunOut(ResponseBody):
    """One run, `id` being `JobID.RunID`."""

    id: str
    job_id: int
    run_id: int
    job_name: str
    job_deleted: bool
    status: str
    trigger: str
    attempt: int
    counts: CountsOut
    total_bytes: int | None
    stage: str | None
    requested_at: datetime
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
