"""Reading a downloaded source file with the `csv` module: header, staged records, raw lines of rejects.

Per record the Python work is kept to the minimum: split (C), pick the mapped fields (C), trim and map
empty to None. Everything else (types, lengths, duplicates) is checked in SQL over the staged rows; only values
a job writes its own way (a date format, a decimal comma, text to truncate) are first rewritten, a batch at a
time, by `domain.value_formats`.
Line numbers are physical: a record starts on the line after the previous record ended, so a quoted value
spanning lines still points at the line where its record begins.

A row PostgreSQL could not store is rejected (`INVALID_DATA_FORMAT`) on its own, the rest of the file loads:
one holding a NUL character, or bytes that are not valid in the file's encoding. Decoding never stops at
such bytes: each undecodable sequence becomes `UNDECODABLE`, a lone surrogate that strict decoding never
produces (and, unlike `surrogateescape`, one character that works for every encoding, UTF-16 included).
Lines are read in blocks of about `BLOCK_CHARS`, and a block is looked into line by line only when it holds
a NUL or `UNDECODABLE` at all (two C-level searches per block), so clean files pay next to nothing.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import itertools
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, cast

from connect_events import ColumnMapping, CsvSettings, TableSpec
from connect_events.values import storable_text
from connect_runner.adapters.file_failures import (
    FIELD_SIZE_LIMIT,
    archive_failure,
    empty_failure,
    encrypted_failure,
    read_failure,
)
from connect_runner.domain.plan import LoadPlan, resolve_by_header, resolve_by_position
from connect_runner.domain.rejects import RejectReason
from connect_runner.domain.value_formats import BatchReader, chained, value_reader
from connect_runtime.compressed import ArchiveRefusedError, compression, single_entry

BATCH_ROWS = 5000
BLOCK_CHARS = 64 * 1024  # lines are read (and searched for bad characters) in blocks of about this size
StagedRecord = tuple[Any, ...]

UNDECODABLE = "\udcff"
DECODE_ERRORS = "connect-runner-undecodable"


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    """Decoding error handler: bytes the encoding cannot decode become one `UNDECODABLE`, and decoding goes on."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return UNDECODABLE, error.end


codecs.register_error(DECODE_ERRORS, _mark_undecodable)


def _is_bad(line: str) -> bool:
    return "\x00" in line or UNDECODABLE in line


def _picker(positions: tuple[int, ...], width: int) -> Callable[[list[str]], Sequence[str]]:
    """The mapped fields of a record, in staging order (the record itself when every field is mapped in order)."""
    if positions == tuple(range(width)):
        return _whole
    if len(positions) == 1:
        only = positions[0]
        return lambda row: (row[only],)
    pick: Callable[[list[str]], Sequence[str]] = itemgetter(*positions)
    return pick


def _whole(row: list[str]) -> list[str]:
    return row


def _position_or_zero(source: str) -> int:
    text = source.strip()
    return int(text) if text.isdigit() else 0


def _python_encoding(settings: CsvSettings) -> str:
    # utf-8-sig reads files with and without a byte-order mark alike.
    return "utf-8-sig" if settings.encoding == "utf-8" else settings.encoding


def open_text(path: Path, settings: CsvSettings, name: str) -> IO[str]:
    """The file as text; `.gz` and single-entry `.zip` files (by the remote `name`) are read transparently.

    Bytes the encoding cannot decode do not stop reading: they become `UNDECODABLE` (see `_checked_lines`).
    """
    binary = open_binary(path, name)
    return io.TextIOWrapper(binary, encoding=_python_encoding(settings), errors=DECODE_ERRORS, newline="")


def open_binary(path: Path, name: str) -> IO[bytes]:
    """The file's bytes; `.gz` and single-entry `.zip` files (by the remote `name`) decompressed."""
    try:
        return _open_binary(path, name)
    except (OSError, zipfile.BadZipFile, NotImplementedError) as exc:
        failure = read_failure(exc, name)
        if failure is None:
            raise
        raise failure from exc


def _open_binary(path: Path, name: str) -> IO[bytes]:
    kind = compression(name)
    if kind == "gzip":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if kind == "zip":
        archive = zipfile.ZipFile(path)
        try:
            entry = single_entry(archive)
        except ArchiveRefusedError as exc:
            archive.close()
            raise encrypted_failure(name) if exc.encrypted else archive_failure(name, exc.entries) from None
        return archive.open(entry)
    return path.open("rb")


def _checked_lines(stream: IO[str], bad: deque[int]) -> Iterator[str]:
    """The stream's physical lines; the numbers of those holding a NUL or `UNDECODABLE` are appended to `bad`
    before the reader gets to them."""
    return itertools.chain.from_iterable(_checked_blocks(stream, bad))


def _checked_blocks(stream: IO[str], bad: deque[int]) -> Iterator[list[str]]:
    # `readlines(hint)` splits lines in C exactly like iterating the stream does (newline="": \n, \r, \r\n)
    # and stops once it has `hint` characters: a block is about that big (plus one line), however short its lines.
    first = 1
    while block := stream.readlines(BLOCK_CHARS):
        text = "".join(block)
        if "\x00" in text or UNDECODABLE in text:  # rare: only then is each line looked at
            bad.extend(number for number, line in enumerate(block, first) if _is_bad(line))
        first += len(block)
        yield block


def _reader(lines: Iterable[str], settings: CsvSettings) -> Any:
    csv.field_size_limit(FIELD_SIZE_LIMIT)
    if settings.qualifier:
        return csv.reader(lines, delimiter=settings.delimiter, quotechar=settings.qualifier, doublequote=True)
    return csv.reader(lines, delimiter=settings.delimiter, quoting=csv.QUOTE_NONE)


class CsvSource:
    """One pass over a file: `plan()` reads the header, then `batches()` yields the records to stage."""

    def __init__(self, stream: IO[str], settings: CsvSettings, label: str) -> None:
        self._settings = settings
        self._bad: deque[int] = deque()  # lines with a NUL or undecodable bytes, not yet passed by the reader
        self._reader = _reader(_checked_lines(stream, self._bad), settings)
        self.label = label
        self.rows_read = 0
        self.rejects: list[tuple[int, str]] = []
        self._ahead: tuple[int, list[str]] | None = None  # the first data record, read to learn the width
        self._next_line = 1
        self._header: list[str] | None = None  # once `plan` read it
        self._width = 0  # without a header, once `plan` learnt it

    def plan(self, mapping: Sequence[ColumnMapping], table: TableSpec, *, truncate_long_text: bool = False) -> LoadPlan:
        """Resolve the mapping against the header (or, without one, against the first record's width)."""
        first = self._first_record()
        if self._settings.header:
            if first is None:
                raise empty_failure(self.label)
            self._passed(first[0], self._reader.line_num)  # a bad name simply matches no mapped column
            self._header = [storable_text(name) for name in first[1]]
            return self.resolve(mapping, table, truncate_long_text=truncate_long_text)
        # A record PostgreSQL could not store says nothing about the file's width: the first good one does (else
        # one bad first row with a stray delimiter would turn every other row into a wrong field count).
        while first is not None and self._passed(first[0], self._next_line - 1):
            self.rows_read += 1
            self.rejects.append((first[0], RejectReason.INVALID_DATA_FORMAT))
            first = self._first_record()
        self._ahead = first
        # An empty headerless file simply has no rows (there is no header to be missing).
        self._width = len(first[1]) if first else max((_position_or_zero(m.source) for m in mapping), default=0)
        return self.resolve(mapping, table, truncate_long_text=truncate_long_text)

    def resolve(
        self, mapping: Sequence[ColumnMapping], table: TableSpec, *, truncate_long_text: bool = False
    ) -> LoadPlan:
        """Resolve a mapping against the header (or the width) `plan` read: a profile import maps one file onto
        its list and each of its PETs."""
        if self._header is not None:
            return resolve_by_header(self._header, mapping, table, self.label, truncate_long_text=truncate_long_text)
        return resolve_by_position(self._width, mapping, table, self.label, truncate_long_text=truncate_long_text)

    @property
    def data_line(self) -> int:
        """The line the data records start on, once `plan` read the header (or, without one, the first record)."""
        return self._ahead[0] if self._ahead is not None else self._next_line

    def batches(self, plan: LoadPlan, rules: BatchReader | None = None) -> Iterator[list[StagedRecord]]:
        """Lists of `(line_no, field, …)` with trimmed values (empty → None); counts rows and notes the rows
        rejected while reading (wrong field count, characters PostgreSQL cannot store, a value not written the
        column's way, one breaking the `rules` of the job's type, applied first).

        This loop runs once per record of the file, so it keeps to locals and C-level calls; `bad` is empty
        for a clean file, so the one extra test per record is a truth test of an empty deque. Values written
        a job's own way are read a whole batch at a time, so the loop is the same with or without them.
        """
        read = chained(rules, value_reader(plan, self._settings.decimal_separator))
        pick = _picker(plan.positions, plan.field_count)
        expected = plan.field_count
        reader = self._reader
        bad = self._bad
        batch: list[StagedRecord] = []
        if self._ahead is not None:
            line, row = self._ahead
            self._ahead = None
            self._take(line, row, expected, pick, batch)
        start = self._next_line
        rows = self.rows_read
        with self._translated_errors():
            for row in reader:
                if row:  # a blank line is not a record
                    rows += 1
                    if bad and bad[0] <= reader.line_num and self._passed(start, reader.line_num):
                        self.rejects.append((start, RejectReason.INVALID_DATA_FORMAT))
                    elif len(row) == expected:
                        batch.append((start, *[v.strip() or None for v in pick(row)]))
                        if len(batch) >= BATCH_ROWS:
                            self.rows_read = rows
                            yield batch if read is None else read(batch, self.rejects)
                            batch = []
                    else:
                        self.rejects.append((start, RejectReason.WRONG_FIELD_COUNT))
                start = reader.line_num + 1
        self.rows_read = rows
        if batch:
            yield batch if read is None else read(batch, self.rejects)

    def _passed(self, start: int, end: int) -> bool:
        """Forget the bad lines up to `end`; True when one of them is part of the record on `start`…`end`."""
        hit = False
        while self._bad and self._bad[0] <= end:
            hit = self._bad.popleft() >= start or hit
        return hit

    def _take(
        self,
        line: int,
        row: list[str],
        expected: int,
        pick: Callable[[list[str]], Sequence[str]],
        batch: list[StagedRecord],
    ) -> None:
        self.rows_read += 1
        if self._passed(line, self._next_line - 1):
            self.rejects.append((line, RejectReason.INVALID_DATA_FORMAT))
        elif len(row) != expected:
            self.rejects.append((line, RejectReason.WRONG_FIELD_COUNT))
        else:
            batch.append((line, *[v.strip() or None for v in pick(row)]))

    def _first_record(self) -> tuple[int, list[str]] | None:
        """The next non-blank record (the first, at the start) and the line it starts on."""
        start = self._next_line
        with self._translated_errors():
            for row in self._reader:
                line, start = start, self._reader.line_num + 1
                if row:
                    self._next_line = start
                    return line, list(row)
        self._next_line = start
        return None

    @contextlib.contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            failure = read_failure(exc, self.label, self._reader.line_num)
            if failure is None:
                raise
            raise failure from exc


class _LineCapture:
    """Hands lines to the csv reader and remembers those of the current record."""

    def __init__(self, lines: IO[str]) -> None:
        self._lines = lines
        self.current: list[str] = []

    def __iter__(self) -> _LineCapture:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.current.append(line)
        return line


def raw_lines(path: Path, settings: CsvSettings, name: str, wanted: set[int]) -> dict[int, str]:
    """The raw text of the records starting on the `wanted` lines (a second pass, only when rows were rejected),
    as PostgreSQL can store it (`storable`)."""
    found: dict[int, str] = {}
    if not wanted:
        return found
    last = max(wanted)
    for start, _row, text in _raw_records(path, settings, name):
        if start in wanted:
            found[start] = text()
        if start >= last:
            break
    return found


def raw_records(path: Path, settings: CsvSettings, name: str, wanted: set[int]) -> dict[int, tuple[int, str]]:
    """The line each of the `wanted` data records starts on and its raw text (as `raw_lines`), by the record's
    number in file order (1 = the first after the header; blank lines are no records), as a COPY numbers them."""
    found: dict[int, tuple[int, str]] = {}
    if not wanted:
        return found
    last, number = max(wanted), -1 if settings.header else 0
    for start, row, text in _raw_records(path, settings, name):
        if row:
            number += 1
            if number in wanted:
                found[number] = (start, text())
            if number >= last:
                break
    return found


def _raw_records(path: Path, settings: CsvSettings, name: str) -> Iterator[tuple[int, bool, Callable[[], str]]]:
    """Each record of the file: the line it starts on, whether it holds anything, and how to get its raw text."""
    with contextlib.closing(open_text(path, settings, name)) as stream:
        capture = _LineCapture(stream)
        reader = _reader(capture, settings)
        start = 1
        with contextlib.suppress(csv.Error):
            for row in reader:
                yield start, bool(row), lambda: storable_text("".join(capture.current).rstrip("\r\n"))
                capture.current.clear()
                start = reader.line_num + 1
