"""An export's COPY against the real PostgreSQL, through the byte chain, compared row by row with the table's
own rows formatted in Python by the rule of `CsvOutput` (never by the SQL under test): every column type whatever
the session's DateStyle and time zone, formula escaping, the no-qualifier rule, always-quote, parameters put in
as literals (hostile text included, `standard_conforming_strings` on and off), each encoding and compression."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from uuid import uuid4

import asyncpg
import pytest

from connect_events import ColumnSpec, ColumnType
from connect_runner.domain.export_select import Exported, OutputFormat, copy_options, export_query
from connect_runner.domain.export_stream import Compression, ExportEncodingError, ExportStream, FileEncoding
from tests.databases import throwaway_pool

pytestmark = pytest.mark.integration

DDL = r"""
CREATE TABLE people (
  id bigint PRIMARY KEY, name text, score numeric(12, 2), amount numeric, vip boolean, born date, seen timestamp
);
INSERT INTO people VALUES
  (1, 'Ann', 1.50, 1e30, true, '2000-02-29', '2025-03-14 09:05:01'),
  (2, '=SUM(A1)', -0.25, 1e-20, false, NULL, '2025-03-14 09:05:01.25'),
  (3, 'semi;colon, "quoted"|pipe	tab', 1000000, 'NaN', NULL, '0001-01-01', NULL),
  (4, E'two\nlines\r\nand a CR\r', NULL, -0.5, true, '9999-12-31', '2024-01-01 00:00:00.000001'),
  (5, '', 0, 0, false, '2024-06-30', '2024-06-30 23:59:59.999999'),
  (6, NULL, 12.5, NULL, true, '2024-07-01', '0001-01-01 00:00:00'),
  (7, 'café ''O''Neil'' \ back\\slash $1', 3, 123456789012345678901234567890.123456789, true, '2024-07-02',
      '9999-12-31 23:59:59'),
  (8, '-1+1', 4, 4, false, '2024-07-03', '2024-07-03 10:00:00.5'),
  (9, '€uro 日本 😀', 5, 5, true, '2024-07-04', '2024-07-04 10:00:00'),
  (10, ' lead and trail ', 6, 6, NULL, '2024-07-05', '2024-07-05 00:00:00'),
  (11, '\.', 7, 7, true, '2024-07-06', '2024-07-06 12:34:56.789'),
  (12, E'ctrl\001char @x', 8, 8, false, '2024-07-07', '2024-07-07 12:34:56'),
  (13, '+44 20', 9, 9, true, '2024-07-08', '2024-07-08 12:34:56'),
  (14, '@handle', 10, 10, true, '2024-07-09', '2024-07-09 12:34:56');
"""
UNWRITABLE_ID = 9  # holds characters neither ISO-8859-1 nor Windows-1252 can write
COLUMNS = [
    Exported("ID", ColumnSpec(name="ID", type=ColumnType.INTEGER), "p.id"),
    Exported("NAME", ColumnSpec(name="NAME", type=ColumnType.TEXT), "p.name"),
    Exported("SCORE", ColumnSpec(name="SCORE", type=ColumnType.NUMBER), "p.score"),
    Exported("AMOUNT", ColumnSpec(name="AMOUNT", type=ColumnType.NUMBER), "p.amount"),
    Exported("VIP", ColumnSpec(name="VIP", type=ColumnType.BOOLEAN), "p.vip"),
    Exported("BORN", ColumnSpec(name="BORN", type=ColumnType.DATE), "p.born"),
    Exported("SEEN", ColumnSpec(name="SEEN", type=ColumnType.TIMESTAMP), "p.seen"),
]
# Whatever the session says, the file does not change.
ODD_SESSION = [
    "SET DateStyle = 'SQL, DMY'",
    "SET TimeZone = 'Pacific/Chatham'",
    "SET extra_float_digits = 3",
    "SET IntervalStyle = 'sql_standard'",
]
PLAIN = OutputFormat(delimiter=",", qualifier='"', quote_always=False, header=True, escape_formulas=False)


@pytest.fixture(scope="module")
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with throwaway_pool(database_url, f"export_{uuid4().hex[:8]}", DDL) as pool:
        yield pool


def rule(value: object, output: OutputFormat) -> str | None:
    """A value as `CsvOutput`'s rule writes it (None: NULL, written as nothing)."""
    if value is None or isinstance(value, int | Decimal | bool | date):
        return _typed(value)
    assert isinstance(value, str)
    if output.escape_formulas and value[:1] in ("=", "+", "-", "@"):
        value = "'" + value
    if not output.qualifier:
        value = value.translate({ord(c): " " for c in output.delimiter + "\r\n"}).replace("\x01", "") or None
    return value


def _typed(value: object) -> str | None:
    match value:
        case None:
            return None
        case bool():
            return "true" if value else "false"
        case datetime():
            fraction = f".{value.microsecond:06d}".rstrip("0") if value.microsecond else ""
            return value.strftime("%Y-%m-%d %H:%M:%S").rjust(19, "0") + fraction
        case date():
            return value.isoformat()
        case Decimal():
            return format(value, "f")
        case _:
            return str(value)


async def expected(
    db: asyncpg.Pool, output: OutputFormat, where: str = "", *params: object, columns: Sequence[Exported] = COLUMNS
) -> list[list[str | None]]:
    """The table's rows (read by asyncpg, bound parameters) formatted by the rule."""
    names = ", ".join(c.sql for c in columns)
    rows = await db.fetch(f"SELECT {names} FROM people AS p {where} ORDER BY p.id", *params)
    return [[rule(v, output) for v in row] for row in rows]


async def export(
    db: asyncpg.Pool,
    output: OutputFormat,
    where: str = "",
    *params: object,
    columns: Sequence[Exported] = COLUMNS,
    encoding: FileEncoding = "utf-8",
    compression: Compression = "none",
    crlf: bool = False,
    conforming: bool = True,
) -> tuple[bytes, int]:
    """The file an export writes, decompressed, and the data rows it counted."""
    stream = ExportStream(
        qualifier=output.qualifier, crlf=crlf, header=output.header, encoding=encoding,
        compression=compression, entry_name="people.csv",
    )  # fmt: skip
    parts: list[bytes] = []

    async def take(chunk: bytes) -> None:
        parts.append(stream.feed(chunk))

    async with db.acquire() as conn:
        for setting in [*ODD_SESSION, f"SET standard_conforming_strings = {'on' if conforming else 'off'}"]:
            await conn.execute(setting)
        query = export_query(columns, f"FROM people AS p {where}", "p.id", output)
        try:
            status = await conn.copy_from_query(query, *params, output=take, **copy_options(output))  # type: ignore[arg-type]
        except BaseException:
            # A failing `output` makes asyncpg (0.32) cancel the COPY; when the server had already finished it,
            # the connection then waits forever for that cancel. It is never used again.
            conn.terminate()
            raise
        await conn.execute("RESET ALL")
    parts.append(stream.end())
    assert status == f"COPY {stream.rows}"
    return _unpacked(b"".join(parts), compression), stream.rows


def _unpacked(data: bytes, compression: Compression) -> bytes:
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.read("people.csv")
    return data


def read(data: bytes, output: OutputFormat, encoding: str = "utf-8") -> list[list[str | None]]:
    """The file's records, an empty value as None: `csv` cannot tell `""` from nothing (the raw bytes are checked
    where it matters); without a qualifier every line break ends a record."""
    text = data.decode(encoding)
    if not output.qualifier:
        records = [line.split(output.delimiter) for line in text.replace("\r\n", "\n").split("\n")[:-1]]
    else:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=output.delimiter))
    return [[v or None for v in record] for record in records]


def _without_empty_text(rows: list[list[str | None]]) -> list[list[str | None]]:
    return [[v or None for v in row] for row in rows]


async def test_every_type_is_written_by_the_rule(db: asyncpg.Pool) -> None:
    data, rows = await export(db, PLAIN)
    table = await expected(db, PLAIN)
    assert read(data, PLAIN) == [[c.name for c in COLUMNS], *_without_empty_text(table)]
    assert rows == len(table) == 14
    assert b'\n5,"",0.00,0,false,' in data and b"\n6,,12.50,,true," in data  # empty text is not NULL
    assert b"\n1,Ann,1.50,1000000000000000000000000000000,true,2000-02-29,2025-03-14 09:05:01\n" in data
    assert b"\n2,=SUM(A1),-0.25,0.00000000000000000001,false,,2025-03-14 09:05:01.25\n" in data
    assert b'\n3,"semi;colon, ""quoted""|pipe\ttab",1000000.00,NaN,,0001-01-01,\n' in data
    assert b'\n4,"two\nlines\r\nand a CR\r",,-0.5,true,9999-12-31,2024-01-01 00:00:00.000001\n' in data


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("escape", [False, True])
@pytest.mark.parametrize("always", [False, True])
async def test_with_a_qualifier(db: asyncpg.Pool, delimiter: str, escape: bool, always: bool) -> None:
    output = OutputFormat(delimiter=delimiter, qualifier='"', quote_always=always, header=True, escape_formulas=escape)
    data, _ = await export(db, output, crlf=True)
    table = await expected(db, output)
    assert read(data, output) == [[c.name for c in COLUMNS], *_without_empty_text(table)]
    lines = data.split(b"\r\n")
    assert len(lines) == len(table) + 3 and lines[-1] == b""  # header, rows, the CRLF inside row 4's value
    assert b'two\nlines\r\nand a CR\r"' in data  # a value's own line breaks as they were
    if always:
        assert lines[0] == delimiter.join(c.name for c in COLUMNS).encode()  # the header is never forced
        assert lines[1].startswith(b'"1"' + delimiter.encode() + b'"')
    if escape:
        assert b"'=SUM(A1)" in data and b"'-1+1" in data and b"'+44 20" in data and b"'@handle" in data
        assert b"-0.25" in data and b"'-0.25" not in data  # numbers are never escaped


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("escape", [False, True])
async def test_without_a_qualifier_nothing_is_qualified(db: asyncpg.Pool, delimiter: str, escape: bool) -> None:
    output = OutputFormat(delimiter=delimiter, qualifier="", quote_always=True, header=True, escape_formulas=escape)
    renamed = [*COLUMNS[:-1], Exported(f"SEEN{delimiter}AT\nUTC", COLUMNS[-1].spec, COLUMNS[-1].sql)]
    data, rows = await export(db, output, columns=renamed, crlf=True)
    assert data.count(b'"') == 2 and b"\x01" not in data  # the two inside row 3's value
    header, *records = data.split(b"\r\n")[:-1]
    assert header.decode().split(delimiter)[-1] == "SEEN AT UTC"
    assert [r.count(delimiter.encode()) for r in records] == [len(COLUMNS) - 1] * len(records)
    assert read(data, output)[1:] == await expected(db, output)
    assert rows == len(records) == 14


async def test_a_lone_backslash_dot_is_written_as_it_is(db: asyncpg.Pool) -> None:
    # PostgreSQL quotes `\.` alone in a one-column row even with no qualifier to speak of; the chain drops it.
    output = OutputFormat(delimiter=",", qualifier="", quote_always=False, header=True, escape_formulas=False)
    data, rows = await export(db, output, "WHERE p.id IN (1, 5, 11)", columns=[COLUMNS[1]])
    assert (data, rows) == (b"NAME\nAnn\n\n\\.\n", 3)
    quoted, _ = await export(db, PLAIN, "WHERE p.id = 11", columns=[COLUMNS[1]])
    assert quoted == b'NAME\n"\\."\n'


HOSTILE = [
    "x'); DROP TABLE people; --",
    r"café 'O'Neil' \ back\\slash $1",  # row 7 exactly: quotes, backslashes, a `$1`
    'semi;colon, "quoted"|pipe\ttab',  # row 3 exactly
    "$2",
    "\\'",
    "E'\\\\'",
    "'; SELECT pg_sleep(10); --",
]


@pytest.mark.parametrize("conforming", [True, False])
async def test_parameters_go_in_as_literals_and_hostile_text_is_only_text(db: asyncpg.Pool, conforming: bool) -> None:
    where = (
        "WHERE p.name = ANY($1::text[]) OR p.born = $2 OR p.seen = $3 OR p.score = $4 OR p.id = $5"
        " OR (p.vip = $6 AND p.id > $5 + 8)"
    )
    params = (HOSTILE, date(2024, 6, 30), datetime(2024, 1, 1, 0, 0, 0, 1), Decimal("-0.25"), 8, False)
    data, rows = await export(db, PLAIN, where, *params, conforming=conforming)
    table = await expected(db, PLAIN, where, *params)
    assert [r[0] for r in table] == ["2", "3", "4", "5", "7", "8"]  # 12 is 8 + 4 away and not vip: not > 16
    assert read(data, PLAIN)[1:] == _without_empty_text(table) and rows == 6
    assert await db.fetchval("SELECT count(*) FROM people") == 14


async def test_null_parameters_and_no_rows(db: asyncpg.Pool) -> None:
    data, rows = await export(db, PLAIN, "WHERE p.name = $1::text OR p.id = $2", None, None)
    assert (data, rows) == (b"ID,NAME,SCORE,AMOUNT,VIP,BORN,SEEN\n", 0)


ENCODINGS: list[FileEncoding] = ["utf-8", "iso-8859-1", "windows-1252", "utf-16"]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("compression", ["none", "gzip", "zip"])
async def test_each_encoding_and_compression_reads_back(
    db: asyncpg.Pool, encoding: FileEncoding, compression: Compression
) -> None:
    where = "" if encoding.startswith("utf") else f"WHERE p.id <> {UNWRITABLE_ID}"
    data, _ = await export(db, PLAIN, where, encoding=encoding, compression=compression, crlf=True)
    assert read(data, PLAIN, encoding)[1:] == _without_empty_text(await expected(db, PLAIN, where))
    if encoding == "utf-16":
        assert data.startswith(b"\xff\xfe") and data.count(b"\xff\xfe") == 1


@pytest.mark.parametrize("encoding", ["iso-8859-1", "windows-1252"])
@pytest.mark.parametrize("header", [True, False])
async def test_a_character_the_encoding_cannot_write_names_its_row(
    db: asyncpg.Pool, encoding: FileEncoding, header: bool
) -> None:
    output = OutputFormat(delimiter=",", qualifier='"', quote_always=False, header=header, escape_formulas=False)
    with pytest.raises(ExportEncodingError) as exc:
        await export(db, output, encoding=encoding)
    assert exc.value.row == UNWRITABLE_ID  # ids 1… in order, row 4 spanning three lines before it
    assert exc.value.character == ("€" if encoding == "iso-8859-1" else "日")
