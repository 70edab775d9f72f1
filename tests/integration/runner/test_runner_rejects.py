"""Rows that cannot be loaded are rejected with their line number, reason and raw text; the rest load."""

from __future__ import annotations

from connect_events import ColumnType, CsvSettings, TableSpec
from tests.integration.runner.runner_it import PEOPLE_HEADER, RunnerWorld, succeeded
from tests.unit.runner.runner_builders import column, mapping


async def test_each_bad_row_is_rejected_with_its_line_and_reason(world: RunnerWorld) -> None:
    table = world.table()
    lines = [
        "1,Ann,1.5,true,1990-01-02,2024-05-06 07:08:09",  # 2 ok
        "2,Bob",  # 3 wrong field count
        ",NoKey,,,,",  # 4 empty key
        "x,Bad,,,,",  # 5 integer
        "5,Way too long name,,,,",  # 6 text over 10
        "6,Num,12345.6,,,",  # 7 number(6,2) overflows
        "7,Num,1e5,,,",  # 8 not a plain number
        "8,Bool,,maybe,,",  # 9 boolean
        "9,Date,,,2023-02-29,",  # 10 no such day
        "10,Date,,,01/02/2023,",  # 11 date format
        "11,Ts,,,,2024-01-01 25:00:00",  # 12 hour
        '12,"multi',  # 13 quoted value over two lines, then a wrong field count
        'line"',  # 14 (part of record 13)
        "13,Dup,,,,",  # 15 duplicate key: earlier row rejected
        "14,Ok,9999.99,,2024-02-29,",  # 16 ok
        "13,DupLast,,,,",  # 17 the last one wins
        "99999999999999999999,Big,,,,",  # 18 beyond bigint
    ]
    path = world.put("people.csv", PEOPLE_HEADER + "\n".join(lines) + "\n")

    event = succeeded(await world.run(1, path, table))

    assert await world.rejects(1) == [
        (3, "WRONG_FIELD_COUNT", "2,Bob"),
        (4, "MATCH_FIELD_EMPTY", ",NoKey,,,,"),
        (5, "INVALID_DATA_FORMAT", "x,Bad,,,,"),
        (6, "VALUE_TOO_LONG", "5,Way too long name,,,,"),
        (7, "INVALID_NUMBER", "6,Num,12345.6,,,"),
        (8, "INVALID_NUMBER", "7,Num,1e5,,,"),
        (9, "INVALID_DATA_FORMAT", "8,Bool,,maybe,,"),
        (10, "INVALID_DATE", "9,Date,,,2023-02-29,"),
        (11, "INVALID_DATE", "10,Date,,,01/02/2023,"),
        (12, "INVALID_DATA_FORMAT", "11,Ts,,,,2024-01-01 25:00:00"),
        (13, "WRONG_FIELD_COUNT", '12,"multi\nline"'),
        (15, "DUPLICATE_KEY", "13,Dup,,,,"),
        (18, "INVALID_DATA_FORMAT", "99999999999999999999,Big,,,,"),
    ]
    counts = event.payload.counts
    assert (counts.rows_read, counts.inserted, counts.rejected, counts.unchanged) == (16, 3, 13, 0)
    assert await world.names(table) == [(1, "Ann"), (13, "DupLast"), (14, "Ok")]


async def test_duplicate_keys_compare_as_typed_values(world: RunnerWorld) -> None:
    table = world.table()
    path = world.put("people.csv", PEOPLE_HEADER + "7,First,,,,\n007,Second,,,,\n+7,Third,,,,\n")

    event = succeeded(await world.run(1, path, table))

    assert [(line, reason) for line, reason, _ in await world.rejects(1)] == [
        (2, "DUPLICATE_KEY"),
        (3, "DUPLICATE_KEY"),
    ]
    assert event.payload.counts.inserted == 1
    assert await world.names(table) == [(7, "Third")]


async def test_odd_identifiers_no_header_and_other_file_settings(world: RunnerWorld) -> None:
    table = TableSpec(
        name=f'Odd "Table" {world.unique}',
        columns=(column("Key Col", ColumnType.INTEGER), column("Part", ColumnType.TEXT), column('va"lue')),
        primary_key=("Key Col", "part"),
    )
    content = '1;a;ünïcödé\r\n1;b;"semi;colon"\r\n\r\n2;a;caf\u00e9\r\n'
    path = world.put("odd.txt", content, encoding="windows-1252")

    event = succeeded(
        await world.run(
            1,
            path,
            table,
            columns=mapping(("1", "key col"), ("2", "Part"), ("3", 'VA"LUE')),
            file=CsvSettings(delimiter=";", header=False, encoding="windows-1252"),
        )
    )

    assert event.payload.counts.inserted == 3
    rows = await world.rows(table, order="1, 2")
    assert rows == [
        {"Key Col": 1, "Part": "a", 'va"lue': "ünïcödé"},
        {"Key Col": 1, "Part": "b", 'va"lue': "semi;colon"},
        {"Key Col": 2, "Part": "a", 'va"lue': "café"},
    ]


async def test_utf8_bom_header_and_tab_delimiter_without_qualifier(world: RunnerWorld) -> None:
    table = world.table()
    path = world.put("bom.tsv", '\ufeffID\tName\n1\t"quoted"\n')

    succeeded(
        await world.run(1, path, table, columns=mapping("id", "name"), file=CsvSettings(delimiter="\t", qualifier=""))
    )

    assert await world.names(table) == [(1, '"quoted"')]
