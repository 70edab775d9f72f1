"""Every value check against PostgreSQL itself: what a check accepts, the cast loads; what it refuses, is refused.
Then the job's own ways of writing values (date formats, decimal comma, truncation, trimming) through real runs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from connect_events import ColumnMapping, ColumnSpec, ColumnType, CsvSettings, RunRequested
from connect_runner.domain.value_formats import format_reader
from connect_runner.domain.values import bad_value, cast, proof, sql_type
from tests.integration.runner.runner_it import PEOPLE_HEADER, RunnerWorld, succeeded
from tests.unit.runner.runner_builders import PEOPLE_MAPPING, column, mapping

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


FORMATTED: list[tuple[str, ColumnSpec, list[tuple[str, date | datetime]], list[str]]] = [
    (
        "DD/MM/YYYY",
        column("d", ColumnType.DATE),
        [("29/2/2024", date(2024, 2, 29)), ("01/01/0001", date(1, 1, 1)), ("31/12/9999", date(9999, 12, 31))],
        ["31/02/2023", "29/02/2023", "31/04/2023", "0/1/2024", "1/13/2024", "01/01/0000", "32/01/2024"],
    ),
    (
        "DD-MON-YYYY HH24:MI:SS.FF",
        column("ts", ColumnType.TIMESTAMP),
        [
            ("05-jan-2024 13:04:05.120", datetime(2024, 1, 5, 13, 4, 5, 120000)),
            ("29-FEB-2024 23:59:59.000001", datetime(2024, 2, 29, 23, 59, 59, 1)),
            ("01-Dec-2023 00:00:00.0", datetime(2023, 12, 1)),
        ],
        ["30-feb-2024 00:00:00.0", "01-jan-2024 24:00:00.0", "01-jan-2024 10:60:00.0", "01-jan-2024 10:00:60.0"],
    ),
]


@pytest.mark.parametrize(("text", "spec", "good", "bad"), FORMATTED, ids=[f[0] for f in FORMATTED])
async def test_values_read_in_a_format_meet_the_same_checks_and_load_as_written(
    audience_pool: asyncpg.Pool, text: str, spec: ColumnSpec, good: list[tuple[str, Any]], bad: list[str]
) -> None:
    read = format_reader(text, spec.type)
    check = bad_value("v.x", spec)
    assert check is not None
    loader = _on_a_value(f"({cast('v.x', spec)})::{sql_type(spec)}")

    refused = [value for value in bad if not await audience_pool.fetchval(_on_a_value(check[0]), read(value))]
    loaded = [await audience_pool.fetchval(loader, read(value)) for value, _ in good]

    assert refused == []
    assert loaded == [moment for _, moment in good]


def _with_settings(request: RunRequested, **changes: Any) -> RunRequested:
    """`request` with its job's import settings changed."""
    definition = request.payload.definition
    settings = definition.settings.model_copy(update=changes)
    payload = request.payload.model_copy(update={"definition": definition.model_copy(update={"settings": settings})})
    return request.model_copy(update={"payload": payload})


async def test_a_run_reads_dates_and_timestamps_in_their_columns_formats(world: RunnerWorld) -> None:
    table = world.table()
    columns = (
        *mapping("id", "name"),
        ColumnMapping(source="born", target="born", format="DD/MM/YYYY"),
        ColumnMapping(source="seen", target="seen", format="MM-DD-YYYY HH24:MI:SS.FF"),
    )
    lines = [
        "1,Ann, 31/12/1999 ,02-29-2024 13:04:05.5",  # 2 ok, trimmed
        "2,Bob,1999-12-31,",  # 3 ISO is not this column's format
        "3,Cy,31/02/2023,",  # 4 no such day
        "4,Di,,29-02-2024 13:04:05.5",  # 5 day and month swapped: no month 29
        "5,Ed,1/2/2024,12-31-2023 23:59:59.000001",  # 6 ok, one-digit day and month
        "6,Fi,,2024-01-01 00:00:00",  # 7 ISO is not this column's format
    ]
    path = world.put("people.csv", "id,name,born,seen\n" + "\n".join(lines) + "\n")

    event = succeeded(await world.run(1, path, table, columns=columns))

    assert [(line, reason) for line, reason, _ in await world.rejects(1)] == [
        (3, "INVALID_DATE"),
        (4, "INVALID_DATE"),
        (5, "INVALID_DATA_FORMAT"),
        (7, "INVALID_DATA_FORMAT"),
    ]
    assert event.payload.counts.inserted == 2
    assert [(r["id"], r["born"], r["seen"]) for r in await world.rows(table)] == [
        (1, date(1999, 12, 31), datetime(2024, 2, 29, 13, 4, 5, 500000)),
        (5, date(2024, 2, 1), datetime(2023, 12, 31, 23, 59, 59, 1)),
    ]


async def test_a_run_with_a_decimal_comma_reads_numbers_only_with_it(world: RunnerWorld) -> None:
    table = world.table()
    lines = ["1;1.5;1234,56", "2;Bob;1234.56", "3;Cy;-,5", "4;Di;1.234,5", "5;Ed;7"]
    path = world.put("people.csv", "id;name;score\n" + "\n".join(lines) + "\n")
    file = CsvSettings(delimiter=";", decimal_separator=",")

    succeeded(await world.run(1, path, table, columns=mapping("id", "name", "score"), file=file))

    assert [(line, reason) for line, reason, _ in await world.rejects(1)] == [
        (3, "INVALID_NUMBER"),
        (5, "INVALID_NUMBER"),
    ]
    assert [(r["id"], r["name"], r["score"]) for r in await world.rows(table)] == [
        (1, "1.5", Decimal("1234.56")),  # text keeps its point
        (3, "Cy", Decimal("-0.50")),
        (5, "Ed", Decimal("7.00")),
    ]


async def test_long_text_is_cut_to_its_column_when_the_job_says_truncate(world: RunnerWorld) -> None:
    table = world.table()  # name is varchar(10)
    content = PEOPLE_HEADER + "1,Ann Annerson-Smith,,,,\n2,äöüßäöüßäöü€,,,,\n3,Cy,,,,\n"
    path = world.put("people.csv", content)

    refused = succeeded(await world.run(1, path, table))
    truncated = succeeded(await world.execute(_with_settings(world.request(2, path, table), truncate_long_text=True)))

    assert [(line, reason) for line, reason, _ in await world.rejects(1)] == [
        (2, "VALUE_TOO_LONG"),
        (3, "VALUE_TOO_LONG"),
    ]
    assert refused.payload.counts.inserted == 1
    assert await world.rejects(2) == []
    assert (truncated.payload.counts.inserted, truncated.payload.counts.updated) == (2, 0)
    assert await world.names(table) == [(1, "Ann Anners"), (2, "äöüßäöüßäö"), (3, "Cy")]


async def test_values_are_trimmed_and_empty_means_null_for_every_type(world: RunnerWorld) -> None:
    table = world.table()
    content = (
        PEOPLE_HEADER
        + " 1 ,  Ann  , 2.5 , yes ,  2024-01-02 , 2024-01-02 03:04:05  \n"
        + '2, ,"",  ,"  ",\t\n'
        + " ,NoKey,,,,\n"
    )
    path = world.put("people.csv", content)

    succeeded(await world.run(1, path, table, columns=PEOPLE_MAPPING))

    assert [(line, reason) for line, reason, _ in await world.rejects(1)] == [(4, "MATCH_FIELD_EMPTY")]
    assert await world.rows(table) == [
        {
            "id": 1,
            "name": "Ann",
            "score": Decimal("2.50"),
            "active": True,
            "born": date(2024, 1, 2),
            "seen": datetime(2024, 1, 2, 3, 4, 5),
        },
        {"id": 2, "name": None, "score": None, "active": None, "born": None, "seen": None},
    ]
