"""A local HTTP server implementing the documented Responsys v1.3 contract the marketing-API export uses (spec
§5.3): token login and refresh, merge list members (at most 200 records, per-record `MERGEFAILED` answers), the
error envelope `{type, title, errorCode, detail, errorDetails}`; with faults a test can ask for: token expiry,
429, 500 and `API_LIMIT_EXCEEDED` answers. Records merge into in-memory lists keyed by the match column(s).

Used by the runner's integration tests and `bench/export`; it serves on a free loopback port (`MarketingApiServer`).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

MAX_RECORDS = 200
MAX_BODY = 10 * 1024 * 1024


def _error(status: int, code: str, detail: str) -> JSONResponse:
    body = {
        "type": "",
        "title": code.replace("_", " ").title(),
        "errorCode": code,
        "detail": detail,
        "errorDetails": [],
    }
    return JSONResponse(body, status_code=status)


@dataclass
class FakeResponsys:
    """The server's state: accounts, live tokens, lists, what happened, and the faults still to play."""

    user: str = "api-user"
    password: str = "api-secret"
    base: str = ""
    tokens: set[str] = field(default_factory=set)
    lists: dict[str, dict[tuple[str, ...], dict[str, str]]] = field(default_factory=dict)
    logins: int = 0
    refreshes: int = 0
    merges: int = 0
    faults: list[int | str] = field(default_factory=list)  # next merge answers: a status, or "limit", "expire"
    call_times: list[float] = field(default_factory=list)
    _riids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (as after 3 hours)."""
        self.tokens.clear()

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.post("/rest/api/v1.3/auth/token")
        async def token(request: Request, authorization: str | None = Header(default=None)) -> JSONResponse:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            auth_type, user_name, password = (form.get(k, "") for k in ("auth_type", "user_name", "password"))
            if auth_type == "password":
                if (user_name, password) != (self.user, self.password):
                    return _error(401, "INVALID_USER_NAME_PASSWORD", "wrong user name or password")
                self.logins += 1
            elif auth_type == "token":
                if authorization not in self.tokens:
                    return _error(401, "INVALID_TOKEN", "token is invalid or expired")
                self.tokens.discard(authorization)
                self.refreshes += 1
            else:
                return _error(400, "INVALID_PARAMETER", "auth_type must be password or token")
            issued = secrets.token_urlsafe(24)
            self.tokens.add(issued)
            return JSONResponse({"authToken": issued, "issuedAt": int(time.time() * 1000), "endPoint": self.base})

        @api.post("/rest/api/v1.3/lists/{list_name}/members")
        async def merge(
            list_name: str, request: Request, authorization: str | None = Header(default=None)
        ) -> JSONResponse:
            self.call_times.append(time.monotonic())
            if authorization is None or authorization.startswith("Bearer") or authorization not in self.tokens:
                return _error(401, "INVALID_TOKEN", "token is invalid or expired")
            if self.faults:
                fault = self.faults.pop(0)
                if fault == "expire":
                    self.expire_tokens()
                    return _error(401, "INVALID_TOKEN", "token is invalid or expired")
                if fault == "limit":
                    return _error(403, "API_LIMIT_EXCEEDED", "too many requests a minute")
                return _error(int(fault), "SERVER_ERROR" if int(fault) >= 500 else "TOO_MANY_REQUESTS", "try later")
            body = await request.body()
            if len(body) > MAX_BODY:
                return _error(400, "INVALID_PARAMETER", "the request is larger than 10 MB")
            return self._merge(list_name, await request.json())

        return api

    def _merge(self, list_name: str, body: dict[str, Any]) -> JSONResponse:
        data, rule = body.get("recordData") or {}, body.get("mergeRule") or {}
        fields, records = data.get("fieldNames") or [], data.get("records") or []
        if not 1 <= len(records) <= MAX_RECORDS:
            return _error(400, "INVALID_PARAMETER", f"between 1 and {MAX_RECORDS} records a call")
        if any(not isinstance(v, str) for r in records for v in r) or any(len(r) != len(fields) for r in records):
            return _error(400, "INVALID_PARAMETER", "every record holds one string per field")
        keys = [rule.get("matchColumnName1"), rule.get("matchColumnName2")]
        keys = [k for k in keys if k]
        if not keys or any(k not in fields for k in keys):
            return _error(400, "INVALID_PARAMETER", "the match columns must be among the field names")
        self.merges += 1
        stored = self.lists.setdefault(list_name, {})
        answers: list[list[str]] = []
        for number, values in enumerate(records, start=1):
            row = dict(zip(fields, values, strict=True))
            email = row.get("EMAIL_ADDRESS_")
            key = tuple(row[k].strip().lower() for k in keys)
            if email is not None and "@" not in email:
                answers.append([f"MERGEFAILED: Record {number} = INVALID_EMAIL_ADDRESS: '{email}' is not an address"])
            elif not all(key):
                answers.append([f"MERGEFAILED: Record {number} = MATCH_COLUMN_EMPTY: the match column is empty"])
            elif key in stored:
                if rule.get("updateOnMatch") == "REPLACE_ALL":
                    stored[key].update(row)
                answers.append([stored[key]["RIID_"]])
            elif rule.get("insertOnNoMatch", True):
                stored[key] = {**row, "RIID_": str(next(self._riids))}
                answers.append([stored[key]["RIID_"]])
            else:
                answers.append([f"MERGEFAILED: Record {number} = RECORD_NOT_FOUND: no record matches"])
        return JSONResponse({"recordData": {"fieldNames": ["RIID_"], "records": answers, "mapTemplateName": None},
                             "mergeRule": rule})  # fmt: skip


@dataclass
class MarketingApiServer:
    """A running `FakeResponsys` on `url`."""

    state: FakeResponsys
    url: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def marketing_api_server(state: FakeResponsys | None = None) -> AsyncIterator[MarketingApiServer]:
    """Serve a fake Responsys on a free loopback port for the block."""
    state = state or FakeResponsys()
    port = _free_port()
    state.base = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(state.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield MarketingApiServer(state, state.base)
    finally:
        server.should_exit = True
        await task
