"""Reject reasons per type, combining rejects, and source file name patterns."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from connect_events import ColumnType, Daily, JobDefinition, OnDemand
from connect_runner.domain.file_pattern import job_zone, oldest, render
from connect_runner.domain.rejects import FORMAT_REASON, RejectReason, combine, field_count_reason
from connect_runner.domain.values import bad_value, cast, sql_type
from tests.unit.runner.runner_builders import column, location, run_request


@pytest.mark.parametrize(
    ("type_", "reason"),
    [
        (ColumnType.TEXT, "VALUE_TOO_LONG"),
        (ColumnType.INTEGER, "INVALID_DATA_FORMAT"),
        (ColumnType.NUMBER, "INVALID_NUMBER"),
        (ColumnType.BOOLEAN, "INVALID_DATA_FORMAT"),
        (ColumnType.DATE, "INVALID_DATE"),
        (ColumnType.TIMESTAMP, "INVALID_DATA_FORMAT"),
    ],
)
def test_each_type_has_its_reason(type_: ColumnType, reason: str) -> None:
    assert FORMAT_REASON[type_] == reason
    check = bad_value("s.c1", column("x", type_, max_length=5))
    assert check is not None and check[1] == reason


def test_checks_and_casts_name_only_the_staged_column() -> None:
    spec = column("x", ColumnType.NUMBER, precision=4, scale=1)
    check = bad_value("s.c7", spec)
    assert check is not None
    assert "abs(round(s.c7::numeric, 1)) >= 1000" in check[0]
    assert cast("s.c7", spec) == "s.c7::numeric"
    assert sql_type(spec) == "numeric(4,1)"
    assert bad_value("s.c1", column("t")) is None


def test_field_count() -> None:
    assert field_count_reason(3, 3) is None
    assert field_count_reason(2, 3) == RejectReason.WRONG_FIELD_COUNT


def test_combine_keeps_the_first_reason_per_line() -> None:
    assert combine([(3, "WRONG_FIELD_COUNT")], [(3, "DUPLICATE_KEY"), (5, "INVALID_DATE")]) == {
        3: RejectReason.WRONG_FIELD_COUNT,
        5: RejectReason.INVALID_DATE,
    }


def test_date_tokens_render_from_the_given_time() -> None:
    pattern = render("/in/%YYYY%/data_%MM%%DD%_%HH%%MI%%SS%.csv", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "UTC")
    assert (pattern.folder, pattern.name, pattern.path) == (
        "/in/2025",
        "data_0102_030405.csv",
        "/in/2025/data_0102_030405.csv",
    )
    assert not pattern.is_wildcard


def test_wildcards_match_any_run_and_nothing_else_is_special() -> None:
    pattern = render("in/a*[1].csv", datetime(2025, 1, 1, tzinfo=UTC), "UTC")
    assert pattern.is_wildcard
    assert pattern.matches("a[1].csv") and pattern.matches("abc[1].csv")
    assert not pattern.matches("a1.csv") and not pattern.matches("a[1]xcsv")


def test_the_oldest_match_is_taken() -> None:
    pattern = render("x_*.csv", datetime(2025, 1, 1, tzinfo=UTC), "UTC")
    files = [("x_b.csv", 20.0), ("x_a.csv", 30.0), ("y_c.csv", 1.0), ("x_c.csv", 20.0)]
    assert oldest(pattern, files) == "x_b.csv"
    assert oldest(pattern, [("y.csv", 1.0)]) is None
    assert render("plain.csv", datetime(2025, 1, 1, tzinfo=UTC), "UTC").path == "plain.csv"


TOKENS = "%YYYY%-%MM%-%DD%_%HH%%MI%%SS%"


@pytest.mark.parametrize(
    ("utc", "zone", "local"),
    [
        # Berlin springs forward at 01:00 UTC on 30 March 2025 (02:00 local becomes 03:00).
        (datetime(2025, 3, 30, 0, 59, 59, tzinfo=UTC), "Europe/Berlin", "2025-03-30_015959"),
        (datetime(2025, 3, 30, 1, 0, 0, tzinfo=UTC), "Europe/Berlin", "2025-03-30_030000"),
        # ... and falls back at 01:00 UTC on 26 October 2025: 02:30 local happens twice.
        (datetime(2025, 10, 26, 0, 30, tzinfo=UTC), "Europe/Berlin", "2025-10-26_023000"),
        (datetime(2025, 10, 26, 1, 30, tzinfo=UTC), "Europe/Berlin", "2025-10-26_023000"),
        # The local date, not the UTC one, names the file.
        (datetime(2025, 12, 31, 23, 30, tzinfo=UTC), "Asia/Tokyo", "2026-01-01_083000"),
        (datetime(2025, 3, 9, 6, 59, tzinfo=UTC), "America/New_York", "2025-03-09_015900"),
        (datetime(2025, 3, 9, 7, 0, tzinfo=UTC), "America/New_York", "2025-03-09_030000"),
        (datetime(2025, 3, 9, 7, 0, tzinfo=UTC), "UTC", "2025-03-09_070000"),
    ],
)
def test_date_tokens_render_on_the_jobs_wall_clock(utc: datetime, zone: str, local: str) -> None:
    assert render(f"in/{TOKENS}.csv", utc, zone).name == f"{local}.csv"


def test_the_jobs_zone_is_its_schedules_or_utc_on_demand() -> None:
    settings = run_request(1, 1, source=location("/in/x.csv")).payload.definition.settings
    daily = Daily(time=time(6, 0), time_zone="Europe/Berlin")
    assert job_zone(JobDefinition(name="j", settings=settings, schedule=daily)) == "Europe/Berlin"
    assert job_zone(JobDefinition(name="j", settings=settings, schedule=OnDemand())) == "UTC"
