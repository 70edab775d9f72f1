"""The job-definition rules (spec §4.2, §7.1): each error names its field, all are reported at once."""

from __future__ import annotations

from typing import Any

import pytest

from connect_events import JobDefinition, TableSpec
from connect_scheduler.domain.validation import validate_job
from tests.unit.scheduler.scheduler_builders import column, customers, definition


def fields(job: JobDefinition, table: TableSpec | None = None) -> list[str]:
    return [e.field for e in validate_job(job, table if table is not None else customers())]


VALID_NAMES = ["A", "x" * 100, "Nightly import [v2] {eu} !-=@_", "9 lives", "a  b"]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_names(name: str) -> None:
    assert fields(definition(name)) == []


INVALID_NAMES = {
    "empty": "",
    "blank": "   ",
    "too long": "x" * 101,
    "slash": "daily/import",
    "dot": "import.csv",
    "semicolon": "a;b",
    "quote": "it's",
    "tab": "a\tb",
    "non-ASCII letter": "Übernahme",
    "emoji": "load 🚀",
}


@pytest.mark.parametrize("name", INVALID_NAMES.values(), ids=INVALID_NAMES.keys())
def test_invalid_names(name: str) -> None:
    assert fields(definition(name)) == ["name"]


def test_description_of_4000_is_fine_4001_is_not() -> None:
    assert fields(definition(description="d" * 4000)) == []
    assert fields(definition(description="d" * 4001)) == ["description"]


def test_an_unknown_table_is_named() -> None:
    [error] = validate_job(definition(table="Orders"), None)
    assert (error.field, error.message) == ("settings.table", "no table named Orders")


def test_mapping_to_a_missing_column_names_table_and_column() -> None:
    job = definition(mapping=(("id", "id"), ("mail", "e_mail")))
    [error] = validate_job(job, customers())
    assert (error.field, error.message) == (
        "settings.mapping[1].target",
        "table Customers has no column e_mail",
    )


def test_targets_match_case_insensitively() -> None:
    assert fields(definition(mapping=(("id", "ID"), ("email", "Email")))) == []


INVALID_SETTINGS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "no mapping": ({"mapping": ()}, ["settings.mapping"]),
    "target mapped twice": (
        {"mapping": (("id", "id"), ("a", "email"), ("b", "EMAIL"))},
        ["settings.mapping[2].target"],
    ),
    "key column unmapped": ({"mapping": (("email", "email"),)}, ["settings.mapping"]),
    "key unmapped on append": (
        {"mapping": (("email", "email"),), "write_mode": "append"},
        ["settings.mapping"],
    ),
    "key unmapped on overwrite": (
        {"mapping": (("e", "email"),), "write_mode": "overwrite"},
        ["settings.mapping"],
    ),
    "blank source with header": ({"mapping": (("id", "id"), (" ", "email"))}, ["settings.mapping[1].source"]),
    "name without header": ({"header": False, "mapping": (("id", "id"),)}, ["settings.mapping[0].source"]),
    "position 0 without header": (
        {"header": False, "mapping": (("0", "id"),)},
        ["settings.mapping[0].source"],
    ),
    "negative position": ({"header": False, "mapping": (("-1", "id"),)}, ["settings.mapping[0].source"]),
    "port 0": ({"port": 0}, ["settings.source.port"]),
    "port 65536": ({"port": 65536}, ["settings.source.port"]),
    "empty path": ({"path": ""}, ["settings.source.path"]),
    "empty host": ({"host": " "}, ["settings.source.host"]),
    "empty user": ({"user": ""}, ["settings.source.user"]),
}


@pytest.mark.parametrize(("overrides", "expected"), INVALID_SETTINGS.values(), ids=INVALID_SETTINGS.keys())
def test_invalid_settings_name_their_field(overrides: dict[str, Any], expected: list[str]) -> None:
    assert fields(definition(**overrides)) == expected


def test_positions_without_a_header() -> None:
    assert fields(definition(header=False, mapping=(("1", "id"), ("3", "email")))) == []


def test_port_bounds() -> None:
    assert fields(definition(port=1)) == []
    assert fields(definition(port=65535)) == []


def test_every_key_column_must_be_mapped() -> None:
    table = TableSpec(name="Pairs", columns=(column("a"), column("b"), column("c")), primary_key=("a", "b"))
    errors = validate_job(definition(table="Pairs", mapping=(("c", "c"),)), table)
    assert [e.message for e in errors] == [
        "primary-key column a of table Pairs is not mapped",
        "primary-key column b of table Pairs is not mapped",
    ]


def test_all_errors_come_at_once_in_field_order() -> None:
    job = definition("bad/name", description="d" * 4001, port=0, mapping=(("x", "nope"),), table="Customers")
    assert fields(job) == [
        "name",
        "description",
        "settings.source.port",
        "settings.mapping[0].target",
        "settings.mapping",
    ]


def test_an_unknown_table_still_checks_everything_else() -> None:
    job = definition("bad/name", table="Orders", mapping=(("a", "x"), ("b", "X")))
    assert [e.field for e in validate_job(job, None)] == [
        "name",
        "settings.table",
        "settings.mapping[1].target",
    ]
