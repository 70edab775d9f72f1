"""The SQL of an export: each column type formatted as the file writes it, formula escaping, the no-qualifier
rule, and the COPY options of each file setting."""

from __future__ import annotations

from connect_events import ColumnSpec, ColumnType
from connect_runner.domain.export_select import Exported, OutputFormat, copy_options, export_query, formatted

PLAIN = OutputFormat(delimiter=",", qualifier='"', quote_always=False, header=True, escape_formulas=False)
EMAIL = Exported("EMAIL", ColumnSpec(name="EMAIL", type=ColumnType.TEXT), 'l."EMAIL_ADDRESS_"')
VIP = Exported("VIP", ColumnSpec(name="VIP", type=ColumnType.BOOLEAN), 'l."VIP"')


def test_the_query_formats_each_column_and_keeps_its_parameters() -> None:
    output = OutputFormat(delimiter=";", qualifier='"', quote_always=True, header=False, escape_formulas=True)
    query = export_query([EMAIL, VIP], 'FROM "lists"."M" AS l WHERE l."CITY_" = $1::text', 'l."RIID_"', output)
    assert query == (
        "SELECT CASE WHEN left(l.\"EMAIL_ADDRESS_\", 1) IN ('=', '+', '-', '@')"
        ' THEN \'\'\'\' || l."EMAIL_ADDRESS_" ELSE l."EMAIL_ADDRESS_" END AS "EMAIL",'
        ' CASE WHEN l."VIP" THEN \'true\' WHEN NOT l."VIP" THEN \'false\' END AS "VIP"'
        ' FROM "lists"."M" AS l WHERE l."CITY_" = $1::text ORDER BY l."RIID_"'
    )
    assert copy_options(output) == {
        "format": "csv",
        "delimiter": ";",
        "quote": '"',
        "header": False,
        "force_quote": True,
        "encoding": "UTF8",
    }


def test_without_a_qualifier_breaks_become_spaces_and_nothing_is_quoted() -> None:
    output = OutputFormat(delimiter="|", qualifier="", quote_always=True, header=True, escape_formulas=False)
    text = Exported("T", ColumnSpec(name="T", type=ColumnType.TEXT), "t.x")
    assert formatted(text, output) == "NULLIF(translate(t.x, '|\r\n\x01', '   '), '') AS \"T\""
    assert (copy_options(output)["quote"], copy_options(output)["force_quote"]) == ("\x01", False)


def test_other_types_are_written_independently_of_the_session() -> None:
    def sql(kind: ColumnType) -> str:
        return formatted(Exported("C", ColumnSpec(name="C", type=kind), "t.c"), PLAIN)

    assert sql(ColumnType.DATE) == "to_char(t.c, 'YYYY-MM-DD') AS \"C\""
    assert sql(ColumnType.INTEGER) == 't.c::text AS "C"'
    assert sql(ColumnType.NUMBER) == 't.c::text AS "C"'
    assert "to_char(t.c, 'YYYY-MM-DD HH24:MI:SS.US')" in sql(ColumnType.TIMESTAMP)
