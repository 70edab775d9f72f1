"""An export attempt's work (ADR 0012): select the rows with one `COPY (SELECT …) TO STDOUT`, pass its bytes
through the byte chain (record ends, encoding, compression) into a temporary file beside the final one
(`write_export`), then, in the transaction that ends the run and under its lock, rename it to its final name and
write the count and ready files (`deliver`). A dry run counts the rows and shows the first ones as the file
would (`preview_export`), writing nothing.

The temporary name is `.<name>.<JobID>.<RunID>.part` in the final file's folder: hidden (a `*` pattern of an
import skips it), one per run, so a redone run writes its own again and renames it over its own final file. A
stopped or failed attempt removes it; only a success renames it.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from connect_events import CsvOutput, ExportApi, ExportFile, RunCounts, RunRequested
from connect_runner.adapters.export_marks import read_mark
from connect_runner.domain.events import LogEntry
from connect_runner.domain.export_plan import ExportSelection, export_selection
from connect_runner.domain.export_select import OutputFormat, copy_options
from connect_runner.domain.export_stream import ExportEncodingError, ExportStream, export_stream
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import job_zone, render
from connect_runner.domain.source_files import Checkpoint
from connect_runner.ports import Destination, RunDeps, Sink
from connect_runner.progress import Journal, Tracker
from connect_runtime.db import Conn

log = logging.getLogger(__name__)

BLOCK_BYTES = 1 << 20  # what the chain gathers before each write to the destination
PREVIEW_ROWS = 5
# Where the next incremental export starts: the oldest transaction still open when this export's snapshot was
# taken (its rows, committed later, carry a MODIFIED_DATE_ from its start), or now. A row may then be written by
# two exports; none is missed.
MARK_SQL = "SELECT least(now(), (SELECT min(xact_start) FROM pg_stat_activity WHERE xact_start IS NOT NULL))"


@dataclass(frozen=True)
class ExportNames:
    """The export's file as the job names it (date tokens rendered), and its temporary name beside it."""

    final: str
    temp: str

    def companion(self, extension: str) -> str:
        """The count or ready file: the data file's name, `.` and the extension."""
        return f"{self.final}.{extension}"


def export_names(request: RunRequested, settings: ExportFile) -> ExportNames:
    """The run's file names; the date tokens are rendered at the run's request, in the job's time zone."""
    final = render(settings.destination.path, request.occurred_at, job_zone(request.payload.definition)).path
    folder, name = posixpath.split(final)
    temp = f".{name}.{request.payload.job_id}.{request.payload.run_id}.part"
    return ExportNames(final, posixpath.join(folder, temp) if folder else temp)


def export_settings(request: RunRequested) -> ExportFile:
    """The request's export settings."""
    settings = request.payload.definition.settings
    if not isinstance(settings, ExportFile):
        raise RunFailure("INTERNAL", f"job {request.payload.job_id} is not an export")
    return settings


@dataclass(frozen=True)
class Written:
    """The file written under its temporary name: its rows (the header is not one), its size, and where the
    next incremental export starts."""

    names: ExportNames
    rows: int
    size: int
    mark: datetime

    @property
    def counts(self) -> RunCounts:
        """The run's counters: rows written, bytes written."""
        return RunCounts(rows_read=self.rows, bytes_transferred=self.size)


async def write_export(
    request: RunRequested, deps: RunDeps, journal: Journal, tracker: Tracker, destination: Destination,
    checkpoint: Checkpoint,
) -> Written:  # fmt: skip
    """Select the rows and write the file under its temporary name; on any failure (a stop included) the
    temporary file is removed, as far as the destination still answers."""
    settings = export_settings(request)
    names = export_names(request, settings)
    selection = await selection_for(request, settings, deps)
    await checkpoint()
    sink = await destination.create(names.temp)
    try:
        chain = _chain(request, settings, names)
        rows, size, mark = await _copy_out(deps.pool, selection, settings, chain, sink, tracker)
        await sink.close()
        journal.add("selected", f"selected {_rows(rows)}", rows=rows)
        journal.add("written", f"wrote {size:,} bytes to '{names.temp}'", bytes=size, path=names.temp)
        await checkpoint()
    except BaseException:
        await discard(destination, names.temp, sink)
        raise
    return Written(names, rows, size, mark)


async def discard(destination: Destination, path: str, sink: Sink | None = None) -> None:
    """Remove the temporary file (best-effort: a destination that is gone keeps it, under its hidden name)."""
    try:
        if sink is not None:
            with contextlib.suppress(Exception):
                await sink.close()
        await destination.remove(path)
    except Exception as exc:
        log.warning("temporary export file not removed", extra={"path": path, "error": type(exc).__name__})


async def deliver(destination: Destination, written: Written, settings: ExportFile, journal: Journal) -> list[LogEntry]:
    """Rename the file to its final name, then write the count file and the ready file (each under a temporary
    name first); returns their log entries. Companions an earlier run left under the same names go first, so a
    reader never takes an old ready file or count for the new data file."""
    names, rules = written.names, settings.files
    for extension in (rules.ready_file, rules.count_file):
        if extension is not None:
            await destination.remove(names.companion(extension))
    await destination.rename(names.temp, names.final)
    entries = [journal.entry("renamed", f"renamed to '{names.final}'", path=names.final)]
    if rules.count_file is not None:
        path = names.companion(rules.count_file)
        await _put(destination, path, f"{written.rows}\n".encode())
        entries.append(journal.entry("count_file", f"wrote '{path}' ({_rows(written.rows)})", path=path))
    if rules.ready_file is not None:
        path = names.companion(rules.ready_file)
        await _put(destination, path, b"")
        entries.append(journal.entry("ready_file", f"wrote '{path}'", path=path))
    return entries


@dataclass(frozen=True)
class Previewed:
    """A dry run's answer: how many rows the export would write, and its first lines as the file would hold them."""

    rows: int
    first: str

    @property
    def counts(self) -> RunCounts:
        return RunCounts(rows_read=self.rows)


async def preview_export(request: RunRequested, deps: RunDeps) -> Previewed:
    """Count the rows and read the first ones as the file writes them (UTF-8, uncompressed; an API export's as
    CSV), writing or sending nothing."""
    settings = request.payload.definition.settings
    if not isinstance(settings, ExportFile | ExportApi):
        raise RunFailure("INTERNAL", f"job {request.payload.job_id} is not an export")
    file = settings.file if isinstance(settings, ExportFile) else CsvOutput()
    selection = await selection_for(request, settings, deps)
    output = OutputFormat.of(file)
    chain = ExportStream(
        qualifier=file.qualifier, crlf=file.line_ending == "crlf", header=file.header, encoding="utf-8",
        compression="none", entry_name="",
    )  # fmt: skip
    parts: list[bytes] = []

    async def take(chunk: bytes) -> None:
        parts.append(chain.feed(chunk))

    async with read_snapshot(deps.pool) as conn:
        rows = await conn.fetchval(selection.count, *selection.params)
        query = f"{selection.query(output)} LIMIT {PREVIEW_ROWS}"
        await conn.copy_from_query(query, *selection.params, output=take, **copy_options(output))  # type: ignore[arg-type]
    return Previewed(int(rows), b"".join(parts).decode())


def previewed_entries(journal: Journal, previewed: Previewed, where: str, *, pushed: bool = False) -> list[LogEntry]:
    """The dry run's entries: what would be written to the file `where` (or pushed to it), and that nothing was."""
    verb, nothing = ("push", "no record was sent") if pushed else ("write", "no file was written")
    message = f"would {verb} {_rows(previewed.rows)} to {where}"
    return [
        journal.entry("selected", message, rows=previewed.rows, first_rows=previewed.first),
        journal.entry("dry_run", f"dry run: {nothing}"),
    ]


async def selection_for(request: RunRequested, settings: ExportFile | ExportApi, deps: RunDeps) -> ExportSelection:
    """The rows the export reads, from its last successful run's mark when incremental."""
    since = await read_mark(deps.pool, request.payload.job_id) if settings.incremental else None
    return export_selection(request, settings, since)


async def _copy_out(
    pool: asyncpg.Pool, selection: ExportSelection, settings: ExportFile, chain: ExportStream, sink: Sink,
    tracker: Tracker,
) -> tuple[int, int, datetime]:  # fmt: skip
    """One COPY in a read-only snapshot, its bytes through the chain into `sink` in blocks; returns the rows, the
    bytes written and the snapshot's mark."""
    output = OutputFormat.of(settings.file)
    block = bytearray()
    written = 0

    async def take(chunk: bytes) -> None:
        nonlocal written
        block.extend(chain.feed(chunk))
        if len(block) >= BLOCK_BYTES:
            await sink.write(bytes(block))
            written += len(block)
            block.clear()
            tracker.exporting(chain.rows, written)

    try:
        async with read_snapshot(pool) as conn:
            mark = await conn.fetchval(MARK_SQL)
            query = selection.query(output)
            status = await conn.copy_from_query(query, *selection.params, output=take, **copy_options(output))  # type: ignore[arg-type]
    except ExportEncodingError as exc:
        message = f"{exc}; choose an encoding that can write it (UTF-8 writes every character)"
        raise RunFailure("EXPORT_INVALID", message) from exc
    try:
        block.extend(chain.end())
    except ExportEncodingError as exc:
        raise RunFailure("EXPORT_INVALID", f"{exc}; choose an encoding that can write it") from exc
    if block:
        await sink.write(bytes(block))
        written += len(block)
    rows = int(str(status).rsplit(" ", 1)[-1])
    tracker.exporting(rows, written)
    return rows, written, mark


@contextlib.asynccontextmanager
async def read_snapshot(pool: asyncpg.Pool) -> AsyncIterator[Conn]:
    """A read-only, repeatable-read transaction on a connection of its own. Any failure inside (a stop included)
    closes the connection instead of rolling back: a COPY whose `output` failed after the server had finished it
    leaves asyncpg waiting forever for the cancel it sent, and a rollback would wait behind it (ADR 0012)."""
    async with pool.acquire() as conn:
        transaction = conn.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        try:
            yield conn
        except BaseException:
            conn.terminate()
            raise
        await transaction.commit()


def _chain(request: RunRequested, settings: ExportFile, names: ExportNames) -> ExportStream:
    """The byte chain of the file; a zip archive's entry is the file's name without `.zip`, dated at the run's
    request in the job's time zone."""
    name = posixpath.basename(names.final)
    entry = name[: -len(".zip")] if name.lower().endswith(".zip") else name
    modified = request.occurred_at.astimezone(ZoneInfo(job_zone(request.payload.definition)))
    return export_stream(settings.file, entry, modified)


async def _put(destination: Destination, path: str, data: bytes) -> None:
    """A small file, written under a temporary name and renamed."""
    folder, name = posixpath.split(path)
    temp = posixpath.join(folder, f".{name}.part") if folder else f".{name}.part"
    sink = await destination.create(temp)
    try:
        await sink.write(data)
        await sink.close()
    except BaseException:
        await discard(destination, temp, sink)
        raise
    await destination.rename(temp, path)


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")
