"""Reject reasons per type, combining rejects, and source file name patterns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connect_events import ColumnType
from connect_runner.domain.file_pattern import oldest, render
from connect_runner.domain.rejects import FORMAT_REASON, RejectReason, combine, field_count_reason
from connect_runner.domain.values import bad_value, cast, sql_type
from tests.unit.runner.runner_builders import column


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
    pattern = render("/in/%YYYY%/data_%MM%%DD%_%HH%%MI%%SS%.csv", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert (pattern.folder, pattern.name, pattern.path) == (
        "/in/2025",
        "data_0102_030405.csv",
        "/in/2025/data_0102_030405.csv",
    )
    assert not pattern.is_wildcard


def test_wildcards_match_any_run_and_nothing_else_is_special() -> None:
    pattern = render("in/a*[1].csv", datetime(2025, 1, 1, tzinfo=UTC))
    assert pattern.is_wildcard
    assert pattern.matches("a[1].csv") and pattern.matches("abc[1].csv")
    assert not pattern.matches("a1.csv") and not pattern.matches("a[1]xcsv")


def test_the_oldest_match_is_taken() -> None:
    pattern = render("x_*.csv", datetime(2025, 1, 1, tzinfo=UTC))
    files = [("x_b.csv", 20.0), ("x_a.csv", 30.0), ("y_c.csv", 1.0), ("x_c.csv", 20.0)]
    assert oldest(pattern, files) == "x_b.csv"
    assert oldest(pattern, [("y.csv", 1.0)]) is None
    assert render("plain.csv", datetime(2025, 1, 1, tzinfo=UTC)).path == "plain.csv"
