"""Dry runs (`POST /jobs/{id}/dry-run`) and the rejects download of a run (`GET /runs/{run}/rejects.csv`)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Message

from connect_events import Role, RunJobNow
from connect_gateway.domain.rejects import RejectRecord, csv_rows, defused
from tests.unit.gateway.gateway_fakes import World, accepted, rejected
from tests.unit.gateway.test_gateway_tables_and_reads import run


async def test_a_dry_run_is_run_now_that_writes_nothing(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="5", version=4, run_id=13)
    response = await world.client.post("/api/v1/jobs/5/dry-run", headers={"Idempotency-Key": "try-1"})
    assert response.status_code == 202
    assert response.json() == {"job_id": 5, "run_id": 13, "run": "5.13", "status_url": "/api/v1/runs/5.13"}
    assert response.headers["location"] == "/api/v1/runs/5.13"
    [command] = world.bus.sent
    assert isinstance(command, RunJobNow)
    assert (command.payload.job_id, command.payload.dry_run, command.payload.idempotency_key) == (5, True, "try-1")


async def test_run_now_is_no_dry_run(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="5", run_id=14)
    assert (await world.client.post("/api/v1/jobs/5/run")).status_code == 202
    [command] = world.bus.sent
    assert isinstance(command, RunJobNow) and command.payload.dry_run is False


async def test_a_dry_run_is_refused_like_run_now(world: World) -> None:
    world.bus.answer = lambda c: rejected(c, "invalid_state", "job 5 is running", reason="JOB_RUNNING")
    response = await world.client.post("/api/v1/jobs/5/dry-run")
    assert response.status_code == 409
    assert response.json()["reason"] == "JOB_RUNNING"


async def test_a_pending_dry_run(world: World) -> None:
    world.bus.answer = lambda c: None
    response = await world.client.post("/api/v1/jobs/5/dry-run")
    assert response.status_code == 202 and response.json()["status"] == "pending"


async def test_runs_say_whether_they_were_dry(world: World) -> None:
    world.reads.runs += [run(1, 1, "succeeded", 0), replace(run(1, 2, "succeeded", 1), dry_run=True)]
    listed = (await world.client.get("/api/v1/runs")).json()
    assert [(r["id"], r["dry_run"]) for r in listed] == [("1.2", True), ("1.1", False)]
    assert (await world.client.get("/api/v1/runs/1.2")).json()["dry_run"] is True


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


async def test_the_rejects_download_as_csv_in_line_order(world: World) -> None:
    world.reads.runs.append(run(4, 2, "succeeded", 0))
    world.rejects.rows[(4, 2)] = [
        RejectRecord(9, "VALUE_TOO_LONG", 'a "quoted", value'),
        RejectRecord(3, "INVALID_NUMBER", "1;x\nspanning lines"),
        RejectRecord(12, "WRONG_FIELD_COUNT", None),
        RejectRecord(5, "INVALID_DATE", '=HYPERLINK("http://evil")'),
        RejectRecord(7, "INVALID_EMAIL", "@SUM(A1)"),
    ]
    response = await world.client.get("/api/v1/runs/4.2/rejects.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="rejects-4.2.csv"'
    assert rows_of(response.text) == [
        ["line_number", "reason", "raw_text"],
        ["3", "INVALID_NUMBER", "1;x\nspanning lines"],
        ["5", "INVALID_DATE", '\'=HYPERLINK("http://evil")'],
        ["7", "INVALID_EMAIL", "'@SUM(A1)"],
        ["9", "VALUE_TOO_LONG", 'a "quoted", value'],
        ["12", "WRONG_FIELD_COUNT", ""],
    ]
    assert world.rejects.open_batches == 0  # the store's iterator was closed: its connection went back


async def test_a_run_without_rejects_downloads_the_header_only(world: World) -> None:
    world.reads.runs.append(run(4, 2, "succeeded", 0))
    response = await world.client.get("/api/v1/runs/4.2/rejects.csv")
    assert response.status_code == 200
    assert response.text == "line_number,reason,raw_text\r\n"


def many_rejects(world: World) -> None:
    world.reads.runs.append(run(4, 2, "succeeded", 0))
    world.rejects.rows[(4, 2)] = [RejectRecord(n, "INVALID_NUMBER", f"row {n}") for n in range(2, 1003)]
    world.rejects.batch_rows = 100


async def download(
    world: World, spec_version: str, send: Callable[[Message], Awaitable[None]], gone: asyncio.Event
) -> None:
    """GET the rejects of run 4.2 straight through the ASGI app (httpx's transport would gather the body); the
    client leaves once `gone` is set."""

    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> Message:
        if requests:
            return requests.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/runs/4.2/rejects.csv",
        "raw_path": b"/api/v1/runs/4.2/rejects.csv",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"gateway.test"), (b"authorization", f"Bearer {world.tokens[Role.VIEWER]}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("gateway.test", 80),
        "state": {},
    }
    await world.app(scope, receive, send)


async def test_many_rejects_stream_batch_after_batch(world: World) -> None:
    many_rejects(world)
    pieces: list[bytes] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            pieces.append(message["body"])

    await download(world, "2.4", send, asyncio.Event())
    assert len(pieces) == 11  # one piece per batch of 100 rows (1001 rows), the header with the first
    rows = rows_of(b"".join(pieces).decode())
    assert rows[0] == ["line_number", "reason", "raw_text"]
    assert [int(r[0]) for r in rows[1:]] == list(range(2, 1003))
    assert world.rejects.open_batches == 0


@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
async def test_a_client_gone_half_way_releases_the_store_at_once(world: World, spec_version: str) -> None:
    many_rejects(world)
    pieces: list[bytes] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            pieces.append(message["body"])
            if len(pieces) == 2:
                assert world.rejects.open_batches == 1
                if spec_version == "2.4":
                    raise ConnectionResetError("the client went away")  # how a server reports it from 2.4 on
                gone.set()
                await asyncio.Event().wait()  # the connection hangs; the disconnect ends the response

    gone = asyncio.Event()
    with contextlib.suppress(ClientDisconnect):
        await download(world, spec_version, send, gone)
    assert len(pieces) == 2
    assert world.rejects.open_batches == 0


async def test_the_rejects_of_an_unknown_run_are_not_found(world: World) -> None:
    response = await world.client.get("/api/v1/runs/4.2/rejects.csv")
    assert response.status_code == 404
    assert response.json()["reason"] == "RUN_NOT_FOUND"


async def test_a_malformed_run_key_is_refused(world: World) -> None:
    response = await world.client.get("/api/v1/runs/4/rejects.csv")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["run"]


async def test_an_unreachable_audience_database_is_503_in_our_words(world: World) -> None:
    world.reads.runs.append(run(4, 2, "succeeded", 0))
    world.rejects.down = True
    response = await world.client.get("/api/v1/runs/4.2/rejects.csv")
    assert response.status_code == 503
    assert response.json()["message"] == "the audience store cannot be reached; retry later"
    assert "ConnectionRefused" not in response.text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+31 6 1234", "'+31 6 1234"),
        ("-5", "'-5"),
        ("@cmd", "'@cmd"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("", ""),
        (None, ""),
    ],
)
def test_a_raw_line_never_starts_a_formula(raw: str | None, shown: str) -> None:
    assert defused(raw) == shown


def test_the_header_comes_only_when_asked() -> None:
    rows = [RejectRecord(2, "INVALID_DATE", "x")]
    assert csv_rows(rows) == b"2,INVALID_DATE,x\r\n"
    assert csv_rows(rows, header=True) == b"line_number,reason,raw_text\r\n2,INVALID_DATE,x\r\n"
