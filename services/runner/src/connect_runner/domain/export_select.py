"""The SQL of an export (ADR 0012): the query with its columns formatted as the file writes them, and the options
of the `COPY (…) TO STDOUT` around it.

Parameters: `COPY` takes no bind parameters. asyncpg's `copy_from_query(query, *args, …)` prepares the query to
learn each `$n`'s type, has the server write every value as `quote_literal($n::<type>::text)` (an `E'…'` literal
when it holds a backslash, so it reads the same whatever `standard_conforming_strings` is), and replaces each
`$n` of the query text with it in one pass, so a `$2` inside a value is never replaced again. Only parameters are
`$n` in the text: names never hold a `$` next to a digit (the identifier rule) and the literals built here hold
none. No literal is built here from a value. The text of a date or timestamp parameter is the session's own
DateStyle, read back by the same session in the next statement.

Formatting does not depend on the session's settings: booleans `true`/`false`, dates `YYYY-MM-DD`, timestamps
`YYYY-MM-DD HH:MM:SS[.ffffff]` (the fraction without trailing zeros, as `::text` writes it under DateStyle ISO),
numbers as PostgreSQL writes numeric text (never an exponent). With `escape_formulas`, text starting with `=`,
`+`, `-` or `@` gets a leading `'`. Without a qualifier, a delimiter or line break inside text (and in a header
name) becomes a space and empty text is written as nothing; the QUOTE is then a control character removed from
every value, so PostgreSQL never qualifies anything (the byte chain drops the one case it still would).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from connect_events import ColumnSpec, ColumnType
from connect_runner.domain.export_stream import NO_QUALIFIER_QUOTE
from connect_runner.domain.identifiers import quote_ident

__all__ = [
    "NO_QUALIFIER_QUOTE",
    "ExportColumn",
    "Exported",
    "OutputFormat",
    "copy_options",
    "export_query",
    "formatted",
]

FORMULA_STARTS = ("=", "+", "-", "@")


class SelectSettings(Protocol):
    """What the SELECT needs of the file's settings (`CsvOutput`'s fields)."""

    @property
    def delimiter(self) -> str: ...
    @property
    def qualifier(self) -> str: ...
    @property
    def quote(self) -> Literal["needed", "always"]: ...
    @property
    def header(self) -> bool: ...
    @property
    def escape_formulas(self) -> bool: ...


@dataclass(frozen=True)
class OutputFormat:
    """What the SELECT needs of the file's settings."""

    delimiter: str
    qualifier: str
    quote_always: bool
    header: bool
    escape_formulas: bool

    @classmethod
    def of(cls, output: SelectSettings) -> OutputFormat:
        """The format of a job's `CsvOutput`."""
        return cls(
            delimiter=output.delimiter,
            qualifier=output.qualifier,
            quote_always=output.quote == "always",
            header=output.header,
            escape_formulas=output.escape_formulas,
        )


class ExportColumn(Protocol):
    """One column of the file: its header name, its definition and the SQL that reads it (an audience's
    `OutputColumn` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def spec(self) -> ColumnSpec: ...
    @property
    def sql(self) -> str: ...


@dataclass(frozen=True)
class Exported:
    """One column of the file: its header name, its definition and the SQL that reads it."""

    name: str
    spec: ColumnSpec
    sql: str


def formatted(column: ExportColumn, output: OutputFormat) -> str:
    """The column's value as the file writes it (text, or NULL), named by its header."""
    value = _FORMATS[column.spec.type](column.sql)
    if column.spec.type is ColumnType.TEXT:
        value = _text(value, output)
    return f"{value} AS {quote_ident(_header(column.name, output))}"


def export_query(columns: Sequence[ExportColumn], from_where: str, order: str, output: OutputFormat) -> str:
    """`SELECT <formatted columns> <from_where> ORDER BY <order>` (its `$n` parameters as they are)."""
    listed = ", ".join(formatted(c, output) for c in columns)
    return f"SELECT {listed} {from_where} ORDER BY {order}"


def copy_options(output: OutputFormat) -> dict[str, object]:
    """The COPY options of the file's CSV form, as `copy_from_query` takes them (UTF-8 out: the runner encodes the
    file itself). `force_quote=True` is `FORCE_QUOTE *`: every non-NULL value (not the header)."""
    return {
        "format": "csv",
        "delimiter": output.delimiter,
        "quote": output.qualifier or NO_QUALIFIER_QUOTE,
        "header": output.header,
        "force_quote": output.quote_always and bool(output.qualifier),
        "encoding": "UTF8",
    }


def _timestamp(ref: str) -> str:
    # One to_char, then the fraction's trailing zeros and a bare point go: the seconds' own zeros stay, the
    # point stands between them and the trimming.
    return f"rtrim(rtrim(to_char({ref}, 'YYYY-MM-DD HH24:MI:SS.US'), '0'), '.')"


_FORMATS = {
    ColumnType.TEXT: lambda ref: ref,
    ColumnType.INTEGER: lambda ref: f"{ref}::text",
    ColumnType.NUMBER: lambda ref: f"{ref}::text",  # numeric text: plain digits, its scale's zeros kept
    ColumnType.BOOLEAN: lambda ref: f"CASE WHEN {ref} THEN 'true' WHEN NOT {ref} THEN 'false' END",
    ColumnType.DATE: lambda ref: f"to_char({ref}, 'YYYY-MM-DD')",
    ColumnType.TIMESTAMP: _timestamp,
}


def _text(value: str, output: OutputFormat) -> str:
    if output.escape_formulas:
        starts = ", ".join(_text_literal(s) for s in FORMULA_STARTS)
        value = f"CASE WHEN left({value}, 1) IN ({starts}) THEN '''' || {value} ELSE {value} END"
    if not output.qualifier:
        breaks = _text_literal(output.delimiter + "\r\n" + NO_QUALIFIER_QUOTE)
        spaces = _text_literal("   ")  # one per character before the quote, which has none: it goes
        value = f"NULLIF(translate({value}, {breaks}, {spaces}), '')"
    return value


def _header(name: str, output: OutputFormat) -> str:
    """The header name as written: without a qualifier, what would need one becomes a space, as in values."""
    if output.qualifier:
        return name
    return name.translate({ord(c): " " for c in output.delimiter + "\r\n"}).replace(NO_QUALIFIER_QUOTE, "")


def _text_literal(text: str) -> str:
    """A literal of text from the job's settings (a delimiter): quotes doubled; never a backslash in it, so it
    reads the same whatever `standard_conforming_strings` is."""
    return "'" + text.replace("'", "''") + "'"
