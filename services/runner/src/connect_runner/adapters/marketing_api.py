"""A Responsys-compatible marketing API (spec §5.3) with httpx: the v1.3 token login and the merge-list-members
call, at most 200 records a call.

- Login: `POST {url}/rest/api/v1.3/auth/token` (form `user_name`, `password`, `auth_type=password`) answers
  `{authToken, issuedAt, endPoint}`; later calls go to `endPoint` with `Authorization: <authToken>`. A token
  older than `REFRESH_AFTER` is refreshed first (the same call with `auth_type=token` and the token).
- A call answered 401 logs in again once and is sent again; a second 401 fails the run `AUTH_FAILED`.
- 429, 5xx, `API_LIMIT_EXCEEDED` and a lost or refused connection are tried again after a growing wait
  (`Backoff`); when the waits are used up the run fails `CONNECTION_FAILED` (transient: the job's retry policy may
  try again). A host name that cannot be resolved fails at once, not transient.
- Calls are spaced to stay under the endpoint's calls a minute (`Pacer`).

Failures are worded here from the status and the API's `errorCode` (a code, never the API's own text), naming
the server and the remote list; the password is never in a message.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from connect_events import ApiEndpoint, MergeRule
from connect_runner.domain.failures import RunFailure

BATCH = 200  # the API's most records a call
LOGIN_PATH = "/rest/api/v1.3/auth/token"
MERGE_PATH = "/rest/api/v1.3/lists/{list}/members"
REFRESH_AFTER_S = 2.5 * 3600  # tokens last 3 hours
TIMEOUTS = httpx.Timeout(60.0, connect=10.0)  # a server that does not even accept is given up on sooner
RETRYABLE = frozenset({429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class Pacer:
    """Spaces calls `60 / per_minute` seconds apart (the first goes at once)."""

    def __init__(self, per_minute: int, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._gap = 60.0 / per_minute
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    async def wait(self) -> None:
        now = self._clock()
        if now < self._next:
            await self._sleep(self._next - now)
            now = self._next
        self._next = now + self._gap


@dataclass(frozen=True)
class Backoff:
    """Waits before each further try of a call the API could not take now: `first_s`, doubling, `tries` in all."""

    first_s: float = 1.0
    tries: int = 6

    def waits(self) -> list[float]:
        return [self.first_s * 2**n for n in range(self.tries - 1)]


@dataclass
class Merged:
    """One call's answer: for each record, in order, its RIID or the API's failure code and detail."""

    results: list[str | tuple[str, str]] = field(default_factory=list)


def merge_rule(rule: MergeRule) -> dict[str, Any]:
    """The API's `mergeRule` of the job's."""
    return {
        "insertOnNoMatch": rule.insert_on_no_match,
        "updateOnMatch": rule.update_on_match,
        "matchColumnName1": rule.match_column_1,
        "matchColumnName2": rule.match_column_2,
        "matchColumnName3": None,
        "matchOperator": "NONE" if rule.match_column_2 is None else "AND",
        "optinValue": rule.opt_in_value,
        "optoutValue": rule.opt_out_value,
        "htmlValue": rule.html_value,
        "textValue": rule.text_value,
        "defaultPermissionStatus": rule.default_permission,
        "rejectRecordIfChannelEmpty": ",".join(rule.reject_if_channel_empty) or None,
    }


def record_result(value: object) -> str | tuple[str, str]:
    """A record's answer: its RIID, or `(code, detail)` of `MERGEFAILED: Record <i> = <CODE>: <detail>`."""
    text = str(value)
    if not text.startswith("MERGEFAILED"):
        return text
    _, _, after = text.partition("=")
    code, _, detail = after.strip().partition(":")
    code = code.strip()
    safe = code if code and code.replace("_", "").isalnum() and code.isascii() and len(code) <= 64 else "MERGE_FAILED"
    return safe, detail.strip()


class MarketingApi:
    """A logged-in session with one endpoint (`login` first)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint: ApiEndpoint,
        password: str,
        *,
        backoff: Backoff = Backoff(),
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._http = http
        self._endpoint = endpoint
        self._password = password
        self._backoff = backoff
        self._clock = clock
        self._sleep = sleep
        self._pacer = Pacer(endpoint.calls_per_minute, clock, sleep)
        self._token: str | None = None
        self._issued = 0.0
        self._base = ""
        self.calls = 0

    @property
    def server(self) -> str:
        return urlsplit(self._endpoint.url).netloc

    async def login(self) -> None:
        """Log in with the password (`auth_type=password`)."""
        form = {"user_name": self._endpoint.user, "password": self._password, "auth_type": "password"}
        answer = await self._send("POST", self._endpoint.url.rstrip("/") + LOGIN_PATH, data=form, what="log in")
        if answer.status_code in (401, 403):
            raise RunFailure("AUTH_FAILED", f"{self.server} refused the login of {self._endpoint.user}")
        self._session_from(answer, "log in")

    async def merge(
        self, remote_list: str, fields: Sequence[str], records: Sequence[Sequence[str]], rule: MergeRule
    ) -> Merged:
        """Merge `records` (at most `BATCH`) into `remote_list`; the answer per record, in order."""
        await self._fresh()
        body = {
            "recordData": {"fieldNames": list(fields), "records": [list(r) for r in records], "mapTemplateName": None},
            "mergeRule": merge_rule(rule),
        }
        url = self._base + MERGE_PATH.format(list=quote(remote_list, safe=""))
        answer = await self._call(url, body, f"merge into '{remote_list}'")
        if answer.status_code == 401:
            await self.login()
            answer = await self._call(url, body, f"merge into '{remote_list}'")
            if answer.status_code == 401:
                raise RunFailure("AUTH_FAILED", f"{self.server} refused the new token of {self._endpoint.user}")
        if answer.status_code != 200:
            raise self._refused(answer, f"merge into '{remote_list}'")
        rows = _json(answer, self.server).get("recordData", {}).get("records")
        if not isinstance(rows, list) or len(rows) != len(records):
            message = (
                f"{self.server} answered the merge into '{remote_list}' with {_count(rows)} for {len(records)} sent"
            )
            raise RunFailure("WRITE_FAILED", message)
        return Merged([record_result(row[0] if isinstance(row, list) and row else row) for row in rows])

    async def _fresh(self) -> None:
        """Refresh the token when it is about to expire (`auth_type=token`)."""
        if self._token is None:
            await self.login()
            return
        if self._clock() - self._issued < REFRESH_AFTER_S:
            return
        form = {"user_name": self._endpoint.user, "auth_type": "token"}
        url = self._endpoint.url.rstrip("/") + LOGIN_PATH
        answer = await self._send("POST", url, data=form, headers={"Authorization": self._token}, what="refresh")
        if answer.status_code == 200:
            self._session_from(answer, "refresh")
        else:
            await self.login()

    async def _call(self, url: str, body: dict[str, Any], what: str) -> httpx.Response:
        assert self._token is not None, "logged in"
        return await self._send("POST", url, json=body, headers={"Authorization": self._token}, what=what)

    async def _send(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """One request, paced, tried again after a wait while the API cannot take it now."""
        for wait in [*self._backoff.waits(), None]:
            await self._pacer.wait()
            self.calls += 1
            try:
                answer = await self._http.request(method, url, timeout=TIMEOUTS, **kwargs)
            except httpx.TransportError as exc:
                if _unresolvable(exc):  # another try would meet it again
                    message = f"cannot {what} on {self.server}: the host name cannot be resolved"
                    raise RunFailure("CONNECTION_FAILED", message) from exc
                if wait is None:
                    message = f"cannot {what} on {self.server}: the connection failed or timed out"
                    raise RunFailure("CONNECTION_FAILED", message, transient=True) from exc
            else:
                if not _busy(answer):
                    return answer
                if wait is None:
                    raise self._refused(answer, what)
            await self._sleep(wait)
        raise AssertionError("unreachable")  # the last try returns or raises

    def _session_from(self, answer: httpx.Response, what: str) -> None:
        if answer.status_code != 200:
            raise self._refused(answer, what)
        found = _json(answer, self.server)
        token, base = found.get("authToken"), found.get("endPoint")
        if not isinstance(token, str) or not token or not isinstance(base, str) or not base.startswith("http"):
            raise RunFailure("AUTH_FAILED", f"{self.server} answered the login without a token and an endpoint")
        self._token, self._base, self._issued = token, base.rstrip("/"), self._clock()

    def _refused(self, answer: httpx.Response, what: str) -> RunFailure:
        code = _error_code(answer)
        said = f" ({code})" if code else ""
        message = f"{self.server} refused to {what}: HTTP {answer.status_code}{said}"
        if _busy(answer):
            return RunFailure("CONNECTION_FAILED", message + "; it stayed busy after every wait", transient=True)
        return RunFailure("WRITE_FAILED", message)


def _unresolvable(exc: BaseException) -> bool:
    """Whether the host name cannot be resolved (not the resolver's "try again later")."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return cause.errno != socket.EAI_AGAIN
        cause = cause.__cause__ or cause.__context__
    return False


def _busy(answer: httpx.Response) -> bool:
    return answer.status_code in RETRYABLE or _error_code(answer) == "API_LIMIT_EXCEEDED"


def _error_code(answer: httpx.Response) -> str | None:
    """The envelope's `errorCode` when it is a plain code (the API's own text is never passed on)."""
    try:
        found = answer.json()
    except ValueError:
        return None
    code = found.get("errorCode") if isinstance(found, dict) else None
    if isinstance(code, str) and code.replace("_", "").isalnum() and code.isascii() and len(code) <= 64:
        return code
    return None


def _json(answer: httpx.Response, server: str) -> dict[str, Any]:
    try:
        found = answer.json()
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise RunFailure("WRITE_FAILED", f"{server} answered with something other than a JSON object")
    return found


def _count(rows: object) -> str:
    return f"{len(rows)} results" if isinstance(rows, list) else "no results"
