"""`CopyCheck` lets a file through to COPY only when PostgreSQL would read its records as the `csv` module does.

PostgreSQL's CSV reading is modelled here (quotes toggle anywhere, a doubled one inside quotes is literal, one
kind of line break per file, every line as wide as the first); for any bytes the check accepts and the model
reads without an error, the records must equal the `csv` module's, value for value after trimming.
"""

from __future__ import annotations

import csv
import io
import itertools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connect_runner.domain.copy_check import CopyCheck, CopyRefusedError

Records = list[list[str | None]]


def python_records(data: bytes, delimiter: str = ",") -> Records:
    reader = csv.reader(io.StringIO(data.decode(), newline=""), delimiter=delimiter, quotechar='"', doublequote=True)
    return [[v.strip() or None for v in row] for row in reader if row]


def postgres_records(data: bytes, delimiter: str = ",", trim: bool = True) -> Records | None:
    """The records COPY … (FORMAT csv, FORCE_NULL) stores (and then trimmed); None where COPY fails."""
    text = data.decode()
    records: Records = []
    field, fields, quoted, breaks, started = "", [], False, set(), False
    i = 0
    while i < len(text):
        c = text[i]
        started = c not in "\r\n" or quoted
        if quoted:
            if c == '"' and text[i + 1 : i + 2] == '"':
                field += '"'
                i += 1
            elif c == '"':
                quoted = False
            else:
                field += c
        elif c == '"':
            quoted = True
        elif c == delimiter:
            fields.append(field)
            field = ""
        elif c in "\r\n":
            kind = "\r\n" if text[i : i + 2] == "\r\n" else c
            breaks.add(kind)
            i += len(kind) - 1
            records.append([*fields, field])
            field, fields = "", []
        else:
            field += c
        i += 1
    if quoted or len(breaks) > 1:
        return None
    if started:
        records.append([*fields, field])
    if any(len(r) != len(records[0]) or len(r) < 2 for r in records):
        return None
    return [[(v.strip() if trim else v) or None for v in r] for r in records]


def checked(data: bytes, cuts: list[int] | None = None, delimiter: str = ",") -> CopyCheck | None:
    """The check after all of `data`, fed in chunks cut at `cuts`; None: refused."""
    check = CopyCheck(delimiter, '"', "utf-8")
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts or [])})
    try:
        for start, end in itertools.pairwise(bounds):
            check.feed(data[start:end])
    except CopyRefusedError:
        return None
    check.end()
    return check


def accepted(data: bytes, cuts: list[int] | None = None, delimiter: str = ",") -> bool:
    return checked(data, cuts, delimiter) is not None


CSV_BYTES = st.lists(
    st.sampled_from(
        [b"a", b"b", b" ", b",", b'"', b"\n", b"\r", b"\\", b".", b"\t", "\u00a0".encode(), "\u3000".encode()]
    ),
    max_size=40,
).map(b"".join)
CUTS = st.lists(st.integers(min_value=0, max_value=80), max_size=4)


@settings(max_examples=3000)
@given(CSV_BYTES, CUTS)
@example(b'a,"b""c"\n"d",e\n', [4])
@example(b'"a\r\nb",c\r\nd,e\r\n', [2, 3])
def test_whatever_the_check_accepts_postgres_reads_as_the_csv_module(data: bytes, cuts: list[int]) -> None:
    read = postgres_records(data)
    if accepted(data, cuts) and read is not None:
        assert read == python_records(data)


@settings(max_examples=3000)
@given(CSV_BYTES, CUTS)
@example(b'"a\n",b', [])
@example("a,b\u00a0".encode(), [4])
def test_values_said_to_need_no_trimming_need_none(data: bytes, cuts: list[int]) -> None:
    check = checked(data, cuts)
    if check is not None and not check.untrimmed:
        assert postgres_records(data, trim=False) == postgres_records(data)


@given(CSV_BYTES, CUTS)
def test_where_a_file_is_cut_into_chunks_does_not_change_the_verdict(data: bytes, cuts: list[int]) -> None:
    assert accepted(data, cuts) == accepted(data)


@pytest.mark.parametrize("data", [b"id,name\n1,Ann\n", b'"1","O""Neil"\r\n', "1,caf\u00e9 \u00e0\n".encode()])
def test_trimmed_files_need_no_trimming(data: bytes) -> None:
    check = checked(data)
    assert check is not None
    assert not check.untrimmed


@pytest.mark.parametrize(
    "data",
    [b"1, Ann\n", b"1,Ann \n", b"1,Ann\t", b" 1,Ann", b'1," Ann"\n', b'1,"Ann\n"\n', "1,Ann\u00a0\n".encode()],
)
def test_white_space_at_a_value_edge_needs_trimming(data: bytes) -> None:
    check = checked(data)
    assert check is not None
    assert check.untrimmed


@pytest.mark.parametrize(
    "data",
    [
        b"id,name\n1,Ann\n",
        b'"1","Ann ""A"" Smith"\r\n"2","semi;colon, and\nline"\r\n',
        b'1,""\n2,"x"\n',
        b'"a"",b","c"\n',
    ],
)
def test_well_formed_files_go_to_copy(data: bytes) -> None:
    assert all(accepted(data, [cut]) for cut in range(len(data) + 1))


@pytest.mark.parametrize(
    ("data", "delimiter"),
    [
        (b'ab"c,d"\n', ","),  # a qualifier inside an unquoted value: literal for the csv module
        (b'"ab"c,d\n', ","),  # text after a closing qualifier
        (b'1, "a"\n', ","),  # a space before the opening one
        (b'1;"a",b\n', ";"),  # a comma is no delimiter here
        (b"1,a\n\\.\n2,b\n", ","),  # PostgreSQL's end of data
    ],
)
def test_files_postgres_reads_otherwise_are_refused(data: bytes, delimiter: str) -> None:
    assert not any(accepted(data, [cut], delimiter) for cut in range(len(data) + 1))


def fed(data: bytes, size: int, longest: int) -> bool:
    """Whether a check with the field limit `longest` accepts `data` fed in chunks of `size` bytes."""
    check = CopyCheck(",", '"', "utf-8", longest)
    try:
        for start in range(0, len(data), size):
            check.feed(data[start : start + size])
    except CopyRefusedError:
        return False
    return True


@settings(max_examples=1000)
@given(CSV_BYTES, st.integers(min_value=1, max_value=6))
def test_a_value_longer_than_the_field_limit_never_goes_to_copy(data: bytes, size: int) -> None:
    longest = 6
    if fed(data, size, longest):
        assert all(len(v) <= longest for row in python_records(data) for v in row if v is not None)


@pytest.mark.parametrize(
    ("data", "accepted_"),
    [
        (b"id,name\n1,Ann\n2,Bob\n3,Cy\n", True),
        (b"id,name\n1,Annabella\n", False),  # 9 characters without a line break
        (b'id,name\n1,"An\nnabella"\n', False),  # a quoted value of 10 bytes, line break and all
        (b'1,"a,b"\n2,"d,e"\n', True),  # a line longer than the limit is refused too: it may hold such a value
    ],
)
def test_values_past_the_field_limit_are_refused_across_chunks(data: bytes, accepted_: bool) -> None:
    assert all(fed(data, size, 8) == accepted_ for size in range(1, 9))
