"""The rules of an *import profile data* job (spec §4.3): each error names its field, all come at once, and
exactly the forbidden match-column combinations are refused."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_events import (
    HASH_COLUMNS,
    RIID,
    EmailFormatMapping,
    Limits,
    MatchColumn,
    PermissionMapping,
    PetImport,
)
from connect_scheduler.domain.targets import Profile
from connect_scheduler.domain.validation import validate_job
from tests.unit.scheduler.scheduler_builders import (
    customers,
    mappings,
    members,
    orders_pet,
    profile_definition,
    source,
)

PROFILE = Profile(members(), {"orders": orders_pet(), "visits": orders_pet("Visits", "Other")})
BASE_MAPPING = mappings(("email", "EMAIL_ADDRESS_"), ("first", "FIRST_NAME"))


def errors(profile: Profile | None = PROFILE, **overrides: Any) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in validate_job(profile_definition(**overrides), profile)]


def with_mapping(*pairs: tuple[str, str], **overrides: Any) -> list[tuple[str, str]]:
    return errors(mapping=(*BASE_MAPPING, *mappings(*pairs)), **overrides)


def test_a_valid_profile_import_has_no_errors() -> None:
    assert errors() == []


def test_a_missing_list_and_pet_are_named() -> None:
    assert errors(Profile(None)) == [
        ("settings.list_name", "no list named Members"),
        ("settings.pets[0].pet", "no PET named Orders"),
    ]


def test_a_custom_tables_spec_is_no_list() -> None:
    assert ("settings.list_name", "no list named Members") in [
        (e.field, e.message) for e in validate_job(profile_definition(), customers())
    ]


MAPPING_CASES: dict[str, tuple[tuple[tuple[str, str], ...], dict[str, Any], list[tuple[str, str]]]] = {
    "an unknown column": (
        (("x", "NICKNAME"),),
        {},
        [("settings.mapping[2].target", "list Members has no column NICKNAME")],
    ),
    "a column twice in other case": (
        (("again", "first_name"),),
        {},
        [("settings.mapping[2].target", "column first_name is mapped twice")],
    ),
    "a derived column": (
        (("d", "EMAIL_DOMAIN_"),),
        {},
        [("settings.mapping[2].target", "EMAIL_DOMAIN_ is computed from EMAIL_ADDRESS_")],
    ),
    "a hash not matched on": (
        (("h", "email_md5_hash_"),),
        {},
        [
            (
                "settings.mapping[2].target",
                "EMAIL_MD5_HASH_ is computed from EMAIL_ADDRESS_ (map it only to match on it)",
            )
        ],
    ),
    "RIID_ not matched on": (
        (("r", "RIID_"),),
        {},
        [("settings.mapping[2].target", "RIID_ is set by the store (map it only to match on it)")],
    ),
    "a date the store sets": (
        (("c", "CREATED_DATE_"),),
        {},
        [("settings.mapping[2].target", "CREATED_DATE_ is set by the store")],
    ),
    "RIID_ matched on": ((("r", "RIID_"),), {"match_column_2": "RIID_", "insert_on_no_match": False}, []),
    "a hash matched on": (
        (("h", "EMAIL_SHA256_HASH_"),),
        {"match_column_1": "EMAIL_SHA256_HASH_", "insert_on_no_match": False},
        [],
    ),
    "system columns a file fills": (
        (("m", "MOBILE_NUMBER_"), ("p", "EMAIL_PERMISSION_STATUS_"), ("s", "POSTAL_STREET_1_")),
        {},
        [],
    ),
    "an unmapped match column": (
        (),
        {"match_column_2": "CUSTOMER_ID_"},
        [("settings.match_column_2", "map a source column to CUSTOMER_ID_ to match on it")],
    ),
    "a format on a custom date column": ((("b", "BIRTHDAY"),), {}, []),
}


@pytest.mark.parametrize(("pairs", "overrides", "expected"), MAPPING_CASES.values(), ids=MAPPING_CASES.keys())
def test_what_may_be_mapped_into_the_list(
    pairs: tuple[tuple[str, str], ...], overrides: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert with_mapping(*pairs, **overrides) == expected


def test_no_mapping_is_one_error() -> None:
    assert errors(mapping=()) == [("settings.mapping", "map at least one source column")]


def test_formats_fit_list_columns_as_they_do_table_columns() -> None:
    mapping = (*BASE_MAPPING, *mappings(("b", "BIRTHDAY")))
    dated = tuple(m.model_copy(update={"format": "DD.MM.YYYY"}) if m.target == "BIRTHDAY" else m for m in mapping)
    assert errors(mapping=dated) == []
    texted = tuple(m.model_copy(update={"format": "DD.MM.YYYY"}) if m.target == "FIRST_NAME" else m for m in mapping)
    assert errors(mapping=texted) == [
        ("settings.mapping[1].format", "a format applies to date and timestamp columns only")
    ]


def test_the_shared_import_rules_apply() -> None:
    found = errors(limits=Limits(min_rows=5, max_rows=2), source=source(path="upload/"))
    assert [field for field, _ in found] == ["settings.source.path", "settings.limits.min_rows"]


def forbidden(first: str, second: str | None, insert: bool) -> bool:
    """Spec §4.3, written out independently of the code under test."""
    pair = {first} if second is None else {first, second}
    if second is not None and (
        second == first or pair <= HASH_COLUMNS or ("EMAIL_ADDRESS_" in pair and bool(pair & HASH_COLUMNS))
    ):
        return True
    return insert and any(c == RIID or c in HASH_COLUMNS for c in pair)


MATCH_COLUMNS: tuple[str, ...] = get_args(MatchColumn)


@given(
    first=st.sampled_from(MATCH_COLUMNS),
    second=st.none() | st.sampled_from(MATCH_COLUMNS),
    insert=st.booleans(),
)
def test_exactly_the_forbidden_match_combinations_are_refused(first: str, second: str | None, insert: bool) -> None:
    used = dict.fromkeys(c for c in (first, second) if c is not None)
    mapping = mappings(("first", "FIRST_NAME"), *((f"key{i}", c) for i, c in enumerate(used)))
    found = errors(mapping=mapping, match_column_1=first, match_column_2=second, insert_on_no_match=insert)
    assert bool(found) == forbidden(first, second, insert)
    assert {field for field, _ in found} <= {"settings.match_column_2", "settings.insert_on_no_match"}


@pytest.mark.parametrize(
    ("first", "second", "insert", "expected"),
    [
        (
            "EMAIL_MD5_HASH_",
            "EMAIL_SHA256_HASH_",
            False,
            ("settings.match_column_2", "two hash columns cannot be combined"),
        ),
        (
            "EMAIL_SHA256_HASH_",
            "EMAIL_ADDRESS_",
            False,
            ("settings.match_column_2", "EMAIL_ADDRESS_ cannot be combined with a hash of it"),
        ),
        ("CUSTOMER_ID_", "CUSTOMER_ID_", False, ("settings.match_column_2", "must differ from match_column_1")),
        (
            "EMAIL_MD5_HASH_",
            None,
            True,
            (
                "settings.insert_on_no_match",
                "rows cannot be inserted when matching on EMAIL_MD5_HASH_ (a new row needs the address itself); "
                "set insert_on_no_match to false",
            ),
        ),
        (
            "CUSTOMER_ID_",
            "RIID_",
            True,
            (
                "settings.insert_on_no_match",
                "rows cannot be inserted when matching on RIID_ (the store assigns it); "
                "set insert_on_no_match to false",
            ),
        ),
    ],
)
def test_forbidden_combinations_say_why(
    first: str, second: str | None, insert: bool, expected: tuple[str, str]
) -> None:
    used = dict.fromkeys(c for c in (first, second) if c is not None)
    mapping = mappings(*((f"key{i}", c) for i, c in enumerate(used)))
    assert errors(mapping=mapping, match_column_1=first, match_column_2=second, insert_on_no_match=insert) == [expected]


def pets(*imports: tuple[str, tuple[tuple[str, str], ...]]) -> tuple[PetImport, ...]:
    return tuple(PetImport(pet=name, mapping=mappings(*pairs)) for name, pairs in imports)


PET_CASES: dict[str, tuple[tuple[PetImport, ...], list[tuple[str, str]]]] = {
    "no PETs": ((), []),
    "two PET columns in any case": (pets(("orders", (("l", "last_order"), ("t", "TOTAL")))), []),
    "an unknown PET": (pets(("Returns", (("l", "X"),))), [("settings.pets[0].pet", "no PET named Returns")]),
    "a PET of another list": (
        pets(("Visits", (("l", "LAST_ORDER"),))),
        [("settings.pets[0].pet", "PET Visits belongs to list Other, not Members")],
    ),
    "a PET twice": (
        pets(("Orders", (("l", "LAST_ORDER"),)), ("ORDERS", (("t", "TOTAL"),))),
        [("settings.pets[1].pet", "PET ORDERS is named twice")],
    ),
    "RIID_ into a PET": (
        pets(("Orders", (("r", "RIID_"),))),
        [("settings.pets[0].mapping[0].target", "RIID_ comes from the list row the file row matched")],
    ),
    "a list column into a PET": (
        pets(("Orders", (("f", "FIRST_NAME"),))),
        [("settings.pets[0].mapping[0].target", "PET Orders has no column FIRST_NAME")],
    ),
    "a PET without a mapping": (pets(("Orders", ())), [("settings.pets[0].mapping", "map at least one source column")]),
    "a PET column twice": (
        pets(("Orders", (("a", "TOTAL"), ("b", "total")))),
        [("settings.pets[0].mapping[1].target", "column total is mapped twice")],
    ),
}


@pytest.mark.parametrize(("imports", "expected"), PET_CASES.values(), ids=PET_CASES.keys())
def test_pet_rules(imports: tuple[PetImport, ...], expected: list[tuple[str, str]]) -> None:
    assert errors(pets=imports) == expected


VALUE_MAPPINGS: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "other values": (
        {"email_permission": PermissionMapping(opt_in=("1", "yes"), opt_out=("0", "no"), default="I")},
        [],
    ),
    "a blank value": (
        {"mobile_permission": PermissionMapping(opt_in=(" ",))},
        [("settings.mobile_permission.opt_in[0]", "must not be blank")],
    ),
    "a value in both, in other case": (
        {"email_permission": PermissionMapping(opt_in=("Y", "yes"), opt_out=(" YES ",))},
        [("settings.email_permission.opt_out[0]", "YES is also a value of opt_in")],
    ),
    "the same value twice in one set": ({"email_format": EmailFormatMapping(html=("H", "h"))}, []),
    "a format value in both": (
        {"email_format": EmailFormatMapping(html=("H",), text=("h",))},
        [("settings.email_format.text[0]", "h is also a value of html")],
    ),
    "a line break": (
        {"email_format": EmailFormatMapping(text=("T\n",))},
        [("settings.email_format.text[0]", "must not contain control characters (line breaks, NUL and the like)")],
    ),
}


@pytest.mark.parametrize(("overrides", "expected"), VALUE_MAPPINGS.values(), ids=VALUE_MAPPINGS.keys())
def test_value_mappings(overrides: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert errors(**overrides) == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"mobile_mode": "local", "mobile_country": "GB"}, []),
        ({"mobile_country": "DE"}, []),
        (
            {"mobile_mode": "local"},
            [("settings.mobile_country", "local mobile numbers need their country (ISO 3166 alpha-2, e.g. GB)")],
        ),
        (
            {"mobile_mode": "local", "mobile_country": "gb"},
            [("settings.mobile_country", "must be an ISO 3166 alpha-2 code: two upper-case letters, e.g. GB")],
        ),
        (
            {"mobile_country": "GBR"},
            [("settings.mobile_country", "must be an ISO 3166 alpha-2 code: two upper-case letters, e.g. GB")],
        ),
    ],
)
def test_mobile_modes(overrides: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert errors(**overrides) == expected


def test_a_channel_rule_needs_its_column_mapped() -> None:
    assert errors(reject_if_channel_empty=("E",)) == []
    assert with_mapping(("m", "MOBILE_NUMBER_"), reject_if_channel_empty=("M", "E")) == []
    assert errors(reject_if_channel_empty=("P", "M", "E", "P")) == [
        (
            "settings.reject_if_channel_empty[0]",
            "map a source column to POSTAL_STREET_1_ to reject rows without a postal street",
        ),
        (
            "settings.reject_if_channel_empty[1]",
            "map a source column to MOBILE_NUMBER_ to reject rows without a mobile number",
        ),
        ("settings.reject_if_channel_empty[3]", "channel P is listed twice"),
    ]


def test_every_error_comes_at_once_in_field_order() -> None:
    found = errors(
        Profile(None),
        mapping=mappings(("r", "RIID_")),
        match_column_1="EMAIL_MD5_HASH_",
        pets=(),
        email_permission=PermissionMapping(opt_in=("",)),
        mobile_mode="local",
        limits=Limits(max_rejected_percent=101),
    )
    assert [field for field, _ in found] == [
        "settings.list_name",
        "settings.insert_on_no_match",
        "settings.match_column_1",
        "settings.email_permission.opt_in[0]",
        "settings.mobile_country",
        "settings.limits.max_rejected_percent",
    ]
