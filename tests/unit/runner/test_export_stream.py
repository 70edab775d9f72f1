"""The export byte chain (ADR 0012): whatever rows PostgreSQL writes and wherever the chunks are cut, the file
reads back as the same rows, in its encoding, with its line endings (never inside a value), compressed as asked;
a character the encoding cannot write names its row."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_runner.domain.export_stream import Compression, ExportEncodingError, ExportStream, FileEncoding

Row = list[str | None]


def postgres_csv(rows: list[Row], header: list[str] | None) -> bytes:
    """What `COPY … TO STDOUT (FORMAT csv)` writes: values holding `,` `"` CR or LF qualified, `"` doubled, empty
    text as `""`, NULL as nothing, `\\n` after each record."""

    def value(v: str | None) -> str:
        if v is None:
            return ""
        if v == "" or any(c in v for c in ',"\r\n'):
            return '"' + v.replace('"', '""') + '"'
        return v

    lines = [",".join(value(v) for v in row) + "\n" for row in ([list(header)] if header else []) + rows]  # type: ignore[operator]
    return "".join(lines).encode()


def through(data: bytes, cuts: list[int], stream: ExportStream) -> bytes:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    out = b"".join(stream.feed(data[a:b]) for a, b in itertools.pairwise(bounds))
    return out + stream.end()


def read_back(data: bytes, encoding: str, compression: Compression) -> list[list[str]]:
    if compression == "gzip":
        data = gzip.decompress(data)
    elif compression == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.namelist() == ["out.csv"]
            data = archive.read("out.csv")
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


VALUES = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list('ab ,"\r\néü€')), max_size=6))
ROWS = st.lists(st.lists(VALUES, min_size=3, max_size=3), max_size=8)
CUTS = st.lists(st.integers(min_value=0, max_value=200), max_size=5)


@settings(max_examples=400)
@given(ROWS, CUTS, st.sampled_from(["none", "gzip", "zip"]), st.booleans(), st.booleans())
def test_the_file_reads_back_as_the_rows(
    rows: list[Row], cuts: list[int], compression: Compression, crlf: bool, header: bool
) -> None:
    names = ["a", "b", "c"] if header else None
    stream = ExportStream(
        qualifier='"', crlf=crlf, header=header, encoding="utf-8", compression=compression, entry_name="out.csv"
    )
    out = through(postgres_csv(rows, names), cuts, stream)

    back = read_back(out, "utf-8", compression)
    expected = ([names] if names else []) + [["" if v is None else v for v in row] for row in rows]
    assert back == expected
    assert stream.rows == len(rows)
    plain = read_bytes(out, compression)
    if crlf:
        assert plain.count(b"\r\n") == len(expected) + sum(
            (v or "").count("\r\n") for row in rows for v in row
        )  # one per record, and those inside values were there already
    else:
        assert plain.count(b"\r\n") == sum((v or "").count("\r\n") for row in rows for v in row)


def read_bytes(data: bytes, compression: Compression) -> bytes:
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.read("out.csv")
    return data


@pytest.mark.parametrize("encoding", ["iso-8859-1", "windows-1252", "utf-16"])
def test_the_file_is_written_in_its_encoding(encoding: FileEncoding) -> None:
    rows: list[Row] = [["café", "naïve"], ["x", "y"]]
    stream = ExportStream(qualifier='"', crlf=False, header=False, encoding=encoding, compression="none", entry_name="")
    out = through(postgres_csv(rows, None), [3, 4, 5], stream)  # cut inside é
    assert read_back(out, encoding, "none") == rows
    if encoding == "utf-16":
        assert out.count(b"\xff\xfe") + out.count(b"\xfe\xff") == 1  # one BOM, first


def test_a_character_the_encoding_cannot_write_names_its_row() -> None:
    rows: list[Row] = [["a", "multi\nline"], ["b", "fine"], ["c", "price €5"]]
    stream = ExportStream(
        qualifier='"', crlf=True, header=True, encoding="iso-8859-1", compression="none", entry_name=""
    )
    with pytest.raises(ExportEncodingError) as exc:
        through(postgres_csv(rows, ["k", "v"]), [10], stream)
    assert exc.value.row == 3
    assert str(exc.value) == "row 3 holds a character iso-8859-1 cannot write (U+20AC)"


def test_without_a_qualifier_every_line_break_ends_a_record() -> None:
    stream = ExportStream(qualifier="", crlf=True, header=True, encoding="utf-8", compression="none", entry_name="")
    assert through(b"a,b\n1,2\n3,4\n", [5], stream) == b"a,b\r\n1,2\r\n3,4\r\n"
    assert stream.rows == 2
