"""Compiled audiences against the real PostgreSQL: for each operator, groups of them, NULLs, PET rows that are
missing, LIKE metacharacters and hostile values, the rows selected are exactly those a plain Python reading of
the rule picks, and the count agrees."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from connect_events import AudienceSpec, ColumnRef, ColumnSpec, ColumnType, Condition, ConditionGroup, ListSpec, PetSpec
from connect_runtime.audiences import compile_audience
from tests.databases import throwaway_pool

pytestmark = pytest.mark.integration

TODAY = date(2025, 3, 14)
MEMBERS = ListSpec(
    name="Members",
    columns=(
        ColumnSpec(name="TIER", type=ColumnType.TEXT, max_length=20),
        ColumnSpec(name="JOINED", type=ColumnType.DATE),
    ),
)
LOYALTY = PetSpec(
    name="Loyalty",
    list_name="Members",
    columns=(
        ColumnSpec(name="POINTS", type=ColumnType.INTEGER),
        ColumnSpec(name="BALANCE", type=ColumnType.NUMBER, precision=12, scale=2),
        ColumnSpec(name="VIP", type=ColumnType.BOOLEAN),
        ColumnSpec(name="SEEN", type=ColumnType.TIMESTAMP),
    ),
)
DDL = """
CREATE SCHEMA lists;
CREATE SCHEMA pets;
CREATE TABLE lists."Members" ("RIID_" bigint PRIMARY KEY, "EMAIL_ADDRESS_" text, "CITY_" text, "TIER" varchar(20),
    "JOINED" date);
CREATE TABLE pets."Loyalty" ("RIID_" bigint PRIMARY KEY, "POINTS" bigint, "BALANCE" numeric(12, 2), "VIP" boolean,
    "SEEN" timestamp);
"""
# RIID, address, city, tier, joined; then the PET row (points, balance, vip, seen) or None: no PET row.
ROWS: list[tuple[Any, ...]] = [
    (1, "ann@x.io", "Paris", "Gold", TODAY, (10, Decimal("5.50"), True, datetime(2025, 3, 14, 9))),
    (2, "bob@x.io", "paris", "gold plus", TODAY - timedelta(days=6), (0, Decimal("0"), False, datetime(2025, 3, 8))),
    (3, "cy@x.io", None, "  ", TODAY - timedelta(days=7), None),
    (4, "dee@x.io", "Oslo", "50%_off\\", None, (None, None, None, None)),
    (
        5,
        "eve@x.io",
        "Rome",
        "'; DROP TABLE x; --",
        date(2024, 1, 1),
        (99, Decimal("-1.25"), True, datetime(2024, 1, 1)),
    ),
    (6, "fay@x.io", "Oslo", None, TODAY + timedelta(days=1), (7, Decimal("100"), None, datetime(2025, 3, 15))),
]
COLUMNS = ("RIID_", "EMAIL_ADDRESS_", "CITY_", "TIER", "JOINED", "POINTS", "BALANCE", "VIP", "SEEN")


def _record(row: tuple[Any, ...]) -> dict[str, Any]:
    pet = row[5] or (None, None, None, None)
    return dict(zip(COLUMNS, (*row[:5], *pet), strict=True))


RECORDS = [_record(r) for r in ROWS]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with throwaway_pool(database_url, f"audiences_{uuid4().hex[:8]}", DDL) as pool:
        for riid, email, city, tier, joined, pet in ROWS:
            await pool.execute(
                'INSERT INTO lists."Members" VALUES ($1, $2, $3, $4, $5)', riid, email, city, tier, joined
            )
            if pet is not None:
                await pool.execute('INSERT INTO pets."Loyalty" VALUES ($1, $2, $3, $4, $5)', riid, *pet)
        yield pool


def cond(column: str, operator: Any, *values: str, pet: bool = False) -> Condition:
    return Condition(column=ColumnRef(column=column, pet="Loyalty" if pet else None), operator=operator, values=values)


def blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


# Each case: a condition or group, and the Python reading of the rule over a record.
Case = tuple[Condition | ConditionGroup, Callable[[dict[str, Any]], bool]]
CASES: list[Case] = [
    (cond("CITY_", "equals", "Paris"), lambda r: r["CITY_"] == "Paris"),
    (cond("CITY_", "not_equals", "Paris"), lambda r: r["CITY_"] != "Paris"),
    (cond("CITY_", "in", "Oslo", "Rome"), lambda r: r["CITY_"] in ("Oslo", "Rome")),
    (cond("TIER", "contains", "OLD"), lambda r: r["TIER"] is not None and "old" in r["TIER"].lower()),
    (cond("TIER", "contains", "%_"), lambda r: r["TIER"] is not None and "%_" in r["TIER"]),
    (cond("TIER", "contains", "_off\\"), lambda r: r["TIER"] is not None and "_off\\" in r["TIER"]),
    (cond("TIER", "starts_with", "gold"), lambda r: r["TIER"] is not None and r["TIER"].lower().startswith("gold")),
    (cond("TIER", "equals", "'; DROP TABLE x; --"), lambda r: r["TIER"] == "'; DROP TABLE x; --"),
    (cond("TIER", "is_empty"), lambda r: blank(r["TIER"])),
    (cond("TIER", "is_not_empty"), lambda r: not blank(r["TIER"])),
    (cond("POINTS", "is_empty", pet=True), lambda r: r["POINTS"] is None),
    (cond("POINTS", "in", "0", "99", pet=True), lambda r: r["POINTS"] in (0, 99)),
    (cond("POINTS", "not_equals", "10", pet=True), lambda r: r["POINTS"] != 10),
    (cond("JOINED", "is_empty"), lambda r: r["JOINED"] is None),
    (cond("JOINED", "is_not_empty"), lambda r: r["JOINED"] is not None),
    (cond("POINTS", "greater_than", "7", pet=True), lambda r: r["POINTS"] is not None and r["POINTS"] > 7),
    (cond("POINTS", "less_than", "10", pet=True), lambda r: r["POINTS"] is not None and r["POINTS"] < 10),
    (cond("POINTS", "between", "7", "10", pet=True), lambda r: r["POINTS"] is not None and 7 <= r["POINTS"] <= 10),
    (cond("BALANCE", "less_than", "0", pet=True), lambda r: r["BALANCE"] is not None and r["BALANCE"] < 0),
    (cond("BALANCE", "equals", "100.00", pet=True), lambda r: r["BALANCE"] == 100),
    (
        cond("BALANCE", "between", "0.00", "5.5", pet=True),
        lambda r: r["BALANCE"] is not None and 0 <= r["BALANCE"] <= Decimal("5.5"),
    ),
    (cond("VIP", "equals", "true", pet=True), lambda r: r["VIP"] is True),
    (cond("VIP", "not_equals", "true", pet=True), lambda r: r["VIP"] is not True),
    (
        cond("JOINED", "in_last_days", "7"),
        lambda r: r["JOINED"] is not None and TODAY - timedelta(6) <= r["JOINED"] <= TODAY,
    ),
    (
        cond("SEEN", "in_last_days", "7", pet=True),
        lambda r: r["SEEN"] is not None and datetime(2025, 3, 8) <= r["SEEN"] < datetime(2025, 3, 15),
    ),
    (
        cond("SEEN", "between", "2025-03-08 00:00:00", "2025-03-14 09:00:00", pet=True),
        lambda r: r["SEEN"] is not None and datetime(2025, 3, 8) <= r["SEEN"] <= datetime(2025, 3, 14, 9),
    ),
    (
        ConditionGroup(
            match="any",
            conditions=(
                cond("CITY_", "equals", "Oslo"),
                ConditionGroup(
                    conditions=(cond("VIP", "equals", "true", pet=True), cond("JOINED", "less_than", "2025-01-01"))
                ),
            ),
        ),
        lambda r: (
            r["CITY_"] == "Oslo" or (r["VIP"] is True and r["JOINED"] is not None and r["JOINED"] < date(2025, 1, 1))
        ),
    ),
]


@pytest.mark.parametrize(("condition", "rule"), CASES, ids=[str(i) for i in range(len(CASES))])
async def test_the_rows_selected_are_those_the_rule_picks(
    pool: asyncpg.Pool, condition: Condition | ConditionGroup, rule: Callable[[dict[str, Any]], bool]
) -> None:
    group = condition if isinstance(condition, ConditionGroup) else ConditionGroup(conditions=(condition,))
    spec = AudienceSpec(
        name="A",
        list_name="members",
        pets=("loyalty",),
        filter=group,
        columns=(
            ColumnRef(column="riid_"),
            ColumnRef(column="EMAIL_ADDRESS_"),
            ColumnRef(column="POINTS", pet="Loyalty"),
        ),
    )
    query = compile_audience(spec, MEMBERS, {"loyalty": LOYALTY}, today=TODAY)

    rows = await pool.fetch(query.select, *query.params)

    expected = [r for r in RECORDS if rule(r)]
    assert [(r["RIID_"], r["EMAIL_ADDRESS_"], r["POINTS"]) for r in rows] == [
        (r["RIID_"], r["EMAIL_ADDRESS_"], r["POINTS"]) for r in expected
    ]
    assert await pool.fetchval(query.count, *query.params) == len(expected)
    assert await pool.fetchval('SELECT count(*) FROM pets."Loyalty"') == 5  # nothing a value said was run
