"""An export's COPY against the real PostgreSQL, through the byte chain: every column type formatted as the file
writes it whatever the session's DateStyle, formula escaping, the no-qualifier rule, always-quote, audience
parameters put in as literals (hostile text included), each encoding and compression read back row by row."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import AsyncIterator
from datetime import date
from uuid import uuid4

import asyncpg
import pytest

from connect_events import ColumnSpec, ColumnType
from connect_runner.domain.export_select import Exported, OutputFormat, copy_options, export_query
from connect_runner.domain.export_stream import Compression, ExportStream, FileEncoding
from tests.databases import throwaway_pool

pytestmark = pytest.mark.integration

DDL = """
CREATE TABLE people (id bigint PRIMARY KEY, name text, score numeric(12, 2), vip boolean, born date, seen timestamp);
INSERT INTO people VALUES
  (1, 'Ann', 1.50, true, '2000-02-29', '2025-03-14 09:05:01'),
  (2, '=SUM(A1)', -0.25, false, NULL, '2025-03-14 09:05:01.25'),
  (3, 'semi;colon, "quoted"', 1000000, NULL, '1999-12-31', NULL),
  (4, 'two
lines', NULL, true, '2024-01-01', '2024-01-01 00:00:00.000001'),
  (5, '', 0, false, '2024-06-30', '2024-06-30 23:59:59'),
  (6, NULL, 12.5, true, '2024-07-01', '2024-07-01 12:00:00'),
  (7, 'café ''O''Neil''', 3, true, '2024-07-02', '2024-07-02 12:00:00');
"""
COLUMNS = [
    Exported("ID", ColumnSpec(name="ID", type=ColumnType.INTEGER), "p.id"),
    Exported("NAME", ColumnSpec(name="NAME", type=ColumnType.TEXT), "p.name"),
    Exported("SCORE", ColumnSpec(name="SCORE", type=ColumnType.NUMBER), "p.score"),
    Exported("VIP", ColumnSpec(name="VIP", type=ColumnType.BOOLEAN), "p.vip"),
    Exported("BORN", ColumnSpec(name="BORN", type=ColumnType.DATE), "p.born"),
    Exported("SEEN", ColumnSpec(name="SEEN", type=ColumnType.TIMESTAMP), "p.seen"),
]
FORMATTED = [
    ["1", "Ann", "1.50", "true", "2000-02-29", "2025-03-14 09:05:01"],
    ["2", "=SUM(A1)", "-0.25", "false", "", "2025-03-14 09:05:01.25"],
    ["3", 'semi;colon, "quoted"', "1000000.00", "", "1999-12-31", ""],
    ["4", "two\nlines", "", "true", "2024-01-01", "2024-01-01 00:00:00.000001"],
    ["5", "", "0.00", "false", "2024-06-30", "2024-06-30 23:59:59"],
    ["6", "", "12.50", "true", "2024-07-01", "2024-07-01 12:00:00"],
    ["7", "café 'O'Neil'", "3.00", "true", "2024-07-02", "2024-07-02 12:00:00"],
]


@pytest.fixture(scope="module")
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with throwaway_pool(database_url, f"export_{uuid4().hex[:8]}", DDL) as pool:
        yield pool


async def export(
    db: asyncpg.Pool,
    output: OutputFormat,
    where: str = "",
    *params: object,
    encoding: FileEncoding = "utf-8",
    compression: Compression = "none",
    crlf: bool = False,
) -> tuple[bytes, int]:
    stream = ExportStream(
        qualifier=output.qualifier, crlf=crlf, header=output.header, encoding=encoding,
        compression=compression, entry_name="people.csv",
    )  # fmt: skip
    parts: list[bytes] = []

    async def take(chunk: bytes) -> None:
        parts.append(stream.feed(chunk))

    async with db.acquire() as conn:
        await conn.execute("SET DateStyle = 'SQL, DMY'")  # the formatting must not depend on it
        await conn.execute("SET standard_conforming_strings = on")
        query = export_query(COLUMNS, f"FROM people AS p {where}", "p.id", output)
        await conn.copy_from_query(query, *params, output=take, **copy_options(output))
        await conn.execute("RESET DateStyle")
    parts.append(stream.end())
    return b"".join(parts), stream.rows


def read(data: bytes, delimiter: str = ",", encoding: str = "utf-8") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline=""), delimiter=delimiter))


PLAIN = OutputFormat(delimiter=",", qualifier='"', quote_always=False, header=True, escape_formulas=False)


async def test_every_type_is_written_as_the_file_reads_it(db: asyncpg.Pool) -> None:
    data, rows = await export(db, PLAIN)
    assert read(data) == [[c.name for c in COLUMNS], *FORMATTED]
    assert rows == 7
    assert b'\n5,"",0.00,' in data and b"\n6,,12.50," in data  # empty text is not NULL


async def test_formulas_are_escaped_and_every_value_quoted(db: asyncpg.Pool) -> None:
    output = OutputFormat(delimiter=";", qualifier='"', quote_always=True, header=False, escape_formulas=True)
    data, _ = await export(db, output, "WHERE p.id IN (1, 2)")
    assert data == (
        b'"1";"Ann";"1.50";"true";"2000-02-29";"2025-03-14 09:05:01"\n'
        b'"2";"\'=SUM(A1)";"-0.25";"false";;"2025-03-14 09:05:01.25"\n'
    )


async def test_without_a_qualifier_nothing_is_quoted(db: asyncpg.Pool) -> None:
    output = OutputFormat(delimiter="|", qualifier="", quote_always=True, header=False, escape_formulas=False)
    data, rows = await export(db, output, "WHERE p.id IN (3, 4, 5)", crlf=True)
    assert data == (
        b'3|semi;colon, "quoted"|1000000.00||1999-12-31|\r\n'
        b"4|two lines||true|2024-01-01|2024-01-01 00:00:00.000001\r\n"
        b"5||0.00|false|2024-06-30|2024-06-30 23:59:59\r\n"
    )
    assert rows == 3


async def test_parameters_go_in_as_literals_and_hostile_text_is_only_text(db: asyncpg.Pool) -> None:
    hostile = "x'); DROP TABLE people; --\\ $2"
    where = "WHERE p.name = ANY($1::text[]) OR p.born > $2::date"
    data, _ = await export(db, PLAIN, where, ["Ann", hostile], date(2024, 6, 30))
    assert [r[0] for r in read(data)[1:]] == ["1", "6", "7"]
    assert await db.fetchval("SELECT count(*) FROM people") == 7


@pytest.mark.parametrize(("encoding", "compression"), [("windows-1252", "gzip"), ("utf-16", "none")])
async def test_encodings_and_compression_read_back(
    db: asyncpg.Pool, encoding: FileEncoding, compression: Compression
) -> None:
    data, _ = await export(db, PLAIN, encoding=encoding, compression=compression)
    plain = gzip.decompress(data) if compression == "gzip" else data
    assert read(plain, encoding=encoding)[1:] == FORMATTED
