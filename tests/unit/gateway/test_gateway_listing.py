"""The All jobs and Completed jobs tabs and a job's history: columns, sort, filter, search, cursor paging."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from connect_events import FieldError
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.listing import (
    CURSOR_FORM,
    LAST_TIME,
    Position,
    Sort,
    decode_cursor,
    encode_cursor,
    parse_sort,
)
from connect_gateway.read_models import (
    GROUP_RUN_SORTS,
    HISTORY_SORTS,
    JOB_IDS,
    JOB_SORTS,
    RUN_IDS,
    RUN_SORTS,
    HistoryRecord,
    JobRecord,
    RunRecord,
)
from tests.unit.gateway.gateway_fakes import NOW, World, stored_job
from tests.unit.gateway.test_gateway_tables_and_reads import run


def job(world: World, job_id: int, name: str, **changes: Any) -> JobRecord:
    stored_job(world, job_id=job_id)
    record = dataclasses.replace(world.reads.jobs[-1], name=name, **changes)
    world.reads.jobs[-1] = record
    return record


async def every_page(client: httpx.AsyncClient, url: str) -> tuple[list[dict[str, Any]], int]:
    """Every row, following `Link: rel="next"`; and how many pages it took."""
    rows: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        assert pages < 100, "the next page never ends: a cursor that does not advance"
        answer = await client.get(next_url)
        assert answer.status_code == 200, answer.text
        rows += answer.json()
        pages += 1
        next_url = answer.links.get("next", {}).get("url")
    return rows, pages


def raw_cursor(sort: str, value: Any, keys: list[Any]) -> str:
    """A cursor as a client could forge it: any JSON value and keys, in the cursor's encoding (NUL and lone
    surrogates escaped, as JSON allows)."""
    raw = json.dumps({"s": sort, "v": value, "k": keys}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class TestCursor:
    @pytest.mark.parametrize("value", [7, "stores", NOW, LAST_TIME], ids=["int", "text", "time", "last"])
    def test_round_trips(self, value: Any) -> None:
        columns = {"c": "bigint" if isinstance(value, int) else "text" if isinstance(value, str) else "time"}
        position = Position(Sort("c", descending=True), value, (4, 2))
        cursor = encode_cursor(position)
        assert cursor.replace("-", "").replace("_", "").isalnum()  # opaque and URL-safe
        decoded = decode_cursor(cursor, Sort("c", True), columns, ids=RUN_IDS)  # type: ignore[arg-type]
        assert decoded == position

    def test_a_time_comes_back_in_utc(self) -> None:
        cursor = raw_cursor("-requested_at", "2027-01-31T02:00:00+02:00", [4, 2])
        position = decode_cursor(cursor, Sort("requested_at", True), RUN_SORTS, ids=RUN_IDS)
        assert isinstance(position.value, datetime)
        assert (position.value, position.value.utcoffset()) == (datetime(2027, 1, 31, tzinfo=UTC), timedelta(0))

    @pytest.mark.parametrize(
        ("sort", "value", "keys", "columns", "ids"),
        [
            ("-requested_at", "2027-01-31T00:00:00Z", [4, 2**31], RUN_SORTS, RUN_IDS),
            ("-requested_at", "2027-01-31T00:00:00Z", [2**63, 2], RUN_SORTS, RUN_IDS),
            ("-requested_at", "2027-01-31T00:00:00Z", [4, -(2**31) - 1], RUN_SORTS, RUN_IDS),
            ("-requested_at", "2027-01-31T00:00:00Z", [4, True], RUN_SORTS, RUN_IDS),
            ("-requested_at", "2027-01-31T00:00:00Z", [4, 2.0], RUN_SORTS, RUN_IDS),
            ("duration_ms", 2**63, [4, 2], RUN_SORTS, RUN_IDS),
            ("-version", 2**31, [], HISTORY_SORTS, ()),
            ("-run_id", 2**31, [], GROUP_RUN_SORTS, ()),
            ("job_id", 2**63, [1], JOB_SORTS, JOB_IDS),
            ("-requested_at", "0001-01-01T00:00:00+01:00", [4, 2], RUN_SORTS, RUN_IDS),
            ("-requested_at", "9999-12-31T23:30:00-01:00", [4, 2], RUN_SORTS, RUN_IDS),
            ("-requested_at", "2027-01-31T00:00:00", [4, 2], RUN_SORTS, RUN_IDS),
            ("name", "a\u0000b", [1], JOB_SORTS, JOB_IDS),
            ("name", "a\ud800b", [1], JOB_SORTS, JOB_IDS),
        ],
        ids=["run id past int", "job id past bigint", "run id below int", "id a bool", "id a float",
             "duration past bigint", "version past int", "group run past int", "job id value past bigint",
             "time before year 1 in UTC", "time past 9999 in UTC", "time without offset", "nul", "surrogate"],
    )  # fmt: skip
    def test_a_value_its_column_cannot_hold_is_refused_naming_the_cursor(
        self, sort: str, value: Any, keys: list[Any], columns: dict[str, Any], ids: tuple[Any, ...]
    ) -> None:
        cursor = raw_cursor(sort, value, keys)
        with pytest.raises(Refusal) as refused:
            decode_cursor(cursor, parse_sort(sort, columns), columns, ids=ids)
        assert refused.value.errors == (FieldError(field="cursor", message=CURSOR_FORM),)

    def test_the_bounds_of_each_column_are_taken(self) -> None:
        cursor = raw_cursor("-requested_at", "0001-01-01T00:00:00Z", [2**63 - 1, 2**31 - 1])
        assert decode_cursor(cursor, Sort("requested_at", True), RUN_SORTS, ids=RUN_IDS).ids == (2**63 - 1, 2**31 - 1)
        cursor = raw_cursor("-version", -(2**31), [])
        assert decode_cursor(cursor, Sort("version", True), HISTORY_SORTS, ids=()).value == -(2**31)

    def test_belongs_to_its_sort_order(self) -> None:
        cursor = encode_cursor(Position(Sort("name"), "a", (1,)))
        with pytest.raises(Refusal) as refused:
            decode_cursor(cursor, Sort("name", descending=True), JOB_SORTS, ids=JOB_IDS)
        message = "the cursor belongs to the sort name, not -name; start again without it"
        assert refused.value.errors == (FieldError(field="cursor", message=message),)

    @pytest.mark.parametrize(
        "cursor",
        ["", "!!!", "bm90IGpzb24", encode_cursor(Position(Sort("name"), 5, (1,))),
         encode_cursor(Position(Sort("name"), "a", (1, 2))), "eyJzIjoibmFtZSIsInYiOiJhIiwiayI6WyJ4Il19"],
        ids=["empty", "not base64", "not json", "wrong type", "wrong ids", "id not a number"],
    )  # fmt: skip
    def test_a_tampered_cursor_is_refused_naming_it(self, cursor: str) -> None:
        with pytest.raises(Refusal) as refused:
            decode_cursor(cursor, Sort("name"), JOB_SORTS, ids=JOB_IDS)
        assert [e.field for e in refused.value.errors] == ["cursor"]

    def test_sorts_only_by_allowed_columns(self) -> None:
        assert parse_sort("-next_run_at", JOB_SORTS) == Sort("next_run_at", descending=True)
        with pytest.raises(Refusal):
            parse_sort("definition", JOB_SORTS)


class TestAllJobs:
    async def test_a_row_has_the_tabs_columns(self, world: World) -> None:
        job(world, 7, "Nightly", next_run_at=NOW, previous_run_at=NOW - timedelta(days=1), running_run_id=3,
            errors=(FieldError(field="settings.table", message="no table"),), last_run_id=3)  # fmt: skip
        [row] = (await world.client.get("/api/v1/jobs")).json()
        tab = ("job_id", "group", "name", "type", "created_at", "created_by", "state", "next_run_at",
               "previous_run_at", "schedule_type", "expires_at")  # fmt: skip
        assert set(tab) | {"has_errors", "running_run_id"} <= set(row)
        assert (row["group"], row["next_run_at"], row["previous_run_at"]) == (
            None, "2025-01-02T03:04:05Z", "2025-01-01T03:04:05Z",
        )  # fmt: skip
        assert (row["has_errors"], row["running_run_id"], row["last_run"]) == (True, 3, "7.3")

    async def test_sorts_by_a_column_with_the_job_id_breaking_ties(self, world: World) -> None:
        for job_id, name in [(3, "b"), (1, "B"), (2, "a"), (4, "c")]:
            job(world, job_id, name)
        names = await world.client.get("/api/v1/jobs?sort=-name")
        # Names compare without case; in descending order the tie-breaker descends too.
        assert [(j["name"], j["job_id"]) for j in names.json()] == [("c", 4), ("b", 3), ("B", 1), ("a", 2)]

    async def test_a_missing_next_run_sorts_last(self, world: World) -> None:
        job(world, 1, "none")
        job(world, 2, "later", next_run_at=NOW + timedelta(hours=2))
        job(world, 3, "soon", next_run_at=NOW + timedelta(hours=1))
        rows = (await world.client.get("/api/v1/jobs?sort=next_run_at")).json()
        assert [j["job_id"] for j in rows] == [3, 2, 1]

    async def test_filters_and_searches(self, world: World) -> None:
        job(world, 1, "Daily stores", schedule_type="daily", state="active")
        job(world, 2, "Weekly stores", schedule_type="weekly")
        job(world, 3, "Daily customers", schedule_type="daily")
        assert [j["job_id"] for j in (await world.client.get("/api/v1/jobs?schedule_type=daily")).json()] == [1, 3]
        assert [j["job_id"] for j in (await world.client.get("/api/v1/jobs?q=STORES&state=inactive")).json()] == [2]
        assert (await world.client.get("/api/v1/jobs?type=export")).status_code == 422

    async def test_pages_follow_the_link_until_every_row_came_once(self, world: World) -> None:
        for job_id in range(1, 8):
            job(world, job_id, f"job {job_id % 3}")
        rows, pages = await every_page(world.client, "/api/v1/jobs?sort=name&limit=3")
        assert pages == 3
        assert [j["job_id"] for j in rows] == [3, 6, 1, 4, 7, 2, 5]

    async def test_the_last_page_has_no_link(self, world: World) -> None:
        job(world, 1, "only")
        answer = await world.client.get("/api/v1/jobs?limit=1")
        assert "link" not in answer.headers

    async def test_a_row_added_before_the_cursor_shifts_nothing(self, world: World) -> None:
        for job_id in (2, 4, 6):
            job(world, job_id, f"j{job_id}")
        first = await world.client.get("/api/v1/jobs?limit=2")
        job(world, 1, "j1")  # lands on the first page, which was already read
        second = await world.client.get(first.links["next"]["url"])
        assert [j["job_id"] for j in second.json()] == [6]

    @pytest.mark.parametrize(
        ("query", "field"), [("sort=secret", "sort"), ("cursor=%%%", "cursor"), ("limit=0", "limit")]
    )
    async def test_bad_paging_parameters_are_named(self, world: World, query: str, field: str) -> None:
        answer = await world.client.get(f"/api/v1/jobs?{query}")
        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == [field]

    async def test_a_cursor_of_another_sort_is_refused(self, world: World) -> None:
        for job_id in (1, 2):
            job(world, job_id, f"j{job_id}")
        first = await world.client.get("/api/v1/jobs?limit=1&sort=name")
        cursor = first.links["next"]["url"].split("cursor=")[1]
        answer = await world.client.get(f"/api/v1/jobs?cursor={cursor}")
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "cursor"


def ran(job_id: int, run_id: int, status: str, minutes: int, **changes: Any) -> RunRecord:
    return dataclasses.replace(run(job_id, run_id, status, minutes), job_type="import_custom_table", **changes)


class TestCompletedJobs:
    async def test_a_row_has_the_tabs_columns(self, world: World) -> None:
        world.reads.runs.append(ran(4, 2, "succeeded", 0))
        [row] = (await world.client.get("/api/v1/runs")).json()
        assert (row["run_key"], row["group_run_key"], row["group"], row["job_name"], row["job_type"]) == (
            "4.2", None, None, "job 4", "import_custom_table",
        )  # fmt: skip
        assert {"started_at", "duration_ms", "status", "counts"} <= set(row)

    async def test_a_member_run_names_its_group_run(self, world: World) -> None:
        world.reads.runs.append(ran(4, 2, "queued", 0, group_id=12, group_run_id=3))
        [row] = (await world.client.get("/api/v1/runs")).json()
        assert (row["group"], row["group_run_key"]) == (12, "12.3")

    async def test_filters_by_status_job_name_and_time(self, world: World) -> None:
        world.reads.runs += [ran(1, 1, "succeeded", 0), ran(1, 2, "failed", 10), ran(2, 1, "failed", 20)]
        since = (NOW + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        until = (NOW + timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
        rows = (await world.client.get("/api/v1/runs", params={"since": since, "until": until})).json()
        assert [r["run_key"] for r in rows] == ["1.2"]
        rows = (await world.client.get("/api/v1/runs", params={"status": "failed", "q": "JOB 2"})).json()
        assert [r["run_key"] for r in rows] == ["2.1"]
        backwards = await world.client.get("/api/v1/runs", params={"since": until, "until": since})
        assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "until"

    @pytest.mark.parametrize("since", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"], ids=["low", "high"])
    async def test_a_time_that_exists_only_with_its_offset_is_refused_naming_it(self, world: World, since: str) -> None:
        answer = await world.client.get("/api/v1/runs", params={"since": since})
        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {"field": "since", "message": "must be a date and time between the years 1 and 9999 once converted to UTC"}
        ]

    async def test_times_are_taken_in_utc(self, world: World) -> None:
        world.reads.runs += [ran(1, 1, "succeeded", 0), ran(1, 2, "failed", 10)]
        since = (NOW + timedelta(minutes=5)).astimezone(timezone(timedelta(hours=-5))).isoformat()
        rows = (await world.client.get("/api/v1/runs", params={"since": since})).json()
        assert [r["run_key"] for r in rows] == ["1.2"]

    @pytest.mark.parametrize(
        ("url", "cursor"),
        [
            ("/api/v1/runs", raw_cursor("-requested_at", "2027-01-31T00:00:00Z", [1, 2**31])),
            ("/api/v1/runs", raw_cursor("-requested_at", "0001-01-01T00:00:00+01:00", [1, 2])),
            ("/api/v1/jobs", raw_cursor("job_id", 2**63, [1])),
            ("/api/v1/jobs", raw_cursor("job_id", 1, ["1"])),
            ("/api/v1/jobs/7/history", raw_cursor("-version", 2**31, [])),
            ("/api/v1/groups", raw_cursor("group_id", 2**63, [1])),
            ("/api/v1/groups/31/runs", raw_cursor("-run_id", 2**31, [])),
        ],
        ids=["run id", "time", "job id", "id as text", "version", "group id", "group run id"],
    )
    async def test_a_cursor_no_column_can_hold_is_refused_naming_it(self, world: World, url: str, cursor: str) -> None:
        stored_job(world)
        answer = await world.client.get(url, params={"cursor": cursor})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == [{"field": "cursor", "message": CURSOR_FORM}]

    @pytest.mark.parametrize("name", ["a\u0000", "a\ud800"], ids=["nul", "surrogate"])
    async def test_a_cursor_with_unstorable_text_is_refused_naming_it(self, world: World, name: str) -> None:
        answer = await world.client.get(
            "/api/v1/jobs", params={"sort": "name", "cursor": raw_cursor("name", name, [1])}
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == [{"field": "cursor", "message": CURSOR_FORM}]

    async def test_sorts_by_duration_with_unfinished_runs_last(self, world: World) -> None:
        world.reads.runs += [
            ran(1, 1, "succeeded", 0, duration_ms=5000),
            ran(1, 2, "running", 1, duration_ms=None),
            ran(2, 1, "succeeded", 2, duration_ms=1000),
        ]
        rows = (await world.client.get("/api/v1/runs?sort=duration_ms")).json()
        assert [r["run_key"] for r in rows] == ["2.1", "1.1", "1.2"]

    async def test_pages_newest_first_by_default(self, world: World) -> None:
        world.reads.runs += [ran(1, n, "succeeded", n) for n in range(1, 6)]
        rows, pages = await every_page(world.client, "/api/v1/runs?limit=2")
        assert pages == 3
        assert [r["run_key"] for r in rows] == ["1.5", "1.4", "1.3", "1.2", "1.1"]

    def test_sorts_only_by_the_tabs_columns(self) -> None:
        assert set(RUN_SORTS) == {"run_key", "job_name", "requested_at", "started_at", "duration_ms", "status"}


def entry(version: int, what: str, **changes: Any) -> HistoryRecord:
    return HistoryRecord(version=version, at=NOW + timedelta(minutes=version), by="dora", what=what, **changes)


class TestHistory:
    async def test_lists_changes_newest_first_with_the_fields_as_the_request_names_them(self, world: World) -> None:
        world.reads.history[7] = [
            entry(1, "copied", copied_from=3),
            entry(2, "updated", changed=("schedule.time", "settings.mapping", "settings.table")),
            entry(3, "deleted", reason="user"),
        ]
        rows = (await world.client.get("/api/v1/jobs/7/history")).json()
        assert [(r["version"], r["what"], r["by"]) for r in rows] == [
            (3, "deleted", "dora"), (2, "updated", "dora"), (1, "copied", "dora"),
        ]  # fmt: skip
        assert (rows[0]["reason"], rows[2]["copied_from"]) == ("user", 3)
        assert rows[1]["changed"] == ["schedule.time", "mapping", "target.table"]

    async def test_pages_by_version(self, world: World) -> None:
        world.reads.history[7] = [entry(v, "updated") for v in range(1, 6)]
        rows, pages = await every_page(world.client, "/api/v1/jobs/7/history?limit=2")
        assert ([r["version"] for r in rows], pages) == ([5, 4, 3, 2, 1], 3)

    async def test_a_job_never_seen_is_not_found(self, world: World) -> None:
        answer = await world.client.get("/api/v1/jobs/8/history")
        assert answer.status_code == 404
        assert answer.json()["reason"] == "JOB_NOT_FOUND"
