"""The export byte chain (ADR 0012): whatever rows PostgreSQL writes and wherever the chunks are cut, the file
reads back as the same rows, in its encoding, with its line endings (never inside a value), compressed as asked
and streamed; a character the encoding cannot write names its row."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import os
import struct
import zipfile
from dataclasses import dataclass
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_runner.domain.export_stream import (
    NO_QUALIFIER_QUOTE,
    Compression,
    ExportEncodingError,
    ExportStream,
    FileEncoding,
    LineEnding,
    export_stream,
)

Row = list[str | None]
DELIMITERS = [",", ";", "\t", "|"]


def postgres_csv(
    rows: list[Row], header: list[str] | None, delimiter: str = ",", qualifier: str = '"', force: bool = False
) -> str:
    """What `COPY … TO STDOUT (FORMAT csv)` writes (copyto.c): a value is qualified when forced (not the header,
    not NULL), when it holds the delimiter, the qualifier, CR or LF, when it is empty (it would read as NULL),
    or when it is `\\.` alone in a one-column row; the qualifier is doubled inside; NULL is nothing; `\\n` ends
    each record."""

    def value(v: str | None, forced: bool, single: bool) -> str:
        if v is None:
            return ""
        if forced or v == "" or (single and v == "\\.") or any(c in v for c in delimiter + qualifier + "\r\n"):
            return qualifier + v.replace(qualifier, qualifier * 2) + qualifier
        return v

    def record(row: Row, forced: bool) -> str:
        return delimiter.join(value(v, forced, len(row) == 1) for v in row) + "\n"

    head = [record(list(header), False)] if header is not None else []
    return "".join(head + [record(row, force) for row in rows])


def through(data: bytes, cuts: list[int], stream: ExportStream) -> bytes:
    """`data` fed in pieces cut at `cuts` (wherever they fall), then the stream's end."""
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    out = b"".join(stream.feed(data[a:b]) for a, b in itertools.pairwise(bounds))
    return out + stream.end()


def unpacked(data: bytes, compression: Compression) -> bytes:
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.namelist() == ["out.csv"]
            return archive.read("out.csv")
    return data


def parsed(text: str, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def as_read(rows: list[Row]) -> list[list[str]]:
    """`rows` as `csv` reads them back: NULL as empty, and a one-column NULL row is an empty line."""
    return [[] if row == [None] else ["" if v is None else v for v in row] for row in rows]


def chain(
    qualifier: str = '"',
    crlf: bool = False,
    header: bool = False,
    encoding: FileEncoding = "utf-8",
    compression: Compression = "none",
) -> ExportStream:
    return ExportStream(
        qualifier=qualifier, crlf=crlf, header=header, encoding=encoding, compression=compression, entry_name="out.csv"
    )


AWKWARD = list(",;\t|\"\r\n '=@\x01ab\\.éü€日😀")
VALUES = st.one_of(st.none(), st.text(alphabet=st.sampled_from(AWKWARD), max_size=6))
CUTS = st.lists(st.integers(min_value=0, max_value=400), max_size=8)


@st.composite
def tables(draw: st.DrawFn, values: st.SearchStrategy[str | None] = VALUES) -> tuple[list[str], list[Row]]:
    width = draw(st.integers(min_value=1, max_value=4))
    names = [f"c{i}" for i in range(width)]
    return names, draw(st.lists(st.lists(values, min_size=width, max_size=width), max_size=8))


@settings(max_examples=500)
@given(
    tables(),
    CUTS,
    st.sampled_from(DELIMITERS),
    st.sampled_from(["none", "gzip", "zip"]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_the_file_reads_back_as_the_rows(
    table: tuple[list[str], list[Row]],
    cuts: list[int],
    delimiter: str,
    compression: Compression,
    crlf: bool,
    header: bool,
    force: bool,
) -> None:
    names, rows = table
    stream = chain(crlf=crlf, header=header, compression=compression)
    out = through(postgres_csv(rows, names if header else None, delimiter, force=force).encode(), cuts, stream)

    plain = unpacked(out, compression).decode()
    assert parsed(plain, delimiter) == ([names] if header else []) + as_read(rows)
    assert stream.rows == len(rows)
    # Exactly what PostgreSQL wrote, record ends aside: those inside values are never touched.
    record_end = "\r\n" if crlf else "\n"
    assert plain == _reended(postgres_csv(rows, names if header else None, delimiter, force=force), record_end)


def _reended(text: str, end: str) -> str:
    """PostgreSQL's output with each record's `\\n` written as `end` (a value's own line breaks kept)."""
    out, quoted = [], False
    for piece in text.split("\n"):
        quoted ^= piece.count('"') % 2 == 1
        out.append(piece + ("\n" if quoted else end))
    return "".join(out)[: -len(end)]  # text ends with a record end: the last piece is empty


@settings(max_examples=300)
@given(
    tables(st.one_of(st.none(), st.text(alphabet=st.sampled_from(list("ab \"'=é€\\.")), max_size=5))),
    CUTS,
    st.sampled_from(DELIMITERS),
    st.booleans(),
    st.booleans(),
)
def test_without_a_qualifier_nothing_is_ever_qualified(
    table: tuple[list[str], list[Row]], cuts: list[int], delimiter: str, crlf: bool, header: bool
) -> None:
    # The SELECT leaves no delimiter, line break, quote character or empty text in a value; PostgreSQL still
    # quotes `\.` alone in a one-column row, and the chain drops that quote.
    names, rows = table
    rows = [[v or None for v in row] for row in rows]
    written = postgres_csv(rows, names if header else None, delimiter, NO_QUALIFIER_QUOTE)
    stream = chain(qualifier="", crlf=crlf, header=header)
    out = through(written.encode(), cuts, stream).decode()

    end = "\r\n" if crlf else "\n"
    expected = [delimiter.join(v or "" for v in row) for row in ([names] if header else []) + rows]
    assert out == "".join(line + end for line in expected)
    assert stream.rows == len(rows)


def test_a_lone_backslash_dot_loses_the_quote_postgresql_puts_around_it() -> None:
    stream = chain(qualifier="", header=True)
    assert through(b"\x01\\.\x01\n\x01\\.\x01\na\n", [], stream) == b"\\.\n\\.\na\n"
    assert stream.rows == 2


LATIN = list('ab,"\r\n éüßÿ\xa0')
TEXT_OF = {
    "iso-8859-1": LATIN,
    "windows-1252": [*LATIN, "€", "œ", "—"],
    "utf-16": [*LATIN, "€", "日", "😀"],
    "utf-8": [*LATIN, "€", "日", "😀"],
}


@settings(max_examples=300)
@given(st.data(), st.sampled_from(list(TEXT_OF)), CUTS, st.booleans(), st.sampled_from(["none", "gzip"]))
def test_the_file_is_written_in_its_encoding(
    data: st.DataObject, encoding: FileEncoding, cuts: list[int], crlf: bool, compression: Compression
) -> None:
    names, rows = data.draw(tables(st.one_of(st.none(), st.text(st.sampled_from(TEXT_OF[encoding]), max_size=6))))
    stream = chain(crlf=crlf, header=True, encoding=encoding, compression=compression)
    out = unpacked(through(postgres_csv(rows, names).encode(), cuts, stream), compression)

    assert parsed(out.decode(encoding), ",") == [names, *as_read(rows)]
    if encoding == "utf-16":
        assert out[:2] == b"\xff\xfe" and out.count(b"\xff\xfe") == 1  # one BOM, first (little-endian here)
    assert stream.rows == len(rows)


@pytest.mark.parametrize("encoding", ["iso-8859-1", "windows-1252", "utf-16"])
def test_a_character_cut_between_chunks_is_written_whole(encoding: FileEncoding) -> None:
    data = "é,ü\n".encode()
    stream = chain(encoding=encoding)
    assert b"".join(stream.feed(data[i : i + 1]) for i in range(len(data))) + stream.end() == "é,ü\n".encode(encoding)


UNWRITABLE = {"iso-8859-1": "€", "windows-1252": "日"}


@settings(max_examples=300)
@given(
    st.sampled_from(list(UNWRITABLE)),
    st.lists(st.text(st.sampled_from(list('ab,"\r\né')), max_size=5), min_size=1, max_size=8),
    st.data(),
    CUTS,
    st.booleans(),
    st.booleans(),
)
def test_a_character_the_encoding_cannot_write_names_its_row(
    encoding: FileEncoding, values: list[str], data: st.DataObject, cuts: list[int], crlf: bool, header: bool
) -> None:
    bad = data.draw(st.integers(min_value=0, max_value=len(values) - 1))
    at = data.draw(st.integers(min_value=0, max_value=len(values[bad])))
    values[bad] = values[bad][:at] + UNWRITABLE[encoding] + values[bad][at:]
    rows: list[Row] = [["x", v] for v in values]
    stream = chain(crlf=crlf, header=header, encoding=encoding)

    with pytest.raises(ExportEncodingError) as exc:
        through(postgres_csv(rows, ["k", "v"] if header else None).encode(), cuts, stream)
    assert (exc.value.row, exc.value.character) == (bad + 1, UNWRITABLE[encoding])


def test_the_encoding_error_says_which_row_and_character() -> None:
    stream = chain(crlf=True, header=True, encoding="iso-8859-1")
    with pytest.raises(ExportEncodingError) as exc:
        through(b'k,v\na,"multi\nline"\nb,fine\nc,price \xe2\x82\xac5\n', [10], stream)
    assert str(exc.value) == "row 3 holds a character iso-8859-1 cannot write (U+20AC)"


def test_a_qualifier_cut_between_chunks_keeps_its_value_whole() -> None:
    stream = chain(crlf=True)
    pieces = [b'a,"x', b'""', b'\n"', b'"', b"\n", b'y"\n', b"b,c\n"]  # the value x"\n"\ny, cut everywhere
    assert b"".join(stream.feed(p) for p in pieces) + stream.end() == b'a,"x""\n""\ny"\r\nb,c\r\n'
    assert stream.rows == 2


def test_gzip_is_one_gzip_member() -> None:
    out = through(b"a,b\n1,2\n", [3], chain(compression="gzip"))
    assert out[:2] == b"\x1f\x8b" and gzip.decompress(out) == b"a,b\n1,2\n"


def test_zip_is_one_deflated_zip64_entry_streamed() -> None:
    stream = ExportStream(
        qualifier='"',
        crlf=False,
        header=False,
        encoding="utf-8",
        compression="zip",
        entry_name="members_20261203.csv",
        modified=datetime(2026, 12, 3, 5, 30, 12),
    )
    data = b"a,b\n" * 10_000
    out = through(data, [7, 5000], stream)
    archive = zipfile.ZipFile(io.BytesIO(out))
    assert archive.testzip() is None
    (info,) = archive.infolist()
    assert (info.filename, info.date_time, info.compress_type) == (
        "members_20261203.csv",
        (2026, 12, 3, 5, 30, 12),
        zipfile.ZIP_DEFLATED,
    )
    assert info.flag_bits & 0x08  # sizes and CRC in a data descriptor: written without seeking back
    assert _extra_ids(_local_extra(out)) == [0x0001]  # zip64 from the start: an entry over 4 GiB is sized right
    descriptor = 30 + len(info.filename) + len(_local_extra(out)) + info.compress_size
    assert out[descriptor : descriptor + 4] == b"PK\x07\x08"
    sizes = struct.unpack_from("<IQQ", out, descriptor + 4)  # 8 bytes each: zip64
    assert sizes == (info.CRC, info.compress_size, len(data))
    assert info.compress_size < len(data) // 10
    assert archive.read(info) == data


def _local_extra(archive: bytes) -> bytes:
    """The extra field of the archive's first local header."""
    name_length, extra_length = struct.unpack_from("<HH", archive, 26)
    return archive[30 + name_length : 30 + name_length + extra_length]


def _extra_ids(extra: bytes) -> list[int]:
    ids, at = [], 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, at)
        ids.append(kind)
        at += 4 + size
    return ids


@pytest.mark.parametrize("compression", ["none", "gzip", "zip"])
def test_bytes_come_out_as_they_go_in(compression: Compression) -> None:
    # Incompressible input: if a stage kept the file, the output would wait for `end`.
    stream = chain(compression=compression)
    chunk = 64 * 1024
    data = os.urandom(8 * 1024 * 1024).replace(b'"', b"x")
    largest_wait, passed = 0, 0
    for at in range(0, len(data), chunk):
        passed += len(stream.feed(data[at : at + chunk]))
        largest_wait = max(largest_wait, at + chunk - passed)
    assert largest_wait <= 4 * chunk
    assert len(stream.end()) <= 4 * chunk


@dataclass(frozen=True)
class Settings:
    """`CsvOutput`'s fields the chain reads."""

    qualifier: str
    header: bool
    encoding: FileEncoding
    line_ending: LineEnding
    compression: Compression


def test_the_chain_of_a_jobs_settings() -> None:
    stream = export_stream(Settings('"', True, "utf-16", "crlf", "gzip"), "out.csv")
    out = gzip.decompress(through(b'h\n"a\nb"\n', [], stream))
    assert out == '\ufeffh\r\n"a\nb"\r\n'.encode("utf-16-le")
    assert stream.rows == 1
