"""Request and response bodies of *export* jobs (`type` `export_file`, spec §5.1-5.2): what is exported (`source`:
a list, an audience, a PET or a custom table), where the file goes (`destination`: an external SFTP folder or the
hosted server's `download/` folder) and how it is written (`file`, `files`, `incremental`)."""

from __future__ import annotations

import builtins
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from connect_events import MatchColumn
from connect_gateway.domain import limits as lim
from connect_gateway.entrypoints.http.fields import (
    LINE,
    Description,
    Extension,
    Identifier,
    IsoDateTime,
    JobName,
    Password,
    User,
    Version,
)
from connect_gateway.entrypoints.http.schemas import (
    DelimiterChar,
    EditedSourceIn,
    EncodingName,
    ErrorItem,
    HostedSourceIn,
    JobSummaryOut,
    NewSourceIn,
    NotificationsIn,
    NotificationsOut,
    OnDemandIn,
    QualifierChar,
    RequestBody,
    ResponseBody,
    RetryIn,
    RetryOut,
    ScheduleIn,
    ScheduleOut,
    SourceFields,
    SourceOut,
    examples,
)

Columns = Annotated[list[Identifier], Field(max_length=lim.MAX_MAPPINGS)]


class ListSourceIn(RequestBody):
    """The rows of a profile list: the chosen columns in order (none: every column, system columns first)."""

    model_config = examples({"kind": "list", "list": "customers", "columns": ["EMAIL_ADDRESS_", "CITY_"]})

    kind: Literal["list"]
    list: Identifier
    columns: Columns = Field(default_factory=builtins.list)


class AudienceSourceIn(RequestBody):
    """The rows of an audience: its columns in its order."""

    model_config = examples({"kind": "audience", "audience": "Active buyers"})

    kind: Literal["audience"]
    audience: Identifier


class PetSourceIn(RequestBody):
    """The rows of a PET, each with the columns `key_columns` of its list row first, then the PET's own columns
    (none chosen: every one)."""

    model_config = examples({"kind": "pet", "pet": "purchases", "key_columns": ["CUSTOMER_ID_"]})

    kind: Literal["pet"]
    pet: Identifier
    key_columns: Columns = Field(default_factory=lambda: ["RIID_"])
    columns: Columns = Field(default_factory=list)


class TableSourceIn(RequestBody):
    """The rows of a custom table: the chosen columns in order (none: every column)."""

    model_config = examples({"kind": "table", "table": "stores"})

    kind: Literal["table"]
    table: Identifier
    columns: Columns = Field(default_factory=list)


ExportSourceIn = Annotated[ListSourceIn | AudienceSourceIn | PetSourceIn | TableSourceIn, Field(discriminator="kind")]


class OutputIn(RequestBody):
    """How the file is written. `quote`: `needed` qualifies only values holding the delimiter, the qualifier or
    a line break (and empty text); `always` every value. `escape_formulas` puts `'` before text starting with
    `=`, `+`, `-` or `@` (spreadsheet formula injection). `gzip` and `zip` need a file name ending `.gz` and
    `.zip`."""

    model_config = examples({"delimiter": ",", "quote": "always", "line_ending": "crlf", "compression": "gzip"})

    delimiter: DelimiterChar = ","
    qualifier: QualifierChar = '"'
    quote: Literal["needed", "always"] = "needed"
    header: bool = True
    encoding: EncodingName = "utf-8"
    line_ending: Literal["lf", "crlf"] = "lf"
    compression: Literal["none", "gzip", "zip"] = "none"
    escape_formulas: bool = False


class ExportFilesIn(RequestBody):
    """Companion files written after the data file, named after it (`customers.csv.cnt`): a count file holding
    the number of data rows, then an empty ready file."""

    model_config = examples({"count_file": "cnt", "ready_file": "ready"})

    count_file: Extension | None = Field(default=None, description="The count file's extension, e.g. `cnt`")
    ready_file: Extension | None = Field(default=None, description="The ready file's extension, e.g. `ready`")


class ExportJobFields(RequestBody):
    """The fields of an *export* job. The file is written under a temporary name beside the final one and
    renamed once complete (a stopped or failed run leaves nothing under the final name). The scheduler checks
    the definition against the list, audience, PET or table as defined now; a definition with errors is saved
    as an inactive draft with its `errors`."""

    type: Literal["export_file"]
    name: JobName
    description: Description = ""
    source: ExportSourceIn
    destination: SourceFields | HostedSourceIn
    file: OutputIn = Field(default_factory=OutputIn)
    files: ExportFilesIn = Field(default_factory=ExportFilesIn)
    incremental: bool = Field(
        default=False, description="Only the rows modified since the job's last successful run (lists, audiences)"
    )
    schedule: ScheduleIn = Field(default_factory=lambda: OnDemandIn(kind="on_demand"))
    expires_at: IsoDateTime | None = Field(default=None, description="When the job is deleted; null: never")
    retry: RetryIn = Field(default_factory=RetryIn)
    notifications: NotificationsIn = Field(default_factory=NotificationsIn)


class ExportJobIn(ExportJobFields):
    """An export job to create; `activate` also activates it when it has no errors."""

    destination: NewSourceIn = Field(
        description="An external SFTP folder and file name (`kind` sftp, the default; the name may hold the date "
        "tokens %YYYY% %MM% %DD% %HH% %MI% %SS%) or a file in the hosted server's `download/` folder"
    )
    activate: bool = False


class ExportJobUpdateIn(ExportJobFields):
    """An export job's full replacement, based on `expected_version` (a stale one is refused with 409)."""

    destination: EditedSourceIn = Field(
        description="As on create; omit `private_key`/`password` to keep the stored secret"
    )
    expected_version: Version


class ExportSourceOut(ResponseBody):
    """What is exported: `kind` and that kind's fields (the others are null)."""

    kind: Literal["list", "audience", "pet", "table"]
    list: str | None = None
    audience: str | None = None
    pet: str | None = None
    table: str | None = None
    key_columns: builtins.list[str] | None = None
    columns: builtins.list[str] | None = None


class OutputOut(ResponseBody):
    """How the file is written."""

    delimiter: str
    qualifier: str
    quote: str
    header: bool
    encoding: str
    line_ending: str
    compression: str
    escape_formulas: bool


class ExportFilesOut(ResponseBody):
    """Companion files written after the data file (null: none)."""

    count_file: str | None
    ready_file: str | None


class ExportJobOut(JobSummaryOut):
    """An *export* job with its settings (never its secret), and the errors it was saved with."""

    source: ExportSourceOut
    destination: SourceOut
    file: OutputOut
    files: ExportFilesOut
    incremental: bool
    schedule: ScheduleOut
    retry: RetryOut
    notifications: NotificationsOut
    errors: list[ErrorItem]


# Exports to a marketing API (`type` `export_api`, spec §5.3).

ApiSourceIn = Annotated[ListSourceIn | AudienceSourceIn, Field(discriminator="kind")]
ApiUrl = Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_WEBHOOK_URL), LINE]
RemoteName = Annotated[str, StringConstraints(min_length=1, max_length=255), LINE]
MergeValue = Annotated[str, StringConstraints(min_length=1, max_length=64), LINE]


class EndpointIn(RequestBody):
    """A Responsys-compatible API: the login server (`https://…`, no path), the API user and its password (vaulted,
    never returned; on update omit it to keep the stored one while URL and user stay), and the most calls a
    minute."""

    model_config = examples({"url": "https://login.example.com", "user": "api-user", "password": "…"})

    url: ApiUrl
    user: User
    password: Password | None = Field(default=None, json_schema_extra={"format": "password", "writeOnly": True})
    calls_per_minute: Annotated[int, Field(ge=1, le=100_000)] = 60


class MergeIn(RequestBody):
    """How the remote list merges the records (the API's `mergeRule`)."""

    insert_on_no_match: bool = True
    update_on_match: Literal["NO_UPDATE", "REPLACE_ALL"] = "REPLACE_ALL"
    match_column_1: MatchColumn = "EMAIL_ADDRESS_"
    match_column_2: MatchColumn | None = None
    opt_in_value: MergeValue = "I"
    opt_out_value: MergeValue = "O"
    html_value: MergeValue = "H"
    text_value: MergeValue = "T"
    default_permission: Literal["OPTIN", "OPTOUT"] = "OPTOUT"
    reject_if_channel_empty: builtins.list[Literal["E", "M", "P"]] = Field(default_factory=builtins.list)


class ApiExportJobFields(RequestBody):
    """The fields of an *export to marketing API* job: the rows of a list or an audience merged into
    `remote_list`, 200 records a call; records the API refuses become the run's rejects."""

    type: Literal["export_api"]
    name: JobName
    description: Description = ""
    source: ApiSourceIn
    endpoint: EndpointIn
    remote_list: RemoteName
    merge: MergeIn = Field(default_factory=MergeIn)
    incremental: bool = False
    schedule: ScheduleIn = Field(default_factory=lambda: OnDemandIn(kind="on_demand"))
    expires_at: IsoDateTime | None = Field(default=None, description="When the job is deleted; null: never")
    retry: RetryIn = Field(default_factory=RetryIn)
    notifications: NotificationsIn = Field(default_factory=NotificationsIn)


class ApiExportJobIn(ApiExportJobFields):
    """An export to a marketing API to create (the endpoint's password is required); `activate` as for others."""

    activate: bool = False


class ApiExportJobUpdateIn(ApiExportJobFields):
    """An export to a marketing API's full replacement, based on `expected_version`."""

    expected_version: Version


class EndpointOut(ResponseBody):
    """The API's login server, user and pace (never the password)."""

    url: str
    user: str
    calls_per_minute: int


class MergeOut(ResponseBody):
    """The merge rule."""

    insert_on_no_match: bool
    update_on_match: str
    match_column_1: str
    match_column_2: str | None
    opt_in_value: str
    opt_out_value: str
    html_value: str
    text_value: str
    default_permission: str
    reject_if_channel_empty: builtins.list[str]


class ApiExportJobOut(JobSummaryOut):
    """An *export to marketing API* job with its settings (never the password), and its errors."""

    source: ExportSourceOut
    endpoint: EndpointOut
    remote_list: str
    merge: MergeOut
    incremental: bool
    schedule: ScheduleOut
    retry: RetryOut
    notifications: NotificationsOut
    errors: builtins.list[ErrorItem]
