"""Reading a downloaded source file with the `csv` module: header, staged records, raw lines of rejects.

Per record the Python work is kept to the minimum: split (C), pick the mapped fields (C), trim and map
empty to None. Everything else (types, lengths, duplicates) is checked in SQL over the staged rows.
Line numbers are physical: a record starts on the line after the previous record ended, so a quoted value
spanning lines still points at the line where its record begins.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from connect_events import ColumnMapping, CsvSettings, TableSpec
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.plan import LoadPlan, resolve_by_header, resolve_by_position
from connect_runner.domain.rejects import RejectReason

BATCH_ROWS = 5000
FIELD_SIZE_LIMIT = 16 * 1024 * 1024  # bytes; the csv module's default (128 KiB) would fail long text values
StagedRecord = tuple[Any, ...]


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
    """The file as text; `.gz` and single-entry `.zip` files (by the remote `name`) are read transparently."""
    encoding = _python_encoding(settings)
    if name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding=encoding, newline="")
    if name.lower().endswith(".zip"):
        archive = zipfile.ZipFile(path)
        entries = [i for i in archive.infolist() if not i.is_dir()]
        if len(entries) != 1:
            archive.close()
            raise RunFailure("LOAD_FAILED", f"'{name}' holds {len(entries)} files; expected exactly one")
        return io.TextIOWrapper(archive.open(entries[0]), encoding=encoding, newline="")
    return path.open(encoding=encoding, newline="")


def _reader(lines: Any, settings: CsvSettings) -> Any:
    csv.field_size_limit(FIELD_SIZE_LIMIT)
    if settings.qualifier:
        return csv.reader(lines, delimiter=settings.delimiter, quotechar=settings.qualifier, doublequote=True)
    return csv.reader(lines, delimiter=settings.delimiter, quoting=csv.QUOTE_NONE)


class CsvSource:
    """One pass over a file: `plan()` reads the header, then `batches()` yields the records to stage."""

    def __init__(self, stream: IO[str], settings: CsvSettings, label: str) -> None:
        self._settings = settings
        self._reader = _reader(stream, settings)
        self.label = label
        self.rows_read = 0
        self.rejects: list[tuple[int, str]] = []
        self._ahead: tuple[int, list[str]] | None = None  # the first data record, read to learn the width
        self._next_line = 1

    def plan(self, mapping: Sequence[ColumnMapping], table: TableSpec) -> LoadPlan:
        """Resolve the mapping against the header (or, without one, against the first record's width)."""
        first = self._first_record()
        if self._settings.header:
            if first is None:
                raise RunFailure("BAD_HEADER", f"'{self.label}' is empty: no header row")
            return resolve_by_header(first[1], mapping, table, self.label)
        self._ahead = first
        # An empty headerless file simply has no rows (there is no header to be missing).
        width = len(first[1]) if first else max((_position_or_zero(m.source) for m in mapping), default=0)
        return resolve_by_position(width, mapping, table, self.label)

    def batches(self, plan: LoadPlan) -> Iterator[list[StagedRecord]]:
        """Lists of `(line_no, field, …)` with trimmed values (empty → None); counts rows and field-count rejects.

        This loop runs once per record of the file, so it keeps to locals and C-level calls.
        """
        pick = _picker(plan.positions, plan.field_count)
        expected = plan.field_count
        reader = self._reader
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
                    if len(row) == expected:
                        batch.append((start, *[v.strip() or None for v in pick(row)]))
                        if len(batch) >= BATCH_ROWS:
                            self.rows_read = rows
                            yield batch
                            batch = []
                    else:
                        self.rejects.append((start, RejectReason.WRONG_FIELD_COUNT))
                start = reader.line_num + 1
        self.rows_read = rows
        if batch:
            yield batch

    def _take(
        self,
        line: int,
        row: list[str],
        expected: int,
        pick: Callable[[list[str]], Sequence[str]],
        batch: list[StagedRecord],
    ) -> None:
        self.rows_read += 1
        if len(row) != expected:
            self.rejects.append((line, RejectReason.WRONG_FIELD_COUNT))
            return
        batch.append((line, *[v.strip() or None for v in pick(row)]))

    def _first_record(self) -> tuple[int, list[str]] | None:
        """The first non-blank record and the line it starts on."""
        start = 1
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
        except UnicodeDecodeError as exc:
            near = self._reader.line_num + 1
            raise RunFailure(
                "LOAD_FAILED", f"'{self.label}' is not valid {self._settings.encoding} (near line {near})"
            ) from exc
        except (csv.Error, OSError, EOFError, zipfile.BadZipFile) as exc:
            near = self._reader.line_num
            raise RunFailure("LOAD_FAILED", f"cannot read '{self.label}' near line {near}: {exc}") from exc


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
    """The raw text of the records starting on the `wanted` lines (a second pass, only when rows were rejected)."""
    found: dict[int, str] = {}
    if not wanted:
        return found
    last = max(wanted)
    with contextlib.closing(open_text(path, settings, name)) as stream:
        capture = _LineCapture(stream)
        reader = _reader(capture, settings)
        start = 1
        with contextlib.suppress(csv.Error, UnicodeDecodeError):
            for _row in reader:
                if start in wanted:
                    found[start] = "".join(capture.current).rstrip("\r\n")
                capture.current.clear()
                start = reader.line_num + 1
                if start > last:
                    break
    return found
