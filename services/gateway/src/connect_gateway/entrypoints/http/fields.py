"""The string types of request values: length limits, plus the rule each is checked against and documents.

Multi-line text (description, private key, password) only has to be storable; every other string is a
single line; names, identifiers and hosts follow their own rules (`connect_events.values`, which the scheduler
applies to commands again).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    PlainValidator,
    Secret,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from connect_events import values as v
from connect_events.formats import MAX_FORMAT_LENGTH
from connect_gateway.domain import limits as lim
from connect_gateway.domain.identity.passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH
from connect_gateway.domain.identity.users import MAX_TOKEN_NAME_LENGTH
from connect_gateway.domain.runs import RUN_KEY_PATTERN, run_key_problem
from connect_gateway.entrypoints.http.value_rule import RULE_ERROR, Rule
from connect_runtime.hosted_files import MAX_PATH_LENGTH, PathRefusedError, segments

TEXT = Rule(v.storable_problem, v.STORABLE_PATTERN)
LINE = Rule(v.control_problem, v.NO_CONTROL_PATTERN)
FILLED_LINE = Rule(v.filled_line_problem, v.FILLED_LINE_PATTERN)  # a single line that is not blank
IDENTIFIER = Rule(v.identifier_problem, v.IDENTIFIER_PATTERN)

Identifier = Annotated[str, StringConstraints(max_length=lim.MAX_IDENTIFIER), IDENTIFIER]
JobName = Annotated[
    str, StringConstraints(max_length=v.MAX_JOB_NAME_LENGTH), Rule(v.job_name_problem, v.JOB_NAME_PATTERN)
]
Description = Annotated[str, StringConstraints(max_length=lim.MAX_DESCRIPTION), TEXT]
SourceColumn = Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_MAPPING_NAME), FILLED_LINE]
Host = Annotated[
    str,
    StringConstraints(min_length=1, max_length=lim.MAX_HOST),
    Rule(v.host_problem, v.HOST_PATTERN),
]
User = Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_USER), FILLED_LINE]
SourcePath = Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_PATH), FILLED_LINE]
# A place in the hosted file server's tree: the pattern documents the form, `hosted_path_problem` is the rule
# (no leading `/`, no `.`/`..`/empty segment, no backslash or control character); links are looked for on use.
HOSTED_PATH_PATTERN = r"^[^/\\]([^\\]*[^/\\])?/?$"


def hosted_path_problem(path: str) -> str | None:
    """Why `path` cannot name a place in the account's tree (`hosted_files.segments`, in its words)."""
    try:
        segments(path)
    except PathRefusedError as exc:
        return str(exc)
    return None


HostedPath = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_PATH_LENGTH), Rule(hosted_path_problem, HOSTED_PATH_PATTERN)
]
HostKeyLine = Annotated[str, StringConstraints(max_length=lim.MAX_HOST_KEY), LINE]
# Secret[...] keeps the value out of reprs and, unlike SecretStr, reports a too-long value like any string.
PrivateKey = Secret[Annotated[str, StringConstraints(max_length=lim.MAX_PRIVATE_KEY), TEXT]]
Password = Secret[Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_PASSWORD), TEXT]]


_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
ISO_DATE_TIME_RULE = "must be a date and time in ISO 8601 with its offset, e.g. 2027-01-31T00:00:00Z"
IN_UTC_RULE = "must be a date and time between the years 1 and 9999 once converted to UTC"


def _iso_text(value: object) -> object:
    """JSON has no datetime: ISO 8601 text is the one form taken (lax parsing would take Unix seconds too)."""
    if not isinstance(value, str) or not _ISO_DATE_TIME.match(value):
        raise PydanticCustomError(RULE_ERROR, "{problem}", {"problem": ISO_DATE_TIME_RULE})
    return value


def _in_utc(moment: datetime) -> datetime:
    """The same instant in UTC; an offset that carries it before year 1 or past year 9999 names no instant any
    store can hold (PostgreSQL's driver converts to UTC too, and would fail on it)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(RULE_ERROR, "{problem}", {"problem": IN_UTC_RULE}) from None


def _integral(value: object) -> object:
    """JSON Schema's `integer` includes 22.0; strict validation would refuse it, so it becomes 22 first."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# JSON integers: bools and strings stay refused (strict bodies), an integral number like 22.0 is taken.
# (The limits come before the validator, so they stay `minimum`/`maximum` of the integer in the schema.)
INTEGRAL = BeforeValidator(_integral)
Port = Annotated[int, Field(ge=1, le=65535), INTEGRAL]
Version = Annotated[int, Field(ge=1, le=lim.MAX_INT), INTEGRAL]
# Column sizes: the ranges the scheduler enforces (whether a size fits the column's type, and a scale within
# its precision, are the scheduler's to check: JSON Schema cannot relate two fields).
MaxLength = Annotated[int, Field(ge=1, le=v.MAX_TEXT_LENGTH), INTEGRAL]
Precision = Annotated[int, Field(ge=1, le=v.MAX_PRECISION), INTEGRAL]
Scale = Annotated[int, Field(ge=0, le=v.MAX_PRECISION), INTEGRAL]

# Taken in UTC: the instant is the same, and one that only exists with its offset is refused here.
IsoDateTime = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_iso_text), AfterValidator(_in_utc)]

# Schedules: the forms are checked here; whether a time zone exists, a cron expression parses or a date is
# still ahead is the scheduler's to judge (a definition with such errors is saved as an inactive draft).
SCHEDULE_KINDS = ("on_demand", "one_time", "daily", "weekly", "monthly", "cron")
TIME_OF_DAY_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
LOCAL_DATE_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|[+-][0-9]{2}:[0-9]{2})?$"
_TIME_OF_DAY = re.compile(TIME_OF_DAY_PATTERN)
_LOCAL_DATE_TIME = re.compile(LOCAL_DATE_TIME_PATTERN)


def time_of_day_problem(text: str) -> str | None:
    """Why `text` is not a wall-clock time `HH:MM`."""
    return None if _TIME_OF_DAY.match(text) else "must be a time of day as HH:MM (00:00 to 23:59), e.g. 06:30"


def local_date_time_problem(text: str) -> str | None:
    """Why `text` is not a date and time `YYYY-MM-DDTHH:MM` (an offset, if given, is converted to the zone)."""
    problem = "must be a date and time as YYYY-MM-DDTHH:MM in the schedule's time zone, e.g. 2027-01-31T06:30"
    if not _LOCAL_DATE_TIME.match(text):
        return problem
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return problem
    return None


TimeOfDayText = Annotated[str, Rule(time_of_day_problem, TIME_OF_DAY_PATTERN)]
LocalDateTimeText = Annotated[str, Rule(local_date_time_problem, LOCAL_DATE_TIME_PATTERN)]
TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_TIME_ZONE), FILLED_LINE]
CronExpression = Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_CRON), FILLED_LINE]
MONTH_DAY_RULE = "must be a day of the month from 1 to 31, or last"


def _month_day(value: object) -> int | str:
    """1..31 or "last", checked as one value (a union would name its members in the error's field path)."""
    day = _integral(value)
    if day == "last":
        return "last"
    if isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 31:
        return day
    raise PydanticCustomError(RULE_ERROR, "{problem}", {"problem": MONTH_DAY_RULE})


MonthDay = Annotated[
    int | str,
    PlainValidator(_month_day),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1, "maximum": 31}, {"const": "last"}]}),
]
JobIdValue = Annotated[int, Field(ge=1, le=lim.MAX_ID), INTEGRAL]

# Import file rules: the shapes are checked here; whether a format suits its column's type, the count and ready
# extensions differ, and the volume gates leave room for a file is the scheduler's to judge.
SOURCE_KINDS = ("sftp", "hosted")
EXPORT_SOURCE_KINDS = ("list", "audience", "pet", "table")  # what an export writes
JOB_TYPES = (
    "import_custom_table",
    "import_profile_data",
    "export_file",
    "export_api",
    "import_analytics_feed",
)  # a job body's `type` picks its shape
DateFormat = Annotated[str, StringConstraints(min_length=1, max_length=MAX_FORMAT_LENGTH), FILLED_LINE]
EXTENSION_PATTERN = r"^[A-Za-z0-9_-]{1,16}$"
Extension = Annotated[str, StringConstraints(pattern=EXTENSION_PATTERN)]
MAX_READY_TIMEOUT_S = 86400
ReadyTimeout = Annotated[int, Field(ge=1, le=MAX_READY_TIMEOUT_S), INTEGRAL]
RowCount = Annotated[int, Field(ge=0, le=lim.MAX_ID), INTEGRAL]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]

# Query, path and header values.
SearchText = Annotated[str, StringConstraints(max_length=lim.MAX_SEARCH), LINE]
Cursor = Annotated[str, StringConstraints(max_length=lim.MAX_CURSOR, pattern=r"^[A-Za-z0-9_-]*$")]
RunKey = Annotated[str, Rule(run_key_problem, RUN_KEY_PATTERN)]
Username = Annotated[str, Rule(v.username_problem, v.USERNAME_PATTERN)]  # the pattern bounds its length
# Login takes the name as typed (any case, surrounding spaces); it is lower-cased before the lookup.
LoginName = Annotated[str, StringConstraints(min_length=1, max_length=100), LINE]
# A new one is checked against the password rule by the use case, so the refusal can name the rule; nothing
# longer than the rule's maximum can be a password.
UserPassword = Secret[Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH), TEXT]]
TokenName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN_NAME_LENGTH), FILLED_LINE]
TokenId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
IdempotencyKey = Annotated[str, StringConstraints(max_length=lim.MAX_IDEMPOTENCY_KEY), LINE]
