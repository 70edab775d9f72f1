"""Every value check against PostgreSQL itself: what a check accepts, the cast loads; what it refuses, is refused."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from connect_events import ColumnSpec, ColumnType
from connect_runner.domain.values import bad_value, cast, proof, sql_type
from tests.unit.runner.runner_builders import column

CASES: list[tuple[ColumnSpec, list[str], list[str]]] = [
    (
        column("i", ColumnType.INTEGER),
        ["0", "-7", "+7", "007", "9223372036854775807", "-9223372036854775808", "0000000000000000000000001"],
        ["1.0", "1e3", "x", "--1", "9223372036854775808", "-9223372036854775809", "1 2", "0x10", "1_000", "+"],
    ),
    (
        column("n", ColumnType.NUMBER, precision=5, scale=2),
        ["0", "-1.5", "+.5", "5.", "999.99", "999.994", "-999.99", "0001.20", "12.345"],
        ["1000", "999.995", "1e2", "NaN", "Infinity", "-Infinity", "inf", ".", "1,5", "-", "1.2.3", "1_0"],
    ),
    (
        column("n", ColumnType.NUMBER, precision=2, scale=2),
        ["0.99", ".994", "-0.5", "0"],
        ["1", "0.995", "1.00"],
    ),
    (column("n", ColumnType.NUMBER), ["123456789012345678901234567890.123", "-0.0", "5"], ["abc", "1e5", "NaN"]),
    (
        column("b", ColumnType.BOOLEAN),
        ["true", "FALSE", "t", "F", "yes", "No", "y", "n", "1", "0", "on", "off"],
        ["tr", "2", "maybe", "yess"],
    ),
    (
        column("d", ColumnType.DATE),
        ["2024-02-29", "2000-02-29", "1999-12-31", "0001-01-01", "9999-12-31", "2023-04-30", "2023-01-31"],
        [
            "2023-02-29",
            "1900-02-29",
            "2023-04-31",
            "2023-13-01",
            "2023-00-10",
            "2023-01-00",
            "0000-01-01",
            "2023-1-1",
            "01/02/2023",
            "20230102",
            "2023-01-02 10:00",
            "epoch",
            "today",
        ],
    ),
    (
        column("ts", ColumnType.TIMESTAMP),
        ["2024-02-29 23:59:59", "2024-01-01T00:00", "2024-01-01 00:00:00.123456", "2023-06-30 12:30:15"],
        [
            "2024-02-30 00:00:00",
            "2024-01-01 24:00:00",
            "2024-01-01 10:60",
            "2024-01-01 10:00:60",
            "2024-01-01",
            "2024-01-01 10:00:00+02",
            "2024-01-01 10:00:00.1234567",
            "now",
        ],
    ),
    (column("t", max_length=3), ["abc", "äöü", "a"], ["abcd", "äöüß"]),
]
EACH_CASE = pytest.mark.parametrize(
    ("spec", "good", "bad"), CASES, ids=lambda c: getattr(c, "type", None) and str(c.type)
)


def _on_a_value(expression: str) -> str:
    """A query of `expression` over `v.x`, the text passed as $1."""
    return f"SELECT {expression} FROM (SELECT $1::text AS x) v"


@EACH_CASE
async def test_checks_accept_exactly_what_loads(
    audience_pool: asyncpg.Pool, spec: ColumnSpec, good: list[str], bad: list[str]
) -> None:
    check = bad_value("v.x", spec)
    assert check is not None
    query = _on_a_value(check[0])
    loader = _on_a_value(f"({cast('v.x', spec)})::{sql_type(spec)}")
    verdicts: dict[str, Any] = {value: await audience_pool.fetchval(query, value) for value in good + bad}

    assert [v for v in good if verdicts[v]] == []
    assert [v for v in bad if not verdicts[v]] == []
    for value in good:
        await audience_pool.fetchval(loader, value)  # never raises for an accepted value


@EACH_CASE
async def test_a_proof_never_vouches_for_a_value_the_checks_refuse(
    audience_pool: asyncpg.Pool, spec: ColumnSpec, good: list[str], bad: list[str]
) -> None:
    condition = proof("v.x", spec)
    assert condition is not None
    query = _on_a_value(condition)
    proven: dict[str, bool] = {}
    async with audience_pool.acquire() as conn:
        await conn.execute("SET datestyle = 'ISO, YMD'")
        for value in good + bad:
            try:
                proven[value] = bool(await conn.fetchval(query, value))
            except asyncpg.DataError:
                proven[value] = False
        await conn.execute("RESET datestyle")

    assert [v for v in bad if proven[v]] == []
    assert sum(proven[v] for v in good) >= len(good) // 2  # the common spellings are proven cheaply


async def test_a_null_value_is_never_rejected_by_a_value_check(audience_pool: asyncpg.Pool) -> None:
    for spec, _good, _bad in CASES:
        check = bad_value("v.x", spec)
        assert check is not None
        assert not await audience_pool.fetchval(f"SELECT coalesce({check[0]}, false) FROM (SELECT NULL::text AS x) v")
