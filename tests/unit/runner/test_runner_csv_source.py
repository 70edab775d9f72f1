"""Reading records: physical line numbers, trimming, field counts, header handling, rows PostgreSQL could not
store (NUL, bytes invalid in the encoding), values written a job's own way and files that cannot be read at all."""

from __future__ import annotations

import contextlib
import gzip
import io
import zipfile
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_events import ColumnMapping, CsvSettings
from connect_runner.adapters import csv_source
from connect_runner.adapters.csv_source import CsvSource, open_text, raw_lines
from connect_runner.domain.failures import RunFailure
from tests.unit.runner.runner_builders import PEOPLE_MAPPING, mapping, people_table

NAMES = mapping("id", "name")


def _read(
    text: str, settings: CsvSettings | None = None, columns: object = NAMES, truncate: bool = False
) -> tuple[list[tuple[object, ...]], CsvSource]:
    source = CsvSource(io.StringIO(text, newline=""), settings or CsvSettings(), "f.csv")
    plan = source.plan(columns, people_table(), truncate_long_text=truncate)  # type: ignore[arg-type]
    return [r for batch in source.batches(plan) for r in batch], source


def test_records_carry_the_line_they_start_on() -> None:
    records, source = _read('name,id\n" Ann ",1\n\n"Bob\nBobson",2\r\n3\n,4\n')

    assert records == [(2, "1", "Ann"), (4, "2", "Bob\nBobson"), (7, "4", None)]
    assert source.rejects == [(6, "WRONG_FIELD_COUNT")]
    assert source.rows_read == 4


def test_without_a_header_the_first_record_is_data_and_sets_the_width() -> None:
    settings = CsvSettings(header=False, delimiter="|")
    records, source = _read("\n1|a|x\n2|b\n3|c|z\n", settings, mapping(("1", "id"), ("2", "name")))

    assert records == [(2, "1", "a"), (4, "3", "c")]
    assert source.rejects == [(3, "WRONG_FIELD_COUNT")]


def test_doubled_qualifiers_are_literal_and_no_qualifier_keeps_quotes() -> None:
    assert _read('id,name\n1,"say ""hi"""\n')[0] == [(2, "1", 'say "hi"')]
    assert _read('id;name\n1;"x"\n', CsvSettings(delimiter=";", qualifier=""))[0] == [(2, "1", '"x"')]


def test_a_single_mapped_column() -> None:
    assert _read("id\n 5 \n", columns=mapping("id"))[0] == [(2, "5")]


def test_an_empty_file_has_no_header() -> None:
    with pytest.raises(RunFailure) as failure:
        _read("")
    assert (failure.value.code, failure.value.message) == ("FILE_INVALID", "'f.csv' is empty: no header row")


def _read_file(path: Path, settings: CsvSettings | None = None, name: str | None = None) -> tuple[list[Any], CsvSource]:
    settings = settings or CsvSettings()
    label = name or path.name
    with contextlib.closing(open_text(path, settings, label)) as stream:
        source = CsvSource(stream, settings, label)
        plan = source.plan(NAMES, people_table())
        return [r for batch in source.batches(plan) for r in batch], source


def test_a_nul_in_a_field_rejects_that_row_and_the_rest_loads() -> None:
    records, source = _read("id,name\n1,A\x00nn\n2,Bob\n")

    assert records == [(3, "2", "Bob")]
    assert source.rejects == [(2, "INVALID_DATA_FORMAT")]
    assert source.rows_read == 2


def test_a_bad_first_row_of_a_headerless_file_does_not_set_its_width() -> None:
    # Review of issue 5: the width came from the first record even when that one was rejected, so a stray
    # delimiter in it turned every good row into a wrong field count.
    settings = CsvSettings(header=False)
    records, source = _read("1,A\x00nn,extra\n2,Bob\n3,Cy\n", settings, mapping(("1", "id"), ("2", "name")))

    assert records == [(2, "2", "Bob"), (3, "3", "Cy")]
    assert source.rejects == [(1, "INVALID_DATA_FORMAT")]
    assert source.rows_read == 3


def test_bytes_invalid_in_the_encoding_reject_their_row_by_the_line_it_starts_on(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    # Line 2 holds a stray byte; the record on lines 3-4 has one inside its quoted value; line 5 is fine.
    path.write_bytes(b'id,name\n1,\xffAnn\n2,"Bo\nb\xfe"\n3,Cy\xc3\xa9\n')

    records, source = _read_file(path)

    assert records == [(5, "3", "Cyé")]
    assert source.rejects == [(2, "INVALID_DATA_FORMAT"), (3, "INVALID_DATA_FORMAT")]
    assert raw_lines(path, CsvSettings(), "people.csv", {2, 3}) == {2: "1,\ufffdAnn", 3: '2,"Bo\nb\ufffd"'}


@pytest.mark.parametrize(
    ("encoding", "content"),
    [
        ("windows-1252", b"id,name\n1,\x81x\n2,caf\xe9\n"),  # 0x81 is not a windows-1252 character
        ("utf-16", "id,name\n1,x".encode("utf-16") + b"\x00\xd8" + "\n2,café\n".encode("utf-16-le")),
    ],
)
def test_other_encodings_reject_undecodable_rows_too(tmp_path: Path, encoding: str, content: bytes) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(content)

    records, source = _read_file(path, CsvSettings(encoding=encoding))  # type: ignore[arg-type]

    assert source.rejects == [(2, "INVALID_DATA_FORMAT")]
    assert records == [(3, "2", "café")]


def test_a_compressed_file_with_a_bad_row_loads_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "download.gz"
    path.write_bytes(gzip.compress(b"id,name\n1,\x00\n2,Bob\n"))

    records, source = _read_file(path, name="/in/people.csv.gz")

    assert (records, source.rejects) == ([(3, "2", "Bob")], [(2, "INVALID_DATA_FORMAT")])


def test_without_a_header_a_bad_first_row_is_rejected_like_any_other() -> None:
    settings = CsvSettings(header=False)
    records, source = _read("1,\x00\n2,b\n", settings, mapping(("1", "id"), ("2", "name")))
    assert (records, source.rejects) == ([(2, "2", "b")], [(1, "INVALID_DATA_FORMAT")])


def test_a_bad_header_name_is_shown_storably_and_matches_nothing() -> None:
    with pytest.raises(RunFailure) as failure:
        _read("id,na\x00me\n1,Ann\n")
    assert failure.value.message == "header of 'f.csv' has no column 'name' (found: id, na\ufffdme)"
    assert _read("id,name,n\x00te\n1,Ann,x\n")[0] == [(2, "1", "Ann")]


ROWS = st.lists(
    st.tuples(
        st.text(alphabet="ab \n\x00é", max_size=6),  # a value may span lines, hold a NUL, or be non-ASCII
        st.booleans(),  # quoted or not (a value with a line break is always quoted)
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(rows=ROWS, block_chars=st.integers(min_value=1, max_value=40))
def test_bad_rows_are_found_wherever_blocks_end(rows: list[tuple[str, bool]], block_chars: int) -> None:
    lines = ["id,name\n"]
    expected_records, expected_rejects = [], []
    line = 2
    for key, (value, quoted) in enumerate(rows):
        text = f'"{value}"' if quoted or "\n" in value else value
        lines.append(f"{key},{text}\n")
        if "\x00" in value:
            expected_rejects.append((line, "INVALID_DATA_FORMAT"))
        else:
            expected_records.append((line, str(key), value.strip() or None))
        line += 1 + value.count("\n")

    with patch.object(csv_source, "BLOCK_CHARS", block_chars):
        records, source = _read("".join(lines))

    assert (records, source.rejects) == (expected_records, expected_rejects)


def test_a_damaged_or_cut_short_archive_fails_in_the_runners_words(tmp_path: Path) -> None:
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(b"id,name\n" + b"1,Ann\n" * 1000)[:-30])
    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(b"\x1f\x8b not really gzip, says the secret hunter2")
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"PK but no")

    failures = []
    for path, name in ((cut, "/in/a.csv.gz"), (garbage, "/in/b.csv.gz"), (not_zip, "/in/c.zip")):
        with pytest.raises(RunFailure) as failure:
            _read_file(path, name=name)
        failures.append((failure.value.code, failure.value.message))

    assert failures == [
        ("FILE_INVALID", "'/in/a.csv.gz' ends before its compressed data does (it was cut short)"),
        ("FILE_INVALID", "'/in/b.csv.gz' is not a readable compressed file (damaged, or not compressed)"),
        ("FILE_INVALID", "'/in/c.zip' is not a readable zip archive (damaged, or not a zip file)"),
    ]


def test_zip_archives_must_hold_one_unencrypted_file(tmp_path: Path) -> None:
    two, locked = tmp_path / "two.zip", tmp_path / "locked.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "id,name\n")
        archive.writestr("b.csv", "id,name\n")
    with zipfile.ZipFile(locked, "w") as archive:
        archive.writestr("a.csv", "id,name\n")
    data = bytearray(locked.read_bytes())  # mark the entry encrypted (flag bit 0) in both of its headers
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.index(signature) + offset] |= 0x1
    locked.write_bytes(bytes(data))

    messages = []
    for path in (two, locked):
        with pytest.raises(RunFailure) as failure:
            _read_file(path, name=path.name)
        messages.append(failure.value.message)

    assert messages == [
        "'two.zip' holds 2 files; expected exactly one",
        "'locked.zip' is encrypted; the runner reads only unencrypted archives",
    ]


def test_a_value_past_the_size_limit_fails_the_file_naming_the_line() -> None:
    with patch.object(csv_source, "FIELD_SIZE_LIMIT", 1000), pytest.raises(RunFailure) as failure:
        _read("id,name\n1,Ann\n2," + "x" * 2000 + "\n")
    assert failure.value.message == "a value in 'f.csv' near line 3 is longer than the limit of 1,000 characters"


def test_values_are_trimmed_and_empty_or_blank_means_null_for_every_type() -> None:
    text = (
        "id,name,score,active,born,seen\n"
        " 1 , Ann  Lee ,\t2.5 , t ,2024-01-02 , 2024-01-02 03:04:05 \n"
        '2,"",  ,"  ",\t,\n'
    )
    records, source = _read(text, columns=PEOPLE_MAPPING)

    assert records == [
        (2, "1", "Ann  Lee", "2.5", "t", "2024-01-02", "2024-01-02 03:04:05"),
        (3, "2", None, None, None, None, None),
    ]
    assert source.rejects == []


def _formatted(born: str, seen: str) -> tuple[ColumnMapping, ...]:
    dates = (
        ColumnMapping(source="born", target="born", format=born),
        ColumnMapping(source="seen", target="seen", format=seen),
    )
    return (*mapping("id", "score"), *dates)


def test_dates_in_a_columns_format_are_staged_as_iso_and_others_rejected_by_their_line() -> None:
    text = (
        "id;score;born;seen\n"
        "1;1,5; 31/12/1999 ;05-jan-2024 13:04:05.120\n"
        "2;;;\n"
        "3;2;1999-12-31;\n"
        "4;2;;2024-01-05 13:04:05\n"
        "5;2,5;31/02/2023;\n"
    )
    settings = CsvSettings(delimiter=";", decimal_separator=",")
    records, source = _read(text, settings, _formatted("DD/MM/YYYY", "DD-MON-YYYY HH24:MI:SS.FF"))

    assert records == [
        (2, "1", "1.5", "1999-12-31", "2024-01-05 13:04:05.12"),
        (3, "2", None, None, None),
        (6, "5", "2.5", "2023-02-31", None),  # an impossible date: the SQL checks reject it
    ]
    assert source.rejects == [(4, "INVALID_DATE"), (5, "INVALID_DATA_FORMAT")]
    assert source.rows_read == 5


def test_a_decimal_comma_file_rejects_a_point_in_a_number_only() -> None:
    text = "id;name;score\n1;1.5;2,25\n2;x;2.25\n3;y;-,5\n"
    settings = CsvSettings(delimiter=";", decimal_separator=",")
    records, source = _read(text, settings, mapping("id", "name", "score"))

    assert records == [(2, "1", "1.5", "2.25"), (4, "3", "y", "-.5")]
    assert source.rejects == [(3, "INVALID_NUMBER")]


def test_values_read_a_batch_at_a_time_keep_their_lines_across_batches() -> None:
    # Every third row has a date not in the format; name (varchar(10)) is cut, never rejected.
    rows = "".join(f"{i},{'x' * i},{'2024-01-01' if i % 3 == 0 else '1/1/2024'}\n" for i in range(1, 31))
    columns = (*mapping("id", "name"), ColumnMapping(source="born", target="born", format="DD/MM/YYYY"))
    with patch.object(csv_source, "BATCH_ROWS", 7):
        records, source = _read("id,name,born\n" + rows, columns=columns, truncate=True)

    assert records == [(i + 1, str(i), "x" * min(i, 10), "2024-01-01") for i in range(1, 31) if i % 3]
    assert source.rejects == [(i + 1, "INVALID_DATE") for i in range(3, 31, 3)]
    assert source.rows_read == 30


def test_without_the_truncate_option_long_text_is_staged_whole() -> None:
    records, _source = _read("id,name\n1,äöüßäöüßäöü€\n")
    assert records == [(2, "1", "äöüßäöüßäöü€")]  # the SQL check rejects it as too long


def test_without_a_header_the_first_record_is_read_the_columns_way_too() -> None:
    settings = CsvSettings(header=False, delimiter=";", decimal_separator=",")
    columns = mapping(("1", "id"), ("2", "score"))
    records, source = _read("1;2,5\n2;2.5\n3;3\n", settings, columns)

    assert records == [(1, "1", "2.5"), (3, "3", "3")]
    assert source.rejects == [(2, "INVALID_NUMBER")]
