"""Resolving the mapping against the header (or positions) and the target table."""

from __future__ import annotations

import pytest

from connect_events import ColumnMapping, TableSpec
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.plan import resolve_by_header, resolve_by_position
from tests.unit.runner.runner_builders import PEOPLE_MAPPING, column, mapping, people_table

HEADER = ["ID", " Name ", "score", "active", "born", "seen", "extra"]


def test_header_names_match_case_insensitively_and_trimmed() -> None:
    plan = resolve_by_header(HEADER, mapping(("NAME", "name"), ("id", "ID")), people_table(), "f.csv")

    assert [(c.position, c.column.name, c.is_key, c.staging_name) for c in plan.columns] == [
        (1, "name", False, "c1"),
        (0, "id", True, "c2"),
    ]
    assert plan.field_count == 7
    assert plan.positions == (1, 0)
    assert [c.column.name for c in plan.keys] == ["id"]
    assert [c.column.name for c in plan.values] == ["name"]


def test_a_mapped_column_named_twice_is_ambiguous_and_fails_with_bad_header() -> None:
    with pytest.raises(RunFailure) as failure:
        resolve_by_header(["id", " Name", "NAME", "ID"], mapping("id", "name"), people_table(), "f.csv")
    assert (failure.value.code, failure.value.message) == (
        "BAD_HEADER",
        "duplicate columns id, Name in the header of 'f.csv'",
    )


def test_a_repeated_name_is_named_when_a_column_is_missing() -> None:
    # The file's second EMAIL was meant to be NAME: saying only "no column NAME" would hide the cause.
    with pytest.raises(RunFailure) as failure:
        resolve_by_header(["ID", "EMAIL", "EMAIL"], mapping("id", "name"), people_table(), "f.csv")
    assert (failure.value.code, failure.value.message) == (
        "BAD_HEADER",
        "duplicate column EMAIL in the header of 'f.csv', which has no column 'name' (found: ID, EMAIL, EMAIL)",
    )


def test_repeated_unmapped_or_blank_names_do_no_harm() -> None:
    plan = resolve_by_header(["id", "", "note", "name", "NOTE", ""], mapping("id", "name"), people_table(), "f.csv")
    assert plan.positions == (0, 3)


def test_missing_header_columns_fail_with_bad_header_naming_them_and_the_file() -> None:
    with pytest.raises(RunFailure) as failure:
        resolve_by_header(["id", "nom"], PEOPLE_MAPPING, people_table(), "/in/p.csv")

    assert failure.value.code == "BAD_HEADER"
    assert failure.value.message == (
        "header of '/in/p.csv' has no columns 'name', 'score', 'active', 'born', 'seen' (found: id, nom)"
    )


def test_one_missing_column_and_a_long_header_are_reported_briefly() -> None:
    header = ["id", *(f"column_{i}" for i in range(100))]
    with pytest.raises(RunFailure) as failure:
        resolve_by_header(header, mapping("id", "name"), people_table(), "p.csv")
    assert failure.value.message.startswith("header of 'p.csv' has no column 'name' (found: id, column_0")
    assert failure.value.message.endswith("…)")


def test_positions_are_one_based_without_a_header() -> None:
    plan = resolve_by_position(3, mapping(("3", "name"), (" 1 ", "id")), people_table(), "f.csv")
    assert plan.positions == (2, 0)
    assert plan.field_count == 3


@pytest.mark.parametrize(
    ("source", "code", "message"),
    [
        ("5", "BAD_HEADER", "'f.csv' has 3 columns; the mapping uses column 5"),
        ("0", "LOAD_FAILED", "mapping source '0' is not a column position (1, 2, …)"),
        ("name", "LOAD_FAILED", "mapping source 'name' is not a column position (1, 2, …)"),
    ],
)
def test_bad_positions(source: str, code: str, message: str) -> None:
    with pytest.raises(RunFailure) as failure:
        resolve_by_position(3, mapping(("1", "id"), (source, "name")), people_table(), "f.csv")
    assert (failure.value.code, failure.value.message) == (code, message)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ((("id", "id"), ("name", "nickname")), "mapping target 'nickname' is not a column of 'people'"),
        ((("id", "id"), ("name", "name"), ("score", "NAME")), "column name of 'people' is mapped more than once"),
        ((("name", "name"),), "primary key column id of 'people' is not mapped"),
    ],
)
def test_mappings_that_do_not_fit_the_table_fail_the_load(pairs: tuple[tuple[str, str], ...], message: str) -> None:
    with pytest.raises(RunFailure) as failure:
        resolve_by_header(["id", "name", "score"], mapping(*pairs), people_table(), "f.csv")
    assert (failure.value.code, failure.value.message) == ("LOAD_FAILED", message)


def test_a_column_name_postgresql_cannot_hold_fails_the_load() -> None:
    long_name = "x" * 64
    table = TableSpec(name="t", columns=(column("id"), column(long_name)), primary_key=("id",))
    with pytest.raises(RunFailure) as failure:
        resolve_by_header(["id", "v"], mapping("id", ("v", long_name)), table, "f.csv")
    assert failure.value.code == "LOAD_FAILED"
    assert "longer than 63 bytes" in failure.value.message


def test_composite_keys_are_matched_case_insensitively() -> None:
    table = TableSpec(name="t", columns=(column("A"), column("b"), column("c")), primary_key=("a", "B"))
    plan = resolve_by_header(["a", "b", "c"], mapping(("a", "A"), "b", "c"), table, "f.csv")
    assert [c.is_key for c in plan.columns] == [True, True, False]


def test_formats_and_the_truncate_option_are_part_of_the_plan() -> None:
    columns = (*mapping("id", "name"), ColumnMapping(source="born", target="born", format="DD/MM/YYYY"))
    plan = resolve_by_position(3, mapping(("1", "id"), ("2", "name")), people_table(), "f.csv", truncate_long_text=True)
    assert plan.truncate_long_text
    assert [c.format for c in plan.columns] == [None, None]

    plan = resolve_by_header(["id", "name", "born"], columns, people_table(), "f.csv")
    assert not plan.truncate_long_text
    assert [c.format for c in plan.columns] == [None, None, "DD/MM/YYYY"]


@pytest.mark.parametrize(
    ("target", "format_", "problem"),
    [
        ("name", "DD/MM/YYYY", "a format applies to date and timestamp columns only, not to text"),
        ("born", "DD/MM/YYYY HH24:MI", "a date format holds no time (HH24, MI, SS, FF)"),
        ("seen", "DD/MM/YYYY MI", "MI needs HH24"),
        ("born", "DD/MM", "a format must hold a year (YYYY), a month (MM or MON) and a day (DD)"),
        ("born", "", "the format is empty"),
    ],
)
def test_a_format_that_does_not_fit_its_column_fails_the_load(target: str, format_: str, problem: str) -> None:
    columns = (*mapping("id"), ColumnMapping(source=target, target=target, format=format_))
    with pytest.raises(RunFailure) as failure:
        resolve_by_header(["id", target], columns, people_table(), "f.csv")
    assert (failure.value.code, failure.value.message) == (
        "LOAD_FAILED",
        f"the format of column '{target}' cannot be used: {problem}",
    )
