"""Values a job writes its own way: explicit date and timestamp formats, the decimal comma, truncated text."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from connect_events import ColumnType, TableSpec
from connect_events.formats import format_problem
from connect_runner.domain.plan import resolve_by_header
from connect_runner.domain.value_formats import BatchReader, comma_number, format_reader, value_reader
from tests.unit.runner.runner_builders import column, mapping, people_table

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@pytest.mark.parametrize(
    ("text", "column_type", "value", "read"),
    [
        ("DD/MM/YYYY", ColumnType.DATE, "31/12/1999", "1999-12-31"),
        ("DD/MM/YYYY", ColumnType.DATE, "1/2/2024", "2024-02-01"),
        ("MM-DD-YYYY", ColumnType.DATE, "02-29-2024", "2024-02-29"),
        ("DD-MON-YYYY", ColumnType.DATE, "05-jAN-2024", "2024-01-05"),
        ("YYYY.MM.DD", ColumnType.DATE, "2024.03.04", "2024-03-04"),
        (" DD/MM/YYYY ", ColumnType.DATE, "04/03/2024", "2024-03-04"),
        ("MM-DD-YYYY HH24:MI:SS", ColumnType.TIMESTAMP, "12-31-2023 23:59:58", "2023-12-31 23:59:58"),
        ("DD.MM.YYYY HH:MI", ColumnType.TIMESTAMP, "31.12.2023 07:05", "2023-12-31 07:05:00"),
        ("DD/MM/YYYY", ColumnType.TIMESTAMP, "31/12/2023", "2023-12-31 00:00:00"),
        ("YYYY-MM-DDTHH24:MI:SS.FF", ColumnType.TIMESTAMP, "2023-12-31T10:11:12.250", "2023-12-31 10:11:12.25"),
        ("YYYY-MM-DD HH24:MI:SS,FF", ColumnType.TIMESTAMP, "2023-12-31 10:11:12,000", "2023-12-31 10:11:12"),
        ("HH24:MI DD/MON/YYYY", ColumnType.TIMESTAMP, "08:30 01/dec/2023", "2023-12-01 08:30:00"),
    ],
)
def test_a_value_written_in_its_format_reads_as_iso(text: str, column_type: ColumnType, value: str, read: str) -> None:
    assert format_reader(text, column_type)(value) == read


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("DD/MM/YYYY", "2024-01-02"),  # ISO, but not this column's format
        ("DD/MM/YYYY", "01-02-2024"),  # another separator
        ("DD/MM/YYYY", "01/02/24"),  # two-digit year
        ("DD/MM/YYYY", "001/02/2024"),
        ("DD/MM/YYYY", "01/02/2024 10:00"),  # more than the format
        ("DD/MM/YYYY", "01/02"),
        ("DD/MM/YYYY", "aa/02/2024"),
        ("DD/MM/YYYY", "٠١/٠٢/٢٠٢٤"),  # digits of another script
        ("DD-MON-YYYY", "01-Foo-2024"),
        ("DD-MON-YYYY", "01-01-2024"),
        ("DD-MON-YYYY", "01-January-2024"),
        ("DD/MM/YYYY HH24:MI", "01/02/2024 9:05"),  # hours take two digits
        ("DD/MM/YYYY HH24:MI:SS.FF", "01/02/2024 09:05:00.1234567"),
        ("YYYY-MM-DDTHH24:MI", "2024-01-02t09:05"),
    ],
)
def test_a_value_not_written_in_its_format_is_not_read(text: str, value: str) -> None:
    assert format_reader(text, ColumnType.TIMESTAMP)(value) is None


def test_ranges_and_the_calendar_are_left_to_the_sql_checks() -> None:
    # Rewritten to ISO, these meet the same checks as any ISO value (which reject them): one calendar rule.
    reader = format_reader("DD/MM/YYYY HH24:MI", ColumnType.TIMESTAMP)
    assert reader("31/02/2023 24:00") == "2023-02-31 24:00:00"
    assert format_reader("DD/MM/YYYY", ColumnType.DATE)("0/13/0000") == "0000-13-00"


# Separators between tokens: any of the language's, one or two of them.
SEPARATOR = st.text(alphabet=" -/.:,T", min_size=1, max_size=2)
TIME_FIELDS = (("HH24", "hour"), ("MI", "minute"), ("SS", "second"))
CLOCKS = ((), ("HH24",), ("HH24", "MI"), ("HH24", "MI", "SS"), ("HH24", "MI", "SS", "FF"))


@st.composite
def formats_and_values(draw: st.DrawFn) -> tuple[str, ColumnType, str, datetime]:
    """A format of the language, a moment written in it, and the moment as the format can tell it."""
    moment = draw(st.datetimes())
    column_type = draw(st.sampled_from((ColumnType.DATE, ColumnType.TIMESTAMP)))
    clock = draw(st.sampled_from(CLOCKS)) if column_type is ColumnType.TIMESTAMP else ()
    tokens = draw(st.permutations(["YYYY", draw(st.sampled_from(("MM", "MON"))), "DD", *clock]))
    fraction = f"{moment.microsecond:06d}"[: draw(st.integers(1, 6))]
    written = {
        "YYYY": f"{moment.year:04d}",
        "MM": draw(st.sampled_from((f"{moment.month:02d}", str(moment.month)))),
        "MON": draw(st.sampled_from((str.upper, str.lower, str.title)))(MONTH_NAMES[moment.month - 1]),
        "DD": draw(st.sampled_from((f"{moment.day:02d}", str(moment.day)))),
        "HH24": f"{moment.hour:02d}",
        "MI": f"{moment.minute:02d}",
        "SS": f"{moment.second:02d}",
        "FF": fraction,
    }
    separators = [draw(SEPARATOR) for _ in tokens[1:]]
    text, value = tokens[0], written[tokens[0]]
    for separator, token in zip(separators, tokens[1:], strict=True):
        text, value = text + separator + token, value + separator + written[token]
    assume(format_problem(text, column_type.value) is None)  # type: ignore[arg-type]
    hour, minute, second = (getattr(moment, f) if t in clock else 0 for t, f in TIME_FIELDS)
    microsecond = int(fraction.ljust(6, "0")) if "FF" in clock else 0
    return text, column_type, value, moment.replace(hour=hour, minute=minute, second=second, microsecond=microsecond)


@settings(max_examples=500, deadline=None)
@given(case=formats_and_values())
def test_any_moment_written_in_any_format_reads_back_equal(case: tuple[str, ColumnType, str, datetime]) -> None:
    text, column_type, value, moment = case

    read = format_reader(text, column_type)(value)

    assert read is not None
    if column_type is ColumnType.DATE:
        assert date.fromisoformat(read) == moment.date()
    else:
        assert datetime.fromisoformat(read) == moment


def test_a_decimal_comma_becomes_a_point_and_a_point_is_not_a_number() -> None:
    assert [comma_number(v) for v in ("1234,56", "-,5", "7", "+3,")] == ["1234.56", "-.5", "7", "+3."]
    assert comma_number("1234.56") is None
    assert comma_number("1.234,56") is None  # no thousands separators
    assert comma_number("1,2,3") == "1.2.3"  # not a number either: the SQL check rejects it


def _reader(decimal_separator: str = ".", truncate: bool = False, **formats: str) -> BatchReader | None:
    names = ("id", "name", "score", "active", "born", "seen")
    columns = mapping(*names)
    columns = tuple(c.model_copy(update={"format": formats.get(c.target)}) for c in columns)
    plan = resolve_by_header(list(names), columns, people_table(), "f.csv", truncate_long_text=truncate)
    return value_reader(plan, decimal_separator)


def test_plans_without_an_option_read_values_as_written() -> None:
    assert _reader() is None
    assert _reader(born="YYYY-MM-DD") is not None
    assert _reader(decimal_separator=",") is not None
    assert _reader(truncate=True) is not None


def test_a_value_that_cannot_be_read_rejects_its_row_with_its_types_reason() -> None:
    read = _reader(",", True, born="DD/MM/YYYY", seen="DD/MM/YYYY HH24:MI")
    assert read is not None
    records = [
        (2, "1", "Ann Annerson", "1,5", "t", "31/12/1999", "01/02/2024 10:30"),
        (3, "2", None, None, None, None, None),  # nulls stay null
        (4, "3", "Bob", "1.5", "t", "31/12/1999", None),
        (5, "4", "Cy", "2", "t", "1999-12-31", None),
        (6, "5", "Di", "2", "t", None, "01/02/2024"),
    ]
    rejects: list[tuple[int, str]] = []

    kept = read(records, rejects)

    assert kept == [
        (2, "1", "Ann Anners", "1.5", "t", "1999-12-31", "2024-02-01 10:30:00"),
        (3, "2", None, None, None, None, None),
    ]
    assert rejects == [(4, "INVALID_NUMBER"), (5, "INVALID_DATE"), (6, "INVALID_DATA_FORMAT")]


def test_truncation_counts_characters_and_cuts_only_text_with_a_length() -> None:
    read = _reader(truncate=True)
    assert read is not None
    assert read([(2, "1", "äöüßäöüßäöü€", "12345.5", None, None, None)], []) == [
        (2, "1", "äöüßäöüßäö", "12345.5", None, None, None)
    ]
    unbounded = TableSpec(name="t", columns=(column("t"),), primary_key=("t",))
    plan = resolve_by_header(["t"], mapping("t"), unbounded, "f.csv", truncate_long_text=True)
    assert value_reader(plan, ".") is None
