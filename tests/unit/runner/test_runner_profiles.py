"""Profile imports, the pure parts: the mapping's checks, the staged plan, the value rules while parsing, which
statements each switch asks for, and the counters."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_events import ColumnType, HostedLocation, ImportProfileData, ListSpec, PetSpec
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.plan import resolve_by_header
from connect_runner.domain.profile_plan import (
    ProfilePlan,
    check_mapping,
    list_table,
    pet_table,
    profile_plan,
)
from connect_runner.domain.profile_rules import profile_reader
from connect_runner.domain.profile_statements import ListWrites, profile_counts, profile_steps
from connect_runner.domain.statements import Staging
from tests.unit.runner.runner_builders import column, mapping

LIST = ListSpec(name="Members", columns=(column("TIER", max_length=10),))
PET = PetSpec(name="Loyalty", list_name="members", columns=(column("POINTS", ColumnType.INTEGER),))
STAGING = Staging(job_id=1, run_id=2, attempt=1)
HEADER = ["email", "mobile", "perm", "customer", "points", "hash", "riid", "street"]


def _settings(*pairs: str | tuple[str, str], **options: Any) -> ImportProfileData:
    return ImportProfileData.model_validate(
        {"source": HostedLocation(path="upload/p.csv"), "list_name": LIST.name, "mapping": mapping(*pairs), **options}
    )


def _plan(settings: ImportProfileData, pets: bool = False) -> ProfilePlan:
    check_mapping(settings, LIST)
    list_plan = resolve_by_header(HEADER, settings.mapping, list_table(LIST, settings), "p.csv")
    resolved = [(PET, resolve_by_header(HEADER, mapping(("points", "POINTS")), pet_table(PET), "p.csv"))]
    return profile_plan(list_plan, resolved if pets else [], LIST)


EMAIL = ("email", "EMAIL_ADDRESS_")
MOBILE = ("mobile", "MOBILE_NUMBER_")
PERMISSION = ("perm", "EMAIL_PERMISSION_STATUS_")


@pytest.mark.parametrize(
    ("pairs", "options", "words"),
    [
        ((MOBILE,), {}, "the match column EMAIL_ADDRESS_ is not mapped"),
        ((EMAIL, ("hash", "EMAIL_MD5_HASH_")), {}, "EMAIL_MD5_HASH_ is set by the list itself"),
        ((EMAIL, ("riid", "RIID_")), {}, "RIID_ is set by the list itself"),
        ((EMAIL,), {"reject_if_channel_empty": ["M"]}, "empty MOBILE_NUMBER_ are to be rejected, but no source"),
        ((EMAIL, MOBILE), {"mobile_mode": "local"}, "local mobile numbers need the job's mobile country"),
    ],
)
def test_a_mapping_the_job_cannot_load_fails_the_run(
    pairs: tuple[tuple[str, str], ...], options: dict[str, Any], words: str
) -> None:
    with pytest.raises(RunFailure) as raised:
        check_mapping(_settings(*pairs, **options), LIST)
    assert raised.value.code == "LOAD_FAILED" and words in raised.value.message


def test_riid_and_hash_columns_may_be_match_columns() -> None:
    check_mapping(_settings(("riid", "RIID_"), match_column_1="RIID_"), LIST)
    check_mapping(_settings(("hash", "EMAIL_MD5_HASH_"), match_column_1="EMAIL_MD5_HASH_"), LIST)


def test_the_staged_plan_holds_the_list_then_the_pets_and_the_mobile_country() -> None:
    plan = _plan(_settings(EMAIL, MOBILE), pets=True)

    staged = [(c.column.name, c.position, c.slot, c.is_key) for c in plan.staged.columns]
    assert staged == [
        ("EMAIL_ADDRESS_", 0, 1, True),
        ("MOBILE_NUMBER_", 1, 2, False),
        ("MOBILE_COUNTRY_", 1, 3, False),
        ("POINTS", 4, 4, False),
    ]
    assert [c.column.name for c in plan.pets[0].columns] == ["POINTS"]
    assert [c.column.name for c in plan.values] == ["MOBILE_NUMBER_", "MOBILE_COUNTRY_"]


def _read(settings: ImportProfileData, *records: tuple[Any, ...]) -> tuple[list[tuple[Any, ...]], list[Any]]:
    reader = profile_reader(_plan(settings), settings)
    assert reader is not None
    rejects: list[tuple[int, str]] = []
    return reader(list(records), rejects), rejects


def test_values_are_normalised_and_mapped_while_parsing() -> None:
    settings = _settings(EMAIL, MOBILE, PERMISSION, email_permission={"opt_in": ["yes"], "default": "O"})

    kept, rejects = _read(
        settings, (2, "Ann@Example.COM", "+44 7700 900123", "YES", None), (3, "b@x.io", None, None, None)
    )

    assert rejects == []
    assert kept == [(2, "ann@example.com", "+447700900123", "I", "GB"), (3, "b@x.io", None, "O", None)]


def test_the_first_broken_rule_names_the_reason() -> None:
    settings = _settings(EMAIL, MOBILE, ("street", "POSTAL_STREET_1_"), reject_if_channel_empty=["P"])

    kept, rejects = _read(
        settings,
        (2, None, "bad", None, None),
        (3, "nope", "bad", "1 Main St", None),
        (4, "a@x.io", "12", "1 Main St", None),
        (5, "a@x.io", None, None, None),
        (6, "a@x.io", None, "1 Main St", None),
    )

    assert rejects == [
        (2, "MATCH_FIELD_EMPTY"),
        (3, "INVALID_EMAIL"),
        (4, "INVALID_MOBILE_NUMBER"),
        (5, "CHANNEL_EMPTY"),
    ]
    assert [r[0] for r in kept] == [6]


def test_a_hash_match_value_is_lower_cased_or_rejected() -> None:
    settings = _settings(("hash", "EMAIL_MD5_HASH_"), match_column_1="EMAIL_MD5_HASH_")

    kept, rejects = _read(settings, (2, "A" * 32), (3, "xyz"))

    assert kept == [(2, "a" * 32)] and rejects == [(3, "INVALID_DATA_FORMAT")]


@pytest.mark.parametrize(
    ("options", "insert", "counted"),
    [
        ({}, True, False),
        ({"insert_on_no_match": False}, False, True),
        ({"match_column_1": "EMAIL_MD5_HASH_"}, False, True),
        ({"match_column_1": "RIID_"}, False, True),
    ],
)
def test_rows_are_inserted_unless_the_job_or_its_match_column_forbids(
    options: dict[str, Any], insert: bool, counted: bool
) -> None:
    key = {"EMAIL_MD5_HASH_": ("hash", "EMAIL_MD5_HASH_"), "RIID_": ("riid", "RIID_")}
    pairs = (key.get(str(options.get("match_column_1")), EMAIL), ("customer", "CUSTOMER_ID_"))
    settings = _settings(*pairs, **options)

    steps = profile_steps(STAGING, _plan(settings, pets=True), settings)

    assert (steps.insert is not None, steps.count_matched is not None, steps.orphans is not None) == (
        insert,
        counted,
        counted,
    )
    assert steps.update is not None and len(steps.pets) == 1
    assert steps.lock == 'LOCK TABLE "lists"."Members", "pets"."Loyalty" IN SHARE ROW EXCLUSIVE MODE'


def test_unique_columns_are_checked_only_when_another_row_could_hold_the_value() -> None:
    alone = _settings(EMAIL)
    assert profile_steps(STAGING, _plan(alone), alone).taken is None
    with_customer = _settings(EMAIL, ("customer", "CUSTOMER_ID_"))
    taken = profile_steps(STAGING, _plan(with_customer), with_customer).taken
    assert taken is not None and 't."CUSTOMER_ID_" = s.c2' in taken
    assert '(t."EMAIL_ADDRESS_") IS DISTINCT FROM (s.c1)' in taken and "PARTITION BY s.c2" in taken
    keep = _settings(EMAIL, ("customer", "CUSTOMER_ID_"), update_on_match=False, insert_on_no_match=False)
    assert profile_steps(STAGING, _plan(keep), keep).taken is None


def test_an_update_recomputes_the_derived_columns_of_a_new_address() -> None:
    settings = _settings(("customer", "CUSTOMER_ID_"), EMAIL, match_column_1="CUSTOMER_ID_")

    update = profile_steps(STAGING, _plan(settings), settings).update

    assert update is not None
    assert "\"EMAIL_SHA256_HASH_\" = encode(sha256(convert_to(s.c2, 'UTF8')), 'hex')" in update
    assert "\"MODIFIED_DATE_\" = (now() AT TIME ZONE 'UTC')" in update


@given(
    rows=st.integers(0, 1000),
    data=st.data(),
)
def test_every_line_is_counted_once(rows: int, data: st.DataObject) -> None:
    rejected = data.draw(st.integers(0, rows))
    duplicates = data.draw(st.integers(0, rows - rejected))
    valid = rows - rejected - duplicates
    matched = data.draw(st.integers(0, valid))
    updated = data.draw(st.integers(0, matched))
    inserts = data.draw(st.booleans())
    inserted = valid - matched if inserts else 0
    writes = ListWrites(inserted, updated, updated, None if inserts else matched, 0, 0)

    counts = profile_counts(
        rows_read=rows, rejected=rejected, duplicates=duplicates, writes=writes, bytes_transferred=0
    )

    parts = (counts.inserted, counts.updated, counts.unchanged, counts.skipped, counts.duplicates, counts.rejected)
    assert sum(parts) == rows and min(parts) >= 0
    assert counts.unchanged == matched - updated
    assert counts.skipped == (0 if inserts else valid - matched)
