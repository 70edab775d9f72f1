"""Definitions carried inside events and commands: tables, file settings, job settings.

These are data, not rules: the scheduler's domain validates them (all errors at once, each naming its
field) so that a later capability can store a definition that still has errors as an inactive draft.
"""

from __future__ import annotations

from datetime import datetime
from datetime import time as TimeOfDay
from enum import StrEnum
from typing import Annotated, Literal, get_args
from uuid import UUID

from pydantic import Discriminator, Field, Tag

from connect_events.envelope import Message


class ColumnType(StrEnum):
    """Column types of audience-store tables."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"


class ColumnSpec(Message):
    """One column of a table; `max_length` is for text, `precision`/`scale` for number."""

    name: str
    type: ColumnType
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None


class TableSpec(Message):
    """A custom (supplemental) table: columns and the primary-key column names."""

    name: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...]

    def column(self, name: str) -> ColumnSpec | None:
        """The column called `name` (case-insensitive), if any."""
        wanted = name.lower()
        return next((c for c in self.columns if c.name.lower() == wanted), None)


class SftpLocation(Message):
    """A file on an external SFTP server. The credential lives in the vault; only its reference is here."""

    kind: Literal["sftp"] = "sftp"
    host: str
    port: int = 22
    user: str
    path: str
    credential_ref: UUID
    host_key: str = Field(description="The server's public host key (OpenSSH format), pinned on first save")
    host_key_fingerprint: str


class HostedLocation(Message):
    """A file on Connect's own hosted file server (spec §2), by its path under the account's root: a folder
    (`upload/`, `download/`, `archive/` or one the users added) and a file name or pattern, e.g.
    `upload/customers_*.csv`. No credential: the runner reads the account's files itself."""

    kind: Literal["hosted"] = "hosted"
    path: str


def _location_kind(value: object) -> str:
    """The kind of a file location; locations stored before kinds existed are external SFTP ones."""
    found = value.get("kind", "sftp") if isinstance(value, dict) else getattr(value, "kind", "sftp")
    return str(found)


FileLocation = Annotated[
    Annotated[SftpLocation, Tag("sftp")] | Annotated[HostedLocation, Tag("hosted")],
    Discriminator(_location_kind),
]
"""Where an import reads its file: an external SFTP server or the hosted file server."""


Delimiter = Literal[",", ";", "\t", "|"]


class CsvSettings(Message):
    """How the source file is written."""

    delimiter: Delimiter = ","
    qualifier: Literal['"', ""] = '"'
    header: bool = True
    encoding: Literal["utf-8", "iso-8859-1", "windows-1252", "utf-16"] = "utf-8"
    decimal_separator: Literal[".", ","] = Field(
        default=".", description="How numbers write their fraction (`,`: `1234,5`; no thousands separators)"
    )


class ColumnMapping(Message):
    """Source column (header name, or 1-based position without a header) to a target column; `format` reads a
    date or timestamp column written otherwise than `YYYY-MM-DD [HH24:MI:SS]` (see `connect_events.formats`)."""

    source: str
    target: str
    format: str | None = None


class FileRules(Message):
    """Companion files and where the file goes after the run (spec §4.1).

    Companion files are named after the data file the run reads, plus `.` and their extension
    (`customers.csv.gz` → `customers.csv.gz.cnt`), in the same folder. A count file holds the number of data rows
    (header excluded); a mismatch fails the run before anything is written. With a ready file the run waits up
    to `ready_timeout_s` for it before reading the data file. With an `archive_folder` (relative to the
    account's root on the hosted server, to the login folder on an external one) the file is moved there after
    a successful run or one the file itself failed, and copied there after any other failure (it stays for the
    next run); archived files are named `<JobID>.<RunID>_<file name>`.
    """

    count_file: str | None = Field(default=None, description="Extension of the count file, e.g. `cnt`")
    ready_file: str | None = Field(default=None, description="Extension of the ready file, e.g. `ready`")
    ready_timeout_s: int = Field(default=3600, description="How long the run waits for the ready file")
    archive_folder: str | None = Field(default=None, description="Where the file goes after the run")


class Limits(Message):
    """Reject thresholds and row-volume gates (spec §4.5): beyond any of them the run fails and writes nothing."""

    max_rejected_rows: int | None = None
    max_rejected_percent: float | None = Field(default=None, description="Of the data rows read, 0-100")
    min_rows: int | None = Field(default=None, description="Fewest data rows the file may hold")
    max_rows: int | None = Field(default=None, description="Most data rows the file may hold")


WriteMode = Literal["merge", "append", "overwrite"]


class ImportCustomTable(Message):
    """Settings of an *import custom table* job."""

    kind: Literal["import_custom_table"] = "import_custom_table"
    source: FileLocation
    file: CsvSettings = CsvSettings()
    table: str
    mapping: tuple[ColumnMapping, ...]
    write_mode: WriteMode = "merge"
    insert_on_no_match: bool = True
    update_on_match: bool = True
    truncate_long_text: bool = Field(
        default=False, description="Cut text longer than its column instead of rejecting the row"
    )
    files: FileRules = FileRules()
    limits: Limits = Limits()


MatchColumn = Literal[
    "RIID_", "CUSTOMER_ID_", "EMAIL_ADDRESS_", "MOBILE_NUMBER_", "EMAIL_MD5_HASH_", "EMAIL_SHA256_HASH_"
]
Channel = Literal["E", "M", "P"]  # e-mail address, mobile number, postal street


class PermissionMapping(Message):
    """Source values meaning opt-in (`I`) and opt-out (`O`), compared trimmed and case-insensitively; a row whose
    value is empty or neither gets `default`."""

    opt_in: tuple[str, ...] = ("I",)
    opt_out: tuple[str, ...] = ("O",)
    default: Literal["I", "O"] = "O"


class EmailFormatMapping(Message):
    """Source values meaning HTML (`H`) and text (`T`) mail, as for permissions; otherwise `default`."""

    html: tuple[str, ...] = ("H",)
    text: tuple[str, ...] = ("T",)
    default: Literal["H", "T"] = "H"


class PetImport(Message):
    """The columns of one PET filled from the same file; each row attaches to the list row it matched."""

    pet: str
    mapping: tuple[ColumnMapping, ...]


class ImportProfileData(Message):
    """Settings of an *import profile data* job (spec §4.3): one file into a profile list and its PETs.

    Rows match list rows on `match_column_1` and, when given, also `match_column_2`. Without a match a row is
    inserted (`insert_on_no_match`) or skipped; with one the mapped columns are replaced (`update_on_match`) or
    the row is left as it is. Permission and e-mail format values map through their mappings; a row whose
    channel in `reject_if_channel_empty` is empty is rejected `CHANNEL_EMPTY`. E-mail addresses must pass
    `email_check` (`strict`: RFC 5322 dot-atom local part and a domain of DNS labels with a top-level domain of
    letters; `basic`: one `@` with text on both sides and a dot in the domain). Mobile numbers are read in E.164
    (`+` and country code) or, in `local` mode, with `mobile_country` (ISO 3166 alpha-2) as their country;
    they are stored in E.164 with `MOBILE_COUNTRY_` set.
    """

    kind: Literal["import_profile_data"] = "import_profile_data"
    source: FileLocation
    file: CsvSettings = CsvSettings()
    list_name: str
    mapping: tuple[ColumnMapping, ...]
    pets: tuple[PetImport, ...] = ()
    match_column_1: MatchColumn = "EMAIL_ADDRESS_"
    match_column_2: MatchColumn | None = None
    insert_on_no_match: bool = True
    update_on_match: bool = True
    email_permission: PermissionMapping = PermissionMapping()
    mobile_permission: PermissionMapping = PermissionMapping()
    email_format: EmailFormatMapping = EmailFormatMapping()
    reject_if_channel_empty: tuple[Channel, ...] = ()
    email_check: Literal["strict", "basic"] = "strict"
    mobile_mode: Literal["e164", "local"] = "e164"
    mobile_country: str | None = Field(default=None, description="Country of local mobile numbers (ISO alpha-2)")
    truncate_long_text: bool = False
    files: FileRules = FileRules()
    limits: Limits = Limits()


FEED_LOOKUPS: dict[str, str] = {
    "browser": "browser",
    "color": "color_depth",
    "connection_type": "connection_type",
    "country": "country",
    "event_list": "event",
    "post_event_list": "event",
    "javascript": "javascript_version",
    "language": "languages",
    "os": "operating_systems",
    "plugins": "plugins",
    "referrer_type": "referrer_type",
    "resolution": "resolution",
    "search_engine": "search_engines",
    "post_search_engine": "search_engines",
}
"""Feed columns holding ids whose names a lookup file of the delivery gives (`browser` → `browser.tsv`); a list
column (`post_event_list`, `plugins`) holds comma-separated ids."""


class ImportAnalyticsFeed(Message):
    """Settings of an *import analytics feed* job (spec §6), a partner job: the deliveries of report suite
    `report_suite` that a web-analytics product writes into the folder `source.path` on an SFTP server, daily or
    hourly, each loaded once into the custom table `table`, or into the PET `pet` of a profile list.

    A delivery is complete when its manifest `<report_suite>_<YYYY-MM-DD>[-HH].txt` (or a `.fin` marker) is
    there; every file is checked against the manifest's size and MD5 before a hit is read. Every run loads the
    complete deliveries the job has not loaded yet, oldest first (a manifest delivered again with other contents
    is loaded again). `mapping` names feed columns as `column_headers.tsv` does (`post_evar12`, `visit_num`,
    `date_time`, `post_event_list`); the columns in `labels` are loaded as their lookup names instead of ids
    (`FEED_LOOKUPS`). Hits with `exclude_hit` > 0 are never loaded, nor data-source hits (`hit_source` 5, 7, 8, 9)
    with `drop_data_source_hits`. Into a custom table rows are written as an *import custom table* writes them.
    Into a PET, each hit finds its profile by the list's `match_column`, which one mapping fills (e.g.
    `post_evar12` → `CUSTOMER_ID_`), the others filling the PET's columns; a profile's later hit replaces its
    earlier ones, a hit without a match value is filtered (`NO_MATCH_VALUE`), and one whose profile does not exist
    is rejected (`NO_PARENT_RECORD`): a feed creates no profiles."""

    kind: Literal["import_analytics_feed"] = "import_analytics_feed"
    source: SftpLocation = Field(description="The SFTP server; `path` is the folder the deliveries arrive in")
    report_suite: str
    granularity: Literal["daily", "hourly"] = "daily"
    table: str = Field(default="", description="The custom table loaded (empty when a PET is)")
    pet: str | None = Field(default=None, description="The PET loaded instead of a custom table")
    match_column: MatchColumn = Field(default="CUSTOMER_ID_", description="With a PET: how a hit finds its profile")
    mapping: tuple[ColumnMapping, ...]
    labels: tuple[str, ...] = Field(default=(), description="Feed columns loaded as their lookup names")
    drop_data_source_hits: bool = False
    write_mode: WriteMode = "merge"
    insert_on_no_match: bool = True
    update_on_match: bool = True
    truncate_long_text: bool = False
    limits: Limits = Limits()


class ListExport(Message):
    """The rows of a profile list: the chosen columns, in order (every column, system columns first, when none
    are chosen)."""

    kind: Literal["list"] = "list"
    list_name: str
    columns: tuple[str, ...] = ()


class AudienceExport(Message):
    """The rows of an audience (spec §1): its list's rows that pass its filter, its columns in its order."""

    kind: Literal["audience"] = "audience"
    audience: str


class PetExport(Message):
    """The rows of a PET, each joined to its list row on `RIID_`: the list's `key_columns` first, then the PET's
    own columns (or the chosen ones)."""

    kind: Literal["pet"] = "pet"
    pet: str
    key_columns: tuple[str, ...] = ("RIID_",)
    columns: tuple[str, ...] = ()


class TableExport(Message):
    """The rows of a custom table: the chosen columns, in order (every column when none are chosen)."""

    kind: Literal["table"] = "table"
    table: str
    columns: tuple[str, ...] = ()


ExportSource = Annotated[ListExport | AudienceExport | PetExport | TableExport, Field(discriminator="kind")]
"""What an export job writes: a list, an audience, a PET or a custom table."""


class CsvOutput(Message):
    """How an export writes its file (spec §5.1).

    `quote`: `needed` qualifies only values holding the delimiter, the qualifier or a line break (and empty text,
    to tell it from a missing value); `always` every value (not the header). Without a qualifier, a delimiter or
    line break inside a value becomes a space. `escape_formulas` puts `'` before text starting with `=`, `+`,
    `-` or `@`, so spreadsheets do not run it. Values are written `true`/`false`, `YYYY-MM-DD`,
    `YYYY-MM-DD HH:MM:SS[.ffffff]` and plain numbers; a missing value is empty."""

    delimiter: Delimiter = ","
    qualifier: Literal['"', ""] = '"'
    quote: Literal["needed", "always"] = "needed"
    header: bool = True
    encoding: Literal["utf-8", "iso-8859-1", "windows-1252", "utf-16"] = "utf-8"
    line_ending: Literal["lf", "crlf"] = "lf"
    compression: Literal["none", "gzip", "zip"] = "none"
    escape_formulas: bool = False


class ExportFileRules(Message):
    """Companion files an export writes after its data file, named after it plus `.` and their extension: a
    count file holding the number of data rows, then an empty ready file."""

    count_file: str | None = Field(default=None, description="Extension of the count file, e.g. `cnt`")
    ready_file: str | None = Field(default=None, description="Extension of the ready file, e.g. `ready`")


class ExportFile(Message):
    """Settings of an *export* job (spec §5.1-5.2): rows of a list, an audience, a PET or a custom table written
    as a delimited file to `destination` (a folder and a file name, which may hold the date tokens an import's
    path may, `%YYYY%` `%MM%` `%DD%` `%HH%` `%MI%` `%SS%`, rendered in the job's time zone at the run's request;
    ending `.gz` or `.zip` when compressed).

    The file is written under a temporary name in the same folder and renamed when complete, so a reader never
    sees half a file; a stopped or failed run leaves nothing under the final name. `incremental` writes only
    the rows modified since the job's last successful run (lists and audiences, by `MODIFIED_DATE_`)."""

    kind: Literal["export_file"] = "export_file"
    source: ExportSource
    destination: FileLocation
    file: CsvOutput = CsvOutput()
    files: ExportFileRules = ExportFileRules()
    incremental: bool = False


class ApiEndpoint(Message):
    """A Responsys-compatible REST API (spec §5.3): the server a login goes to (`url`, scheme and host, e.g.
    `https://login.example.com`; later calls go to the `endPoint` its answer names), the user, the password's
    reference in the vault (never the password), and the most calls a minute the runner makes."""

    url: str
    user: str
    credential_ref: UUID
    calls_per_minute: int = Field(default=60, description="Pacing: the runner spaces its calls to stay under it")


class MergeRule(Message):
    """How the remote list merges the records (the API's `mergeRule`): match on one or two columns; insert when
    nothing matches; replace the matched record's fields or leave it; the values meaning opt-in/opt-out and
    HTML/text mail, the permission of a record without one, and the channels whose empty value rejects a record."""

    insert_on_no_match: bool = True
    update_on_match: Literal["NO_UPDATE", "REPLACE_ALL"] = "REPLACE_ALL"
    match_column_1: MatchColumn = "EMAIL_ADDRESS_"
    match_column_2: MatchColumn | None = None
    opt_in_value: str = "I"
    opt_out_value: str = "O"
    html_value: str = "H"
    text_value: str = "T"
    default_permission: Literal["OPTIN", "OPTOUT"] = "OPTOUT"
    reject_if_channel_empty: tuple[Channel, ...] = ()


ApiSource = Annotated[ListExport | AudienceExport, Field(discriminator="kind")]
"""What an export to a marketing API pushes: a list or an audience."""


class ExportApi(Message):
    """Settings of an *export to marketing API* job (spec §5.3): the rows of a list or an audience merged into
    the remote list `remote_list`, 200 records a call (field names: the columns' names). Per-record failures the
    API reports become the run's rejects; `incremental` as for file exports."""

    kind: Literal["export_api"] = "export_api"
    source: ApiSource
    endpoint: ApiEndpoint
    remote_list: str
    merge: MergeRule = MergeRule()
    incremental: bool = False


def _settings_kind(value: object) -> str:
    """The kind of a job's settings; settings written before other kinds existed are custom-table imports."""
    found = value.get("kind", "import_custom_table") if isinstance(value, dict) else getattr(value, "kind", None)
    return str(found)


# Discriminated by `kind`; later types join additively.
JobSettings = Annotated[
    Annotated[ImportCustomTable, Tag("import_custom_table")]
    | Annotated[ImportProfileData, Tag("import_profile_data")]
    | Annotated[ExportFile, Tag("export_file")]
    | Annotated[ExportApi, Tag("export_api")]
    | Annotated[ImportAnalyticsFeed, Tag("import_analytics_feed")],
    Discriminator(_settings_kind),
]
JOB_KINDS: tuple[str, ...] = tuple(
    str(tag.tag)
    for option in get_args(get_args(JobSettings)[0])
    for tag in get_args(option)[1:]
    if isinstance(tag, Tag)
)
"""Every job type's wire name (`import_custom_table`, ...), in the union's order."""
ImportSettings = ImportCustomTable | ImportProfileData
"""Every job type that reads a file (what import rules apply to)."""
ExportSettings = ExportFile | ExportApi
"""Every job type that writes the audience store's rows out."""
FileSettings = ImportSettings | ExportFile | ImportAnalyticsFeed
"""Every job type with a file location (an analytics feed's: the folder of its deliveries)."""


def file_location(settings: FileSettings) -> FileLocation:
    """Where the job's file is: an import's source, an export's destination."""
    return settings.destination if isinstance(settings, ExportFile) else settings.source


class OnDemand(Message):
    """Runs only when started by run-now, a group or the API."""

    kind: Literal["on_demand"] = "on_demand"


class TimedSchedule(Message):
    """What every timed schedule has: an IANA time zone, and the optional 15-minute start window (the run
    starts at a random minute of the 15 minutes that begin at the scheduled time)."""

    time_zone: str = "UTC"
    start_window: bool = False


class OneTime(TimedSchedule):
    """Once, at a wall-clock date-time in the schedule's time zone."""

    kind: Literal["one_time"] = "one_time"
    at: datetime = Field(description="Local date-time in `time_zone` (an offset, if given, is converted to it)")


class Daily(TimedSchedule):
    """Every day at a wall-clock time."""

    kind: Literal["daily"] = "daily"
    time: TimeOfDay


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Weekly(TimedSchedule):
    """On the chosen weekdays at a wall-clock time."""

    kind: Literal["weekly"] = "weekly"
    days: tuple[Weekday, ...]
    time: TimeOfDay


class Monthly(TimedSchedule):
    """On a day of the month (or its last day) at a wall-clock time; a day past a month's end runs on that
    month's last day."""

    kind: Literal["monthly"] = "monthly"
    day: int | Literal["last"]
    time: TimeOfDay


class Cron(TimedSchedule):
    """A five-field cron expression (minute hour day-of-month month day-of-week) in the time zone."""

    kind: Literal["cron"] = "cron"
    expression: str


# Discriminated by `kind`; later kinds join additively.
Schedule = Annotated[OnDemand | OneTime | Daily | Weekly | Monthly | Cron, Field(discriminator="kind")]
RECURRING_KINDS = frozenset({"daily", "weekly", "monthly", "cron"})


class RetryPolicy(Message):
    """How often a run is tried again after a transient failure (network, server unavailable); data errors are
    never retried. `attempts` counts the first one; the n-th wait is `initial_backoff_s * multiplier**(n-1)`."""

    attempts: int = 1
    initial_backoff_s: int = 60
    multiplier: float = 2.0


class Notifications(Message):
    """Who hears about a run's end: on success and/or failure, by email and/or a signed webhook (JSON POST)."""

    on_success: bool = False
    on_failure: bool = False
    emails: tuple[str, ...] = ()
    webhook_url: str | None = None


class JobDefinition(Message):
    """Everything a user saves about a job."""

    name: str
    description: str = ""
    settings: JobSettings
    schedule: Schedule = OnDemand()
    expires_at: datetime | None = None
    retry: RetryPolicy = RetryPolicy()
    notifications: Notifications = Notifications()


class RunCounts(Message):
    """Counters of one run."""

    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    bytes_transferred: int = 0
    skipped: int = Field(default=0, description="Rows that matched nothing and were not inserted (or the reverse)")
    duplicates: int = Field(default=0, description="Earlier rows of a key repeated in the file (the last one won)")
    filtered: int = Field(
        default=0, description="Analytics feed hits its filters dropped (excluded, data-source); part of rows_read"
    )
