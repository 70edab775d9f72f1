"""The SQL of an export (ADR 0012): the query with its columns formatted as the file writes them, and the options
of the `COPY (…) TO STDOUT` around it. asyncpg's `copy_from_query` writes the COPY and puts the query's `$n`
parameters in as literals the server quotes (`quote_literal`; names never hold a `$`, the identifier rule).

Formatting does not depend on the session's settings: booleans `true`/`false`, dates `YYYY-MM-DD`, timestamps
`YYYY-MM-DD HH:MM:SS[.ffffff]`, numbers as PostgreSQL writes numeric text (never an exponent). With
`escape_formulas`, text starting with `=`, `+`, `-` or `@` gets a leading `'`. Without a qualifier, a delimiter or
line break inside text becomes a space and empty text is written as nothing; the QUOTE is then a control character
removed from every value, so PostgreSQL never qualifies anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connect_events import ColumnSpec, ColumnType
from connect_runner.domain.identifiers import quote_ident

NO_QUALIFIER_QUOTE = "\x01"


@dataclass(frozen=True)
class OutputFormat:
    """What the SELECT needs of the file's settings."""

    delimiter: str
    qualifier: str
    quote_always: bool
    header: bool
    escape_formulas: bool


@dataclass(frozen=True)
class Exported:
    """One column of the file: its header name, its definition and the SQL that reads it."""

    name: str
    spec: ColumnSpec
    sql: str


def formatted(column: Exported, output: OutputFormat) -> str:
    """The column's value as the file writes it (text, or NULL), named by its header."""
    ref, kind = column.sql, column.spec.type
    if kind is ColumnType.BOOLEAN:
        value = f"CASE WHEN {ref} THEN 'true' WHEN NOT {ref} THEN 'false' END"
    elif kind is ColumnType.DATE:
        value = f"to_char({ref}, 'YYYY-MM-DD')"
    elif kind is ColumnType.TIMESTAMP:
        value = (
            f"CASE WHEN date_part('microseconds', {ref})::bigint % 1000000 = 0"
            f" THEN to_char({ref}, 'YYYY-MM-DD HH24:MI:SS')"
            f" ELSE rtrim(to_char({ref}, 'YYYY-MM-DD HH24:MI:SS.US'), '0') END"
        )
    elif kind is ColumnType.TEXT:
        value = ref
        if output.escape_formulas:
            value = f"CASE WHEN left({value}, 1) IN ('=', '+', '-', '@') THEN '''' || {value} ELSE {value} END"
        if not output.qualifier:
            breaks = _text_literal(output.delimiter + "\r\n" + NO_QUALIFIER_QUOTE)
            spaces = _text_literal("   ")  # one per character before the quote, which goes
            value = f"NULLIF(translate({value}, {breaks}, {spaces}), '')"
    else:
        value = f"{ref}::text"
    return f"{value} AS {quote_ident(column.name)}"


def export_query(columns: Sequence[Exported], from_where: str, order: str, output: OutputFormat) -> str:
    """`SELECT <formatted columns> <from_where> ORDER BY <order>` (its `$n` parameters as they are)."""
    listed = ", ".join(formatted(c, output) for c in columns)
    return f"SELECT {listed} {from_where} ORDER BY {order}"


def copy_options(output: OutputFormat) -> dict[str, object]:
    """The COPY options of the file's CSV form, as `copy_from_query` takes them (UTF-8 out: the runner encodes the
    file itself)."""
    return {
        "format": "csv",
        "delimiter": output.delimiter,
        "quote": output.qualifier or NO_QUALIFIER_QUOTE,
        "header": output.header,
        "force_quote": output.quote_always and bool(output.qualifier),
        "encoding": "UTF8",
    }


def _text_literal(text: str) -> str:
    """A literal of text from the job's settings (a delimiter): quotes doubled."""
    return "'" + text.replace("'", "''") + "'"
