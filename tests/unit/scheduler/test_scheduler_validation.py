"""The job-definition rules (spec §4.2, §7.1): each error names its field, all are reported at once."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

import pytest

from connect_events import Cron, Daily, JobDefinition, RetryPolicy, TableSpec
from connect_events.values import STORABLE
from connect_scheduler.domain.validation import (
    expiration_errors,
    job_errors,
    retry_errors,
    unstorable_errors,
    validate_job,
)
from tests.unit.scheduler.scheduler_builders import T0, column, customers, definition


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


class TestAtAGivenTime:
    """`job_errors` adds what depends on the clock: the schedule's errors and the expiration's."""

    def test_a_valid_definition_has_none(self) -> None:
        job = definition(schedule=Daily(time=time(6, 30), time_zone="Europe/Paris"), expires_at=T0 + timedelta(days=1))
        assert job_errors(job, customers(), T0) == []

    def test_schedule_and_expiration_errors_follow_the_definitions_own(self) -> None:
        job = definition(port=0, schedule=Cron(expression="61 * * * *"), expires_at=T0)
        assert [e.field for e in job_errors(job, customers(), T0)] == [
            "settings.source.port",
            "schedule.expression",
            "expires_at",
        ]

    def test_an_expiration_is_ahead_of_now(self) -> None:
        ahead = T0 + timedelta(minutes=1)
        assert expiration_errors(None, T0) == []
        assert expiration_errors(ahead, T0) == []
        assert [(e.field, e.message) for e in expiration_errors(ahead, ahead)] == [("expires_at", "is in the past")]

    def test_an_expiration_in_another_offset_is_the_same_instant(self) -> None:
        tokyo = (T0 + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=9)))
        assert expiration_errors(tokyo, T0) == []
        assert len(expiration_errors(tokyo, T0 + timedelta(minutes=1))) == 1

    def test_an_expiration_without_an_offset_is_refused(self) -> None:
        [error] = expiration_errors(datetime(2030, 1, 1), T0)
        assert (error.field, error.message) == ("expires_at", "give the expiration with its UTC offset")

    def test_an_expiration_beyond_what_utc_can_hold_is_an_error_not_a_crash(self) -> None:
        far_east = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))
        assert [e.message for e in expiration_errors(far_east, T0)] == ["is out of range"]


def test_unstorable_texts_are_named_at_any_depth() -> None:
    job = definition(
        "a\x00", mapping=(("id", "id"), ("email", "em\ud800")), schedule=Cron(expression="\x00", time_zone="UTC")
    )
    assert [(e.field, e.message) for e in unstorable_errors(job)] == [
        ("name", STORABLE),
        ("settings.mapping[1].target", STORABLE),
        ("schedule.expression", STORABLE),
    ]
    assert unstorable_errors(definition(description="tab\tand line\nbreak")) == []


@pytest.mark.parametrize(
    ("policy", "fields"),
    [
        (RetryPolicy(), []),
        (RetryPolicy(attempts=10, initial_backoff_s=21600, multiplier=10), []),
        (RetryPolicy(attempts=0), ["retry.attempts"]),
        (
            RetryPolicy(attempts=11, initial_backoff_s=0, multiplier=0.5),
            ["retry.attempts", "retry.initial_backoff_s", "retry.multiplier"],
        ),
        (RetryPolicy(multiplier=float("nan")), ["retry.multiplier"]),
    ],
)
def test_the_retry_policy_is_bounded(policy: RetryPolicy, fields: list[str]) -> None:
    assert [e.field for e in retry_errors(policy)] == fields
