"""Reading records: physical line numbers, trimming, field counts, header handling (in-memory streams)."""

from __future__ import annotations

import io

import pytest

from connect_events import CsvSettings
from connect_runner.adapters.csv_source import CsvSource
from connect_runner.domain.failures import RunFailure
from tests.unit.runner.runner_builders import mapping, people_table

NAMES = mapping("id", "name")


def _read(
    text: str, settings: CsvSettings | None = None, columns: object = NAMES
) -> tuple[list[tuple[object, ...]], CsvSource]:
    source = CsvSource(io.StringIO(text, newline=""), settings or CsvSettings(), "f.csv")
    plan = source.plan(columns, people_table())  # type: ignore[arg-type]
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
    assert (failure.value.code, failure.value.message) == ("BAD_HEADER", "'f.csv' is empty: no header row")
