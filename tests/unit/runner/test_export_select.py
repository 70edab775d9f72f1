"""The SQL of an export: each column type formatted as the file writes it, formula escaping, the no-qualifier
rule (header names included), and the COPY options of each file setting. The server's reading of this SQL is
checked in tests/integration/runner/test_export_select_pg.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from connect_events import ColumnSpec, ColumnType
from connect_runner.domain.export_select import (
    NO_QUALIFIER_QUOTE,
    Exported,
    OutputFormat,
    copy_options,
    export_query,
    formatted,
)
from connect_runner.domain.identifiers import InvalidIdentifierError

PLAIN = OutputFormat(delimiter=",", qualifier='"', quote_always=False, header=True, escape_formulas=False)
EMAIL = Exported("EMAIL", ColumnSpec(name="EMAIL", type=ColumnType.TEXT), 'l."EMAIL_ADDRESS_"')
VIP = Exported("VIP", ColumnSpec(name="VIP", type=ColumnType.BOOLEAN), 'l."VIP"')


def column(kind: ColumnType, name: str = "C") -> Exported:
    return Exported(name, ColumnSpec(name="C", type=kind), "t.c")


def test_the_query_formats_each_column_and_keeps_its_parameters() -> None:
    output = OutputFormat(delimiter=";", qualifier='"', quote_always=True, header=False, escape_formulas=True)
    query = export_query([EMAIL, VIP], 'FROM "lists"."M" AS l WHERE l."CITY_" = $1::text', 'l."RIID_"', output)
    assert query == (
        "SELECT CASE WHEN left(l.\"EMAIL_ADDRESS_\", 1) IN ('=', '+', '-', '@')"
        ' THEN \'\'\'\' || l."EMAIL_ADDRESS_" ELSE l."EMAIL_ADDRESS_" END AS "EMAIL",'
        ' CASE WHEN l."VIP" THEN \'true\' WHEN NOT l."VIP" THEN \'false\' END AS "VIP"'
        ' FROM "lists"."M" AS l WHERE l."CITY_" = $1::text ORDER BY l."RIID_"'
    )


@pytest.mark.parametrize(
    ("kind", "sql"),
    [
        (ColumnType.INTEGER, 't.c::text AS "C"'),
        (ColumnType.NUMBER, 't.c::text AS "C"'),
        (ColumnType.BOOLEAN, "CASE WHEN t.c THEN 'true' WHEN NOT t.c THEN 'false' END AS \"C\""),
        (ColumnType.DATE, "to_char(t.c, 'YYYY-MM-DD') AS \"C\""),
        (ColumnType.TIMESTAMP, "rtrim(rtrim(to_char(t.c, 'YYYY-MM-DD HH24:MI:SS.US'), '0'), '.') AS \"C\""),
        (ColumnType.TEXT, 't.c AS "C"'),
    ],
)
def test_each_type_is_written_independently_of_the_session(kind: ColumnType, sql: str) -> None:
    assert formatted(column(kind), PLAIN) == sql


@pytest.mark.parametrize("kind", [t for t in ColumnType if t is not ColumnType.TEXT])
def test_only_text_is_escaped_or_translated(kind: ColumnType) -> None:
    # A negative number starts with `-` but is no formula; no other type can hold a delimiter or a line break.
    odd = OutputFormat(delimiter="|", qualifier="", quote_always=True, header=True, escape_formulas=True)
    assert formatted(column(kind), odd) == formatted(column(kind), PLAIN)


@pytest.mark.parametrize(
    ("delimiter", "breaks"), [(",", "',\r\n\x01'"), (";", "';\r\n\x01'"), ("\t", "'\t\r\n\x01'"), ("|", "'|\r\n\x01'")]
)
def test_without_a_qualifier_breaks_become_spaces_and_empty_text_nothing(delimiter: str, breaks: str) -> None:
    output = OutputFormat(delimiter=delimiter, qualifier="", quote_always=False, header=True, escape_formulas=False)
    assert formatted(column(ColumnType.TEXT), output) == f"NULLIF(translate(t.c, {breaks}, '   '), '') AS \"C\""


def test_without_a_qualifier_formulas_are_escaped_before_translating() -> None:
    output = OutputFormat(delimiter=",", qualifier="", quote_always=False, header=True, escape_formulas=True)
    assert formatted(column(ColumnType.TEXT), output) == (
        "NULLIF(translate(CASE WHEN left(t.c, 1) IN ('=', '+', '-', '@') THEN '''' || t.c ELSE t.c END,"
        " ',\r\n\x01', '   '), '') AS \"C\""
    )


def test_without_a_qualifier_header_names_follow_the_rule_of_values() -> None:
    output = OutputFormat(delimiter=";", qualifier="", quote_always=False, header=True, escape_formulas=False)
    assert formatted(column(ColumnType.INTEGER, 'a;b\r\nc"d\x01'), output) == 't.c::text AS "a b  c""d"'
    assert formatted(column(ColumnType.INTEGER, 'a;b"'), PLAIN) == 't.c::text AS "a;b"""'


def test_a_header_name_postgresql_would_cut_is_refused() -> None:
    with pytest.raises(InvalidIdentifierError):
        formatted(column(ColumnType.TEXT, "P" * 40 + "." + "C" * 40), PLAIN)


@pytest.mark.parametrize(
    ("qualifier", "always", "quote", "force"),
    [
        ('"', False, '"', False),
        ('"', True, '"', True),
        ("", False, NO_QUALIFIER_QUOTE, False),
        ("", True, "\x01", False),
    ],
)
def test_copy_options(qualifier: str, always: bool, quote: str, force: bool) -> None:
    output = OutputFormat(delimiter="\t", qualifier=qualifier, quote_always=always, header=False, escape_formulas=True)
    assert copy_options(output) == {
        "format": "csv",
        "delimiter": "\t",
        "quote": quote,
        "header": False,
        "force_quote": force,
        "encoding": "UTF8",
    }


@dataclass(frozen=True)
class Settings:
    """`CsvOutput`'s fields the SELECT reads."""

    delimiter: str
    qualifier: str
    quote: Literal["needed", "always"]
    header: bool
    escape_formulas: bool


def test_the_format_of_a_jobs_settings() -> None:
    assert OutputFormat.of(Settings("|", "", "always", False, True)) == OutputFormat(
        delimiter="|", qualifier="", quote_always=True, header=False, escape_formulas=True
    )
    assert OutputFormat.of(Settings(",", '"', "needed", True, False)) == PLAIN
