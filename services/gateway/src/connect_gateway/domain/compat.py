"""The Responsys-compatible Connect API (spec §8.2): its names, values, refusals and request limits.

Scripts written against Responsys' `/rest/api/v1.3` Connect calls run unchanged against Connect. Nothing here
decides anything about jobs or runs: the routes (`entrypoints/http/routes/compat.py`) call the same use cases
and read models as `/api/v1`, and these pure functions translate their answers into the original's shapes:
camel-case names, epoch-millisecond times, `MM-DD-YYYY` dates, four run statuses, and the error envelope
`{type, title, errorCode, detail, errorDetails}` with the HTTP statuses the original uses (a refused trigger is
400, an invalid token, a missing role and an exceeded limit are 401).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from connect_events import RefusalReason
from connect_gateway.domain.errors import ErrorCode, Refusal
from connect_gateway.domain.limits import MAX_ID, MAX_INT

ROOT = "/rest/api"
PREFIX = f"{ROOT}/v1.3"
TOKEN_LIFE = timedelta(hours=3)  # as the original's: a script refreshes or logs in again
LOGIN_TOKEN_NAME = "REST v1.3 login"
MAX_TRIGGERED = 5  # jobs one trigger-many request may name

CompatStatus = Literal["running", "failed", "succeeded", "aborted"]

# Our run statuses as the original's four: a queued run counts as running (a script polls until it ends), a
# stopped run as aborted, and a skipped one (a fire that met the job running) as aborted too: it never ran.
RUN_STATUS: Mapping[str, CompatStatus] = {
    "queued": "running",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "stopped": "aborted",
    "skipped": "aborted",
}


def is_compat(path: str) -> bool:
    """Whether a request path belongs to the compatibility surface (its envelope, its credentials)."""
    return path == ROOT or path.startswith(f"{ROOT}/")


@dataclass(frozen=True)
class Problem:
    """One refusal as the original words it: HTTP status, short title, machine code and details."""

    status: int
    title: str
    error_code: str
    detail: str

    def body(self) -> dict[str, object]:
        """The error envelope (`type` and `errorDetails` are reserved by the original and always empty)."""
        return {
            "type": "",
            "title": self.title,
            "errorCode": self.error_code,
            "detail": self.detail,
            "errorDetails": [],
        }


class CompatRefusal(Exception):
    """A request of the compatibility surface refused with its own words; nothing was stored."""

    def __init__(self, problem: Problem, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(problem.detail)
        self.problem = problem
        self.headers: dict[str, str] = dict(headers or {})


def invalid_parameter(detail: str) -> CompatRefusal:
    """400 `INVALID_PARAMETER`, as the original answers a malformed id, date or body."""
    return CompatRefusal(Problem(400, "Invalid request parameters", "INVALID_PARAMETER", detail))


# Refusals of the scheduler, by their precise reason. The titles and details the original documents are kept
# word for word (scripts and people recognise them); the others are ours.
_BY_REASON: Mapping[RefusalReason, tuple[int, str, str, str | None]] = {
    "JOB_INACTIVE": (
        400,
        "Connect job not active",
        "CONNECT_JOB_INACTIVE",
        "Connect Job status is Inactive and can't be run",
    ),
    "EXPIRED": (400, "Connect job not active", "CONNECT_JOB_INACTIVE", "Connect Job has expired and can't be run"),
    "JOB_RUNNING": (
        400,
        "Connect job already running",
        "CONNECT_JOB_ALREADY_RUNNING",
        "Connect Job is already running",
    ),
    "JOB_NOT_FOUND": (404, "Connect job not found", "CONNECT_JOB_NOT_FOUND", None),
    "JOB_DELETED": (404, "Connect job not found", "CONNECT_JOB_NOT_FOUND", None),
    "RUN_NOT_FOUND": (404, "Connect job run not found", "CONNECT_JOB_RUN_NOT_FOUND", None),
    "PARTNER_JOB_NOT_RUNNABLE": (
        400,
        "Connect job type not supported",
        "CONNECT_JOB_TYPE_NOT_SUPPORTED",
        "Partner integration jobs run on their schedule and can't be triggered",
    ),
    "JOB_HAS_ERRORS": (400, "Connect job not valid", "CONNECT_JOB_INVALID", None),
}

# Every other refusal, by its code.
_BY_CODE: Mapping[ErrorCode, tuple[int, str, str]] = {
    "unauthenticated": (401, "Authentication token is invalid", "INVALID_TOKEN"),
    "forbidden": (401, "Insufficient access", "INSUFFICIENT_ACCESS"),
    "csrf_failed": (401, "Insufficient access", "INSUFFICIENT_ACCESS"),
    "too_many_requests": (401, "API limit exceeded", "API_LIMIT_EXCEEDED"),
    "validation_failed": (400, "Invalid request parameters", "INVALID_PARAMETER"),
    "malformed_request": (400, "Invalid request parameters", "INVALID_PARAMETER"),
    "not_found": (404, "Resource not found", "RESOURCE_NOT_FOUND"),
    "method_not_allowed": (405, "Method not allowed", "METHOD_NOT_ALLOWED"),
    "payload_too_large": (413, "Request too large", "REQUEST_TOO_LARGE"),
    "conflict": (409, "Request conflicts with another change", "CONCURRENT_CHANGE"),
    "invalid_state": (400, "Request not possible now", "INVALID_STATE"),
    "timeout": (504, "Request timed out", "REQUEST_TIMEOUT"),
    "unavailable": (503, "Service unavailable", "SERVICE_UNAVAILABLE"),
    "internal": (500, "Unexpected error", "UNEXPECTED_EXCEPTION"),
}


def problem_of(code: ErrorCode, message: str, reason: RefusalReason | None = None) -> Problem:
    """A refusal of the use cases (or of the gateway itself) as the original would word it."""
    if reason is not None and reason in _BY_REASON:
        status, title, error_code, detail = _BY_REASON[reason]
        return Problem(status, title, error_code, detail or _sentence(message))
    status, title, error_code = _BY_CODE[code]
    return Problem(status, title, error_code, _sentence(message))


def problem_of_refusal(refusal: Refusal) -> Problem:
    """`problem_of` for a raised refusal."""
    return problem_of(refusal.code, refusal.message, refusal.reason)


def _sentence(message: str) -> str:
    """Our message as a detail sentence: capitalised, as the original's details are."""
    return message[:1].upper() + message[1:] if message else message


NOT_DECIDED = Problem(
    503,
    "Trigger not confirmed",
    "TRIGGER_NOT_CONFIRMED",
    "The trigger was sent but not decided in time; it may still start. List the job's runs before triggering again",
)

_DIGITS = re.compile(r"[0-9]+")
_BEYOND_ANY_ID = MAX_ID + 1  # what a number too long to be any id reads as: it names nothing


def parse_job_id(text: str) -> int:
    """A path's job id; refused as the original refuses a name given instead of a number."""
    if not _DIGITS.fullmatch(text):
        raise invalid_parameter("Job Id should be a numeric value.")
    return int(text) if len(text) <= 20 else _BEYOND_ANY_ID


def parse_run_id(text: str) -> int:
    """A path's job run id, likewise."""
    if not _DIGITS.fullmatch(text):
        raise invalid_parameter("Job Run Id should be a numeric value.")
    return int(text) if len(text) <= 20 else _BEYOND_ANY_ID


def job_may_exist(job_id: int) -> bool:
    """Whether a numeric id is within the range ids are given in (outside it, no job has it)."""
    return 1 <= job_id <= MAX_ID


def run_may_exist(run_id: int) -> bool:
    """Likewise for a run id."""
    return 1 <= run_id <= MAX_INT


_DAY = re.compile(r"(\d{2})-(\d{2})-(\d{4})")


def parse_day(name: str, text: str | None) -> date:
    """A query date in the original's `MM-DD-YYYY`."""
    if text is None or text == "":
        raise invalid_parameter(f"{name} is required, as MM-DD-YYYY.")
    found = _DAY.fullmatch(text)
    if found is None:
        raise invalid_parameter(f"{name} must be a date as MM-DD-YYYY, e.g. 01-31-2027.")
    month, day, year = (int(part) for part in found.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise invalid_parameter(f"{name} is not a date of the calendar (MM-DD-YYYY).") from None


def run_window(sdate: str | None, edate: str | None) -> tuple[datetime, datetime]:
    """[start of `sdate`, end of `edate`) in UTC: both days are included."""
    start, end = parse_day("sdate", sdate), parse_day("edate", edate)
    if end < start:
        raise invalid_parameter("edate must not be before sdate.")
    return datetime.combine(start, time(), UTC), datetime.combine(end + timedelta(days=1), time(), UTC)


def epoch_ms(at: datetime | None) -> int | None:
    """A time as the original gives it: milliseconds since 1970-01-01 UTC."""
    return None if at is None else int(at.timestamp() * 1000)


def duration_seconds(
    started_at: datetime | None, finished_at: datetime | None, duration_ms: int | None, now: datetime
) -> int:
    """Whole seconds a run took, or has been running so far (0 before it starts)."""
    if duration_ms is not None:
        return duration_ms // 1000
    if started_at is None:
        return 0
    return max(0, int(((finished_at or now) - started_at).total_seconds()))


def compat_status(status: str) -> CompatStatus:
    """One of the original's four statuses (an unknown future status reads as running: poll again)."""
    return RUN_STATUS.get(status, "running")


# --- Request limits -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiLimit:
    """One call's requests-per-minute limit, as `GET /rest/api/ratelimit` reports it."""

    api: str
    verb: str
    resource_path: str
    limit: int
    description: str


DEFAULT_LIMITS: tuple[ApiLimit, ...] = (
    ApiLimit("login", "POST", "/auth/token", 60, "Log in or refresh a token"),
    ApiLimit("getConnectJobs", "GET", "/connectJobs", 60, "List Connect jobs"),
    ApiLimit("triggerConnectJob", "PUT", "/connectJobs/{jobId}/trigger", 60, "Trigger a Connect job"),
    ApiLimit("triggerConnectJobs", "PUT", "/connectJobs/trigger", 60, "Trigger up to 5 Connect jobs"),
    ApiLimit("getConnectJobRuns", "GET", "/connectJobs/{jobId}/jobRuns", 120, "List a Connect job's runs"),
    ApiLimit("getConnectJobRunStatus", "GET", "/connectJobs/{jobId}/jobRuns/{jobRunId}/status", 600, "A run's status"),
    ApiLimit("getConnectJobRunLogs", "GET", "/connectJobs/{jobId}/jobRuns/{jobRunId}/logs", 120, "A run's log"),
    ApiLimit("getRateLimits", "GET", "/ratelimit", 60, "These limits"),
)


def limits_with(overrides: Mapping[str, int]) -> tuple[ApiLimit, ...]:
    """The default limits with some replaced (`GATEWAY_COMPAT_RATE_LIMITS`); an unknown name is an error."""
    known = {limit.api for limit in DEFAULT_LIMITS}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown API names {unknown}; known: {sorted(known)}")
    bad = sorted(name for name, value in overrides.items() if type(value) is not int or value < 1)
    if bad:
        raise ValueError(f"limits must be whole numbers of at least 1 request a minute: {bad}")
    return tuple(
        ApiLimit(x.api, x.verb, x.resource_path, overrides.get(x.api, x.limit), x.description) for x in DEFAULT_LIMITS
    )


WINDOW = timedelta(minutes=1)


@dataclass
class _Window:
    started_at: datetime
    count: int


class RateLimiter:
    """Counts each caller's requests per call in one-minute windows and says how long an excess one must wait.

    A caller is a token (or, for a password login, a client address). The counts live in this process: with
    several gateway replicas behind a balancer each enforces the limit on its share of the requests.
    """

    def __init__(self, limits: tuple[ApiLimit, ...] = DEFAULT_LIMITS, max_callers: int = 100_000) -> None:
        self.limits: dict[str, ApiLimit] = {limit.api: limit for limit in limits}
        self._windows: dict[tuple[str, str], _Window] = {}
        self._max_callers = max_callers

    def take(self, caller: str, api: str, now: datetime) -> timedelta | None:
        """Count one request; None when it is within the limit, else how long until the window ends."""
        limit = self.limits[api].limit
        key = (caller, api)
        window = self._windows.get(key)
        if window is None or now - window.started_at >= WINDOW:
            if len(self._windows) >= self._max_callers:
                self._forget_before(now - WINDOW)
            window = self._windows[key] = _Window(now, 0)
        if window.count >= limit:
            return window.started_at + WINDOW - now
        window.count += 1
        return None

    def _forget_before(self, cutoff: datetime) -> None:
        self._windows = {k: w for k, w in self._windows.items() if w.started_at > cutoff}


def limit_exceeded(api: ApiLimit, wait: timedelta) -> CompatRefusal:
    """401 `API_LIMIT_EXCEEDED` (the original's status for it), with `Retry-After` in whole seconds."""
    seconds = max(1, int(wait.total_seconds() + 0.999))
    detail = f"More than {api.limit} requests a minute to {api.api}; retry in {seconds} s"
    return CompatRefusal(
        Problem(401, "API limit exceeded", "API_LIMIT_EXCEEDED", detail), {"Retry-After": str(seconds)}
    )
