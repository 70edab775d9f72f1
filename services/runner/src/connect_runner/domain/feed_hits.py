"""Reading a data feed's `hit_data.tsv` (spec §6): ISO-8859-1, no header, records split on unescaped newlines and
fields on unescaped tabs, a backslash before a tab, a newline or a backslash making it literal. Plain code over
byte chunks, so the runner streams any size through it; and the filters that drop hits before loading.

Column names come from `column_headers.tsv` of the lookup archive: one line of tab-separated names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

ENCODING = "iso-8859-1"  # every byte is a character: chunks can be decoded wherever they are cut
ESCAPE = "\\"
DATA_SOURCE_HITS = frozenset({"5", "7", "8", "9"})  # `hit_source` of rows loaded by data sources, not collected


class HitDataError(ValueError):
    """A structurally broken file: the message names it and the record."""


def column_headers(text: str, name: str = "column_headers.tsv") -> list[str]:
    """The hit columns in order; each name once."""
    first = text.split("\n", 1)[0].rstrip("\r")
    names = [n.strip() for n in first.split("\t")]
    if not first.strip() or any(not n for n in names):
        raise HitDataError(f"{name}: the first line must name every column, separated by tabs")
    seen: set[str] = set()
    for column in names:
        if column in seen:
            raise HitDataError(f"{name}: column {column!r} is named twice")
        seen.add(column)
    return names


def _odd_escapes(text: str) -> bool:
    """Whether `text` ends with an odd run of backslashes (its last one escapes what follows)."""
    return (len(text) - len(text.rstrip(ESCAPE))) % 2 == 1


def split_fields(record: str) -> list[str]:
    """A record's fields: split on unescaped tabs, escapes undone. The escaped tabs, newlines and backslashes
    are first hidden as characters ISO-8859-1 text cannot hold, so one `str.split` finds the fields, then put
    back (an ASCII field, told in O(1), holds none): no loop over characters, for this runs per hit. A lone
    backslash at the end stays as it is."""
    if ESCAPE not in record:
        return record.split("\t")
    hidden = _ESCAPED.sub(_hide, record)
    return [field if field.isascii() else field.translate(_SHOWN) for field in hidden.split("\t")]


_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
# Stand-ins from Unicode's private use area: decoded ISO-8859-1 never holds a character above U+00FF.
_HIDDEN = {"\\": "\ue000", "\t": "\ue001", "\n": "\ue002"}
_SHOWN = {ord(stand_in): char for char, stand_in in _HIDDEN.items()}


def _hide(match: re.Match[str]) -> str:
    char = match.group(1)
    return _HIDDEN.get(char, char)


class HitReader:
    """Feed it `hit_data.tsv` bytes in any chunks; it yields each record's fields with its line number (of the
    record's first line), and (unless told not to) checks each has one field per column."""

    def __init__(self, columns: int, name: str, *, check_width: bool = True) -> None:
        self._columns = columns
        self._check_width = check_width  # False: records of another width are yielded, for the caller to reject
        self._name = name
        self._carry = ""  # the record that goes on into the next chunk
        self._line = 1  # the line the carried record starts on
        self.records = 0

    def feed(self, chunk: bytes) -> Iterator[tuple[int, list[str]]]:
        pieces = (self._carry + chunk.decode(ENCODING)).split("\n")
        self._carry = pieces.pop()
        yield from self._records(pieces)

    def end(self) -> Iterator[tuple[int, list[str]]]:
        """The last record when the file does not end with a newline."""
        carry, self._carry = self._carry, ""
        if carry and carry != "\r":
            line = self._line
            self._line += carry.count("\n") + 1
            yield line, self._fields(carry, line)

    def _records(self, pieces: list[str]) -> Iterator[tuple[int, list[str]]]:
        pending: list[str] = []
        for piece in pieces:
            if piece.endswith(ESCAPE) and _odd_escapes(piece):  # an escaped newline: the record goes on
                pending.append(piece + "\n")
                continue
            pending.append(piece)
            record = "".join(pending)
            line, lines = self._line, len(pending)
            pending = []
            self._line += lines
            yield line, self._fields(record, line)
        if pending:  # carried over with the rest: the next chunk completes it
            self._carry = "".join(pending) + self._carry

    def _fields(self, record: str, line: int) -> list[str]:
        fields = split_fields(record[:-1] if record.endswith("\r") else record)
        if self._check_width and len(fields) != self._columns:
            raise HitDataError(
                f"{self._name} line {line}: {len(fields)} fields where column_headers.tsv names {self._columns}"
            )
        self.records += 1
        return fields


@dataclass(frozen=True)
class HitFilter:
    """Which hits never load: excluded ones (`exclude_hit` > 0) always, data-source rows when asked."""

    drop_data_sources: bool = False

    def reason(self, exclude_hit: str, hit_source: str) -> str | None:
        """Why a hit with these `exclude_hit` and `hit_source` values is filtered out (the reason counted in the
        log), or None to keep it. Two strings, not the hit: this runs once per hit."""
        excluded = exclude_hit.strip()
        if excluded.isdigit() and int(excluded) > 0:
            return "EXCLUDED_HIT"
        if self.drop_data_sources and hit_source.strip() in DATA_SOURCE_HITS:
            return "DATA_SOURCE_HIT"
        return None


def escape(value: str) -> str:
    """How a value is written into `hit_data.tsv` (the inverse of the reader; the test data generator uses it)."""
    return value.replace(ESCAPE, ESCAPE * 2).replace("\t", ESCAPE + "\t").replace("\n", ESCAPE + "\n")


def record_line(fields: Sequence[str]) -> bytes:
    """One record of `hit_data.tsv`, newline included."""
    return ("\t".join(escape(f) for f in fields) + "\n").encode(ENCODING)
