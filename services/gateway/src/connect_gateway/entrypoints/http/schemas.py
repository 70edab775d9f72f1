"""Request and response bodies of the REST API.

These are not the event contract: `mapping.py` converts explicitly, so the API and the events evolve apart.
Requests forbid unknown fields, so a misspelt field is an error instead of a silently ignored value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, Secret, StringConstraints

from connect_gateway.domain import limits as lim
from connect_gateway.domain.errors import ErrorCode

ColumnTypeName = Literal["text", "integer", "number", "boolean", "date", "timestamp"]
DelimiterChar = Literal[",", ";", "\t", "|"]
QualifierChar = Literal['"', ""]
EncodingName = Literal["utf-8", "iso-8859-1", "windows-1252", "utf-16"]
WriteModeName = Literal["merge", "append", "overwrite"]
JobStateName = Literal["active", "inactive"]
RunStatusName = Literal["queued", "running", "succeeded", "failed", "stopped", "skipped"]

Identifier = Annotated[str, StringConstraints(max_length=lim.MAX_IDENTIFIER)]
MappingName = Annotated[str, StringConstraints(max_length=lim.MAX_MAPPING_NAME)]
# A size of a column; the scheduler checks the real range, this only keeps the number an int.
ColumnSize = Annotated[int, Field(ge=-lim.MAX_INT, le=lim.MAX_INT)]
# Secret[...] keeps the value out of reprs and, unlike SecretStr, reports a too-long value like any string.
PrivateKey = Secret[Annotated[str, StringConstraints(max_length=lim.MAX_PRIVATE_KEY)]]
Password = Secret[Annotated[str, StringConstraints(max_length=lim.MAX_PASSWORD)]]


class RequestBody(BaseModel):
    """Base of request bodies."""

    model_config = ConfigDict(extra="forbid")


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
    max_length: ColumnSize | None = None
    precision: ColumnSize | None = None
    scale: ColumnSize | None = None


class TableIn(RequestBody):
    """A custom table to define."""

    name: Identifier
    columns: list[ColumnIn] = Field(max_length=lim.MAX_COLUMNS)
    primary_key: list[Identifier] = Field(max_length=lim.MAX_COLUMNS)


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


class SourceIn(RequestBody):
    """An external SFTP file; exactly one of `private_key` and `password` (optional on update)."""

    host: str = Field(min_length=1, max_length=lim.MAX_HOST)
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(min_length=1, max_length=lim.MAX_USER)
    path: str = Field(min_length=1, max_length=lim.MAX_PATH)
    private_key: PrivateKey | None = Field(
        default=None,
        description="OpenSSH or PEM, without passphrase; on update, required again when host, port or user changes",
        json_schema_extra={"format": "password", "writeOnly": True},
    )
    password: Password | None = Field(default=None, json_schema_extra={"format": "password", "writeOnly": True})
    host_key: str | None = Field(
        default=None,
        max_length=lim.MAX_HOST_KEY,
        description="The server's public host key line; read from the server when omitted",
    )


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

    source: MappingName
    target: MappingName


class JobFields(RequestBody):
    """The fields of an *import custom table* job."""

    name: str = Field(max_length=lim.MAX_NAME)
    description: str = Field(default="", max_length=lim.MAX_DESCRIPTION)
    type: Literal["import_custom_table"]
    source: SourceIn
    file: FileIn = FileIn()
    target: TargetIn
    mapping: list[MappingIn] = Field(max_length=lim.MAX_MAPPINGS)


class JobIn(JobFields):
    """A job to create; `activate` also activates it when it has no errors."""

    activate: bool = False


class JobUpdateIn(JobFields):
    """A job's full replacement, based on `expected_version` (a stale one is refused with 409)."""

    expected_version: int = Field(ge=1, le=lim.MAX_INT)


class JobWrittenOut(ResponseBody):
    """A job was created or changed; `version` is what the next edit sends as `expected_version`."""

    job_id: int
    version: int
    url: str


class RunStartedOut(ResponseBody):
    """A run was requested."""

    job_id: int
    run_id: int
    run: str
    status_url: str


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
