"""`connect_runtime.audiences`: an audience is checked against its list and PETs (every error at once, each naming
its field) and compiled to SQL in which every name comes from the definitions and every value is a parameter."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_events import (
    AudienceSpec,
    ColumnRef,
    ColumnSpec,
    ColumnType,
    Condition,
    ConditionGroup,
    ListSpec,
    PetSpec,
)
from connect_runtime.audiences import AudienceInvalidError, audience_errors, compile_audience
from connect_runtime.sql_names import InvalidIdentifierError, list_table, pet_table, quote_ident

MEMBERS = ListSpec(
    name="Members",
    columns=(
        ColumnSpec(name="TIER", type=ColumnType.TEXT, max_length=10),
        ColumnSpec(name="JOINED", type=ColumnType.DATE),
        ColumnSpec(name="VIP", type=ColumnType.BOOLEAN),
    ),
)
LOYALTY = PetSpec(
    name="Loyalty",
    list_name="Members",
    columns=(
        ColumnSpec(name="POINTS", type=ColumnType.INTEGER),
        ColumnSpec(name="BALANCE", type=ColumnType.NUMBER, precision=12, scale=2),
        ColumnSpec(name="SEEN", type=ColumnType.TIMESTAMP),
        ColumnSpec(name="TIER", type=ColumnType.TEXT, max_length=10),
    ),
)
OTHER = PetSpec(name="Elsewhere", list_name="Others", columns=(ColumnSpec(name="X", type=ColumnType.INTEGER),))
PETS = {"loyalty": LOYALTY, "elsewhere": OTHER}


def ref(column: str, pet: str | None = None) -> ColumnRef:
    return ColumnRef(column=column, pet=pet)


def cond(column: str, operator: Any, *values: str, pet: str | None = None) -> Condition:
    return Condition(column=ref(column, pet), operator=operator, values=values)


def audience(*conditions: Condition | ConditionGroup, match: Any = "all", **fields: Any) -> AudienceSpec:
    body: dict[str, Any] = {
        "name": "Gold",
        "list_name": "Members",
        "pets": ("Loyalty",),
        "columns": (ref("EMAIL_ADDRESS_"), ref("POINTS", "Loyalty")),
        "filter": ConditionGroup(match=match, conditions=conditions) if conditions else None,
    }
    return AudienceSpec(**(body | fields))


def errors(spec: AudienceSpec, list_spec: ListSpec | None = MEMBERS) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in audience_errors(spec, list_spec, PETS)]


def test_an_audience_without_a_filter_selects_every_row_in_riid_order() -> None:
    query = compile_audience(audience(), MEMBERS, PETS)

    assert query.select == (
        'SELECT l."EMAIL_ADDRESS_" AS "EMAIL_ADDRESS_", p1."POINTS" AS "POINTS" FROM "lists"."Members" AS l'
        ' LEFT JOIN "pets"."Loyalty" AS p1 ON p1."RIID_" = l."RIID_" ORDER BY l."RIID_"'
    )
    assert query.count.startswith('SELECT count(*) FROM "lists"."Members" AS l LEFT JOIN')
    assert (query.params, query.next_param) == ((), 1)
    assert [(c.name, c.spec.type, c.sql) for c in query.columns] == [
        ("EMAIL_ADDRESS_", ColumnType.TEXT, 'l."EMAIL_ADDRESS_"'),
        ("POINTS", ColumnType.INTEGER, 'p1."POINTS"'),
    ]


def test_names_match_in_any_case_and_a_repeated_name_is_qualified_by_its_pet() -> None:
    spec = audience(columns=(ref("tier"), ref("Tier", "LOYALTY"), ref("riid_")))
    query = compile_audience(spec, MEMBERS, PETS)
    assert [c.name for c in query.columns] == ["TIER", "Loyalty.TIER", "RIID_"]
    assert 'p1."TIER" AS "Loyalty.TIER"' in query.select


@pytest.mark.parametrize(
    ("condition", "sql", "params"),
    [
        (cond("TIER", "equals", "gold"), 'l."TIER" = $1::text', ("gold",)),
        (cond("TIER", "not_equals", "gold"), 'l."TIER" IS DISTINCT FROM $1::text', ("gold",)),
        (cond("POINTS", "in", "1", "+2", pet="Loyalty"), 'p1."POINTS" = ANY($1::bigint[])', ([1, 2],)),
        (cond("TIER", "contains", "5%_\\"), "lower(l.\"TIER\") LIKE lower($1::text) ESCAPE '\\'", ("%5\\%\\_\\\\%",)),
        (cond("TIER", "starts_with", "go"), "lower(l.\"TIER\") LIKE lower($1::text) ESCAPE '\\'", ("go%",)),
        (cond("TIER", "is_empty"), '(l."TIER" IS NULL OR btrim(l."TIER") = \'\')', ()),
        (cond("VIP", "is_not_empty"), 'l."VIP" IS NOT NULL', ()),
        (cond("BALANCE", "greater_than", "10.50", pet="Loyalty"), 'p1."BALANCE" > $1::numeric', (Decimal("10.50"),)),
        (cond("JOINED", "less_than", "2025-01-31"), 'l."JOINED" < $1::date', (date(2025, 1, 31),)),
        (
            cond("SEEN", "between", "2025-01-01 00:00:00", "2025-01-31 23:59:59.5", pet="Loyalty"),
            'p1."SEEN" BETWEEN $1::timestamp AND $2::timestamp',
            (datetime(2025, 1, 1), datetime(2025, 1, 31, 23, 59, 59, 500000)),
        ),
        (cond("VIP", "equals", "TRUE"), 'l."VIP" = $1::boolean', (True,)),
        (
            cond("JOINED", "in_last_days", "7"),
            '(l."JOINED" >= ($1::date - $2::integer) AND l."JOINED" <= $1::date)',
            (date(2025, 3, 14), 6),
        ),
        (
            cond("SEEN", "in_last_days", "1", pet="Loyalty"),
            '(p1."SEEN" >= ($1::date - $2::integer)::timestamp AND p1."SEEN" < ($1::date + 1)::timestamp)',
            (date(2025, 3, 14), 0),
        ),
    ],
)
def test_each_operator_compiles_to_a_parameterised_test(condition: Condition, sql: str, params: tuple[Any]) -> None:
    query = compile_audience(audience(condition), MEMBERS, PETS, today=date(2025, 3, 14))
    assert query.from_where.endswith(f" WHERE ({sql})")
    assert query.params == params
    assert query.next_param == len(params) + 1


def test_groups_nest_with_and_or_and_parameters_number_in_order() -> None:
    inner = ConditionGroup(
        match="all", conditions=(cond("POINTS", "greater_than", "10", pet="Loyalty"), cond("VIP", "equals", "true"))
    )
    query = compile_audience(audience(cond("CITY_", "equals", "Paris"), inner, match="any"), MEMBERS, PETS)
    assert query.from_where.endswith(
        ' WHERE (l."CITY_" = $1::text OR (p1."POINTS" > $2::bigint AND l."VIP" = $3::boolean))'
    )
    assert query.params == ("Paris", 10, True)


def test_without_today_the_database_date_counts() -> None:
    query = compile_audience(audience(cond("JOINED", "in_last_days", "30")), MEMBERS, PETS)
    assert "current_date" in query.from_where and query.params == (29,)


def test_every_error_is_reported_at_once_naming_its_field() -> None:
    spec = audience(
        cond("NOPE", "equals", "x"),
        cond("VIP", "contains", "x"),
        cond("TIER", "between", "a"),
        cond("POINTS", "greater_than", "ten", pet="Loyalty"),
        cond("JOINED", "in_last_days", "0"),
        cond("TIER", "in_last_days", "3"),
        cond("X", "equals", "1", pet="Elsewhere"),
        cond("JOINED", "equals", "2025-02-30"),
        pets=("Loyalty", "Elsewhere", "Unknown", "loyalty"),
        columns=(ref("EMAIL_ADDRESS_"), ref("MISSING"), ref("POINTS", "Other")),
    )
    assert errors(spec) == [
        ("pets[1]", "the PET 'Elsewhere' extends another list, not 'Members'"),
        ("pets[2]", "no PET 'Unknown' is defined"),
        ("pets[3]", "the PET 'loyalty' is joined once already"),
        ("columns[1].column", "the list has no column 'MISSING'"),
        ("columns[2].pet", "'Other' is not one of the audience's PETs"),
        ("filter.conditions[0].column", "the list has no column 'NOPE'"),
        ("filter.conditions[1].operator", "'contains' does not apply to a boolean column"),
        ("filter.conditions[2].values", "'between' takes 2 value(s), not 1"),
        ("filter.conditions[3].values[0]", "'ten' is not a whole number"),
        ("filter.conditions[4].values[0]", "'0' is not a number of days from 1 to 36500"),
        ("filter.conditions[5].operator", "'in_last_days' applies to date and timestamp columns only"),
        ("filter.conditions[6].pet", "'Elsewhere' is not one of the audience's PETs"),
        ("filter.conditions[7].values[0]", "'2025-02-30' is not a date YYYY-MM-DD"),
    ]
    with pytest.raises(AudienceInvalidError) as exc:
        compile_audience(spec, MEMBERS, PETS)
    assert len(exc.value.errors) == 13


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (audience(pets=("Loyalty", "Unknown")), ("pets[1]", "no PET 'Unknown' is defined")),
        (
            audience(pets=("Loyalty", "Elsewhere")),
            ("pets[1]", "the PET 'Elsewhere' extends another list, not 'Members'"),
        ),
        (audience(pets=("Loyalty", "LOYALTY")), ("pets[1]", "the PET 'LOYALTY' is joined once already")),
        (audience(columns=(ref("RIID_"), ref("NOPE"))), ("columns[1].column", "the list has no column 'NOPE'")),
        (
            audience(columns=(ref("RIID_"), ref("NOPE", "Loyalty"))),
            ("columns[1].column", "the PET 'Loyalty' has no column 'NOPE'"),
        ),
        (
            audience(columns=(ref("X", "Elsewhere"),)),
            ("columns[0].pet", "'Elsewhere' is not one of the audience's PETs"),
        ),
        (audience(cond("NOPE", "equals", "x")), ("filter.conditions[0].column", "the list has no column 'NOPE'")),
        (
            audience(cond("JOINED", "starts_with", "2025")),
            ("filter.conditions[0].operator", "'starts_with' does not apply to a date column"),
        ),
        (
            audience(cond("VIP", "greater_than", "true")),
            ("filter.conditions[0].operator", "'greater_than' does not apply to a boolean column"),
        ),
        (
            audience(cond("POINTS", "in_last_days", "3", pet="Loyalty")),
            ("filter.conditions[0].operator", "'in_last_days' applies to date and timestamp columns only"),
        ),
        (
            audience(cond("TIER", "is_empty", "x")),
            ("filter.conditions[0].values", "'is_empty' takes 0 value(s), not 1"),
        ),
        (audience(cond("TIER", "in")), ("filter.conditions[0].values", "'in' takes 1 to 1000 value(s), not 0")),
        (
            audience(cond("POINTS", "equals", "9223372036854775808", pet="Loyalty")),
            ("filter.conditions[0].values[0]", "'9223372036854775808' is not a whole number"),
        ),
        (
            audience(cond("BALANCE", "equals", "1.234", pet="Loyalty")),
            (
                "filter.conditions[0].values[0]",
                "'1.234' is not a number with at most 10 digit(s) before '.' and 2 after",
            ),
        ),
        (
            audience(cond("BALANCE", "less_than", "12345678901", pet="Loyalty")),
            (
                "filter.conditions[0].values[0]",
                "'12345678901' is not a number with at most 10 digit(s) before '.' and 2 after",
            ),
        ),
        (audience(cond("VIP", "equals", "1")), ("filter.conditions[0].values[0]", "'1' is not true or false")),
        (
            audience(cond("JOINED", "equals", "14/03/2025")),
            ("filter.conditions[0].values[0]", "'14/03/2025' is not a date YYYY-MM-DD"),
        ),
        (
            audience(cond("SEEN", "equals", "2025-03-14 10:00", pet="Loyalty")),
            ("filter.conditions[0].values[0]", "'2025-03-14 10:00' is not a timestamp YYYY-MM-DD HH:MM:SS"),
        ),
        (
            audience(cond("JOINED", "in_last_days", "36501")),
            ("filter.conditions[0].values[0]", "'36501' is not a number of days from 1 to 36500"),
        ),
        (
            audience(cond("JOINED", "in_last_days", "1.5")),
            ("filter.conditions[0].values[0]", "'1.5' is not a number of days from 1 to 36500"),
        ),
    ],
)
def test_each_kind_of_error_names_its_field(spec: AudienceSpec, expected: tuple[str, str]) -> None:
    assert errors(spec) == [expected]


@pytest.mark.parametrize(
    ("condition", "value"),
    [
        (cond("BALANCE", "equals", " 0001.50 ", pet="Loyalty"), Decimal("1.50")),
        (cond("BALANCE", "equals", "-9999999999.99", pet="Loyalty"), Decimal("-9999999999.99")),
        (cond("VIP", "equals", " False "), False),
        (cond("JOINED", "in_last_days", "36500"), 36499),
        (cond("TIER", "equals", "longer than ten characters"), "longer than ten characters"),
        (cond("TIER", "contains", "longer than ten characters"), "%longer than ten characters%"),
    ],
)
def test_values_are_read_by_the_column_type(condition: Condition, value: object) -> None:
    query = compile_audience(audience(condition), MEMBERS, PETS)
    assert query.params == (value,)


def test_an_undefined_list_and_empty_columns_are_refused() -> None:
    assert errors(audience(columns=()), None) == [
        ("list_name", "no list 'Members' is defined"),
        ("columns", "name at least one column to export"),
    ]


def test_hostile_names_are_only_unknown_names_shown_escaped() -> None:
    hostile = 'x"; DROP TABLE y; --\x00' + "z" * 100
    spec = audience(cond(hostile, "equals", "1"), columns=(ref(hostile),))
    [(field, message), _] = errors(spec)
    assert field == "columns[0].column"
    assert message == "the list has no column 'x\"; DROP TABLE y; --\\x00" + "z" * 43 + "…'"


def test_groups_nest_only_so_deep() -> None:
    group = ConditionGroup(conditions=(cond("TIER", "is_empty"),))
    for _ in range(9):
        group = ConditionGroup(conditions=(group,))
    spec = audience(group)
    assert [f for f, _ in errors(spec)] == ["filter" + ".conditions[0]" * 8]


def test_tables_are_named_by_their_definitions_quoted() -> None:
    assert list_table('My "List"') == '"lists"."My ""List"""'
    assert pet_table("Loyalty") == '"pets"."Loyalty"'
    assert quote_ident("Mixed Case;--") == '"Mixed Case;--"'


@pytest.mark.parametrize("name", ["", "  ", "a\x00b", "é" * 32])
def test_names_postgresql_cannot_hold_exactly_are_refused(name: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        quote_ident(name)


NAMES = st.sampled_from(["TIER", "tier", "JOINED", "VIP", "POINTS", "SEEN", "BALANCE", "CITY_", 'x"y', "a;b", ""])
VALUES = st.lists(
    st.one_of(
        st.text(max_size=12),
        st.sampled_from(["1", "2.5", "true", "2025-01-02", "2025-01-02 03:04:05", "'; DROP TABLE t; --", "7"]),
    ),
    max_size=3,
)
OPERATORS = st.sampled_from(
    [
        "equals",
        "not_equals",
        "in",
        "contains",
        "starts_with",
        "is_empty",
        "is_not_empty",
        "greater_than",
        "less_than",
        "between",
        "in_last_days",
    ]
)
CONDITIONS = st.builds(
    lambda name, pet, operator, values: Condition(column=ref(name, pet), operator=operator, values=tuple(values)),
    NAMES,
    st.sampled_from([None, "Loyalty", "loyalty", "Other"]),
    OPERATORS,
    VALUES,
)
TREES = st.recursive(
    CONDITIONS,
    lambda inner: st.builds(
        lambda match, items: ConditionGroup(match=match, conditions=tuple(items)),
        st.sampled_from(["all", "any"]),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=8,
)
IDENTIFIERS = {f'"{n}"' for n in ("lists", "pets", "Members", "Loyalty", "RIID_")} | {
    f'"{c.name}"' for c in (*MEMBERS.all_columns(), *LOYALTY.columns)
}


QUOTED = r'"(?:[^"]|"")*"'
# The compiler's own words (keywords, functions, casts, aliases, punctuation), space-separated.
OWN_WORDS = (
    "SELECT AS FROM LEFT JOIN ON WHERE ORDER BY AND OR NOT IS NULL DISTINCT ANY LIKE ESCAPE BETWEEN"
    " lower btrim current_date text bigint numeric boolean date timestamp integer l p1 1 ( ) [ ] . , = < > : - +"
)
SQL_WORDS = {*OWN_WORDS.split(), "''", "'\\'"}


@settings(max_examples=400)
@given(TREES)
def test_whatever_compiles_names_only_defined_things_and_holds_no_value(tree: Condition | ConditionGroup) -> None:
    group = tree if isinstance(tree, ConditionGroup) else ConditionGroup(conditions=(tree,))
    spec = audience(group)
    try:
        query = compile_audience(spec, MEMBERS, PETS)
    except AudienceInvalidError as exc:
        assert exc.errors and all(e.field.startswith("filter") for e in exc.errors)
        return
    assert set(re.findall(QUOTED, query.select)) <= IDENTIFIERS | {'"Loyalty.POINTS"'}
    # Outside the quoted names, only the compiler's own words: no value the user wrote can be among them.
    tokens = re.findall(r"\$\d+|'[^']*'|\w+|\S", re.sub(QUOTED, "", query.select))
    assert {t for t in tokens if not t.startswith("$")} <= SQL_WORDS
    numbers = {int(t[1:]) for t in tokens if t.startswith("$")}
    assert numbers == set(range(1, len(query.params) + 1))
