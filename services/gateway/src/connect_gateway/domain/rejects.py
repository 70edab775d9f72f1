"""The rejects of a run, and their CSV file (spec §4.5): `line_number,reason,raw_text`, one row per rejected line.

Values are quoted as RFC 4180 says (a delimiter, quote or line break inside a value is kept, quoted). A raw line
is the file's text: one that starts like a spreadsheet formula (`=`, `+`, `-`, `@`, or a tab or carriage return
before one) gets a leading `'`, so that opening the download in a spreadsheet never runs it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

COLUMNS = ("line_number", "reason", "raw_text")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RejectRecord:
    """A row a run rejected: its line in the file, the reason code and the line as read (None: not kept)."""

    line_number: int
    reason: str
    raw_text: str | None


def defused(text: str | None) -> str:
    """`text` as a spreadsheet shows it without evaluating it (None: empty)."""
    if text is None:
        return ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(rows: Iterable[RejectRecord], *, header: bool = False) -> bytes:
    """The rows as UTF-8 CSV lines (ending in CRLF), after the header line when asked."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    writer.writerows((row.line_number, row.reason, defused(row.raw_text)) for row in rows)
    return out.getvalue().encode()
