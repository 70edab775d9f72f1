"""An attempt's work: transfer, stage and check the file (`prepare`), then write the load inside the final
transaction (`write_load`), `archive` the file once the run ended, and `clean_up` what the attempt leaves behind.
Each stage that ends adds an entry to the attempt's execution log (`Work.journal`).

`prepare` calls `checkpoint` between its stages, so a stop is seen there at the latest; the final transaction
is the caller's, opened by the ledger under the run's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from uuid import UUID

from connect_events import (
    FILE_PROBLEMS,
    FileLocation,
    FileRules,
    ImportCustomTable,
    RunCounts,
    RunFailed,
    RunRequested,
    RunSucceeded,
)
from connect_runner.adapters.csv_source import CsvSource, open_text, raw_lines
from connect_runner.adapters.file_failures import COMPRESSED_SUFFIXES
from connect_runner.adapters.load import apply_writes, find_existing, lock_target_table, store_rejects
from connect_runner.adapters.staging import (
    add_rejects,
    drop_attempt_staging,
    drop_run_staging,
    find_rejects,
    gather_statistics,
    prepare_session,
    stage_records,
)
from connect_runner.adapters.tables import ensure_table
from connect_runner.domain.events import LogEntry
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import job_zone, render
from connect_runner.domain.limits import limit_failure
from connect_runner.domain.plan import LoadPlan
from connect_runner.domain.redaction import type_name
from connect_runner.domain.rejects import RejectReason, combine
from connect_runner.domain.run import Terminal
from connect_runner.domain.source_files import FetchedFile, Source
from connect_runner.domain.statements import Staging
from connect_runner.domain.writes import WriteSteps, run_counts, write_steps
from connect_runner.ports import CredentialReader, RunDeps
from connect_runner.progress import Journal, Tracker
from connect_runner.run_failures import Secrets
from connect_runtime.db import Conn
from connect_runtime.vault import Credential, CredentialNotFoundError, CredentialUnreadableError

log = logging.getLogger(__name__)

CLEANUP_TIMEOUT_S = 30.0

Checkpoint = Callable[[], Awaitable[None]]


@dataclass
class Work:
    """What an attempt has got so far: its progress, its execution log not yet recorded, the credential it
    read, and its source and file once found (the file is archived after the run's end)."""

    tracker: Tracker
    journal: Journal
    secrets: Secrets = field(default_factory=Secrets)
    source: Source | None = None
    fetched: FetchedFile | None = None


@dataclass(frozen=True)
class Rejects:
    """The rows that cannot be loaded: line number → reason, and the raw text of each."""

    reasons: Mapping[int, RejectReason]
    raw: Mapping[int, str]

    async def store(self, conn: Conn, request: RunRequested) -> None:
        """Keep them as the run's rejects."""
        await store_rejects(conn, request.payload.job_id, request.payload.run_id, self.reasons, self.raw)


class LimitExceededError(RunFailure):
    """A reject threshold or volume gate failed the run; its rejects are stored with the failure, so users see
    why (the load itself wrote nothing)."""

    def __init__(self, failure: RunFailure, rejects: Rejects) -> None:
        super().__init__(failure.code, failure.message)
        self.rejects = rejects


@dataclass
class Prepared:
    """A run staged and checked, ready for its load transaction."""

    settings: ImportCustomTable
    plan: LoadPlan
    staging: Staging
    fetched: FetchedFile
    rows_read: int
    rejects: dict[int, RejectReason]
    raw: dict[int, str]
    steps: WriteSteps

    @property
    def counts_so_far(self) -> RunCounts:
        """What was read, for a run that ends without loading."""
        return RunCounts(rows_read=self.rows_read, bytes_transferred=self.fetched.size)


async def prepare(
    request: RunRequested, staging: Staging, deps: RunDeps, work: Work, checkpoint: Checkpoint
) -> Prepared:
    """Download, parse and stage the file, find the rows that cannot be loaded and check the job's limits;
    `checkpoint` after each stage."""
    settings, journal, tracker = request.payload.definition.settings, work.journal, work.tracker
    work.source = await _source(deps.vault, settings.source, work.secrets)
    pattern = render(settings.source.path, request.occurred_at, job_zone(request.payload.definition))
    fetched = await deps.files.fetch(
        work.source, pattern, settings.files, deps.work_dir, download_stem(staging), tracker.transferred, checkpoint
    )
    work.fetched = fetched
    tracker.transferred(fetched.size, fetched.size)
    _log_found(journal, settings.files, fetched)
    await checkpoint()
    async with deps.pool.acquire() as conn:
        await ensure_table(conn, request.payload.table)
        await prepare_session(conn, deps.work_mem)
        with contextlib.closing(open_text(fetched.local_path, settings.file, fetched.remote_path)) as stream:
            source = CsvSource(stream, settings.file, fetched.remote_path)
            plan = source.plan(settings.mapping, request.payload.table, truncate_long_text=settings.truncate_long_text)
            await stage_records(conn, staging, plan, source.batches(plan), lambda: tracker.loading(source.rows_read))
        tracker.loading(source.rows_read)
        _log_parsed(journal, fetched, source.rows_read)
        await checkpoint()
        rejects = combine(source.rejects, await find_rejects(conn, staging, plan))
        journal.add("validated", rejects_message(rejects.values()), rejected=len(rejects))
        exceeded = limit_failure(settings.limits, source.rows_read, len(rejects))
        steps = write_steps(staging, plan, settings)
        if steps.joins_target and exceeded is None:
            await gather_statistics(conn, staging)
    raw = await _raw_lines(settings, fetched, set(rejects))
    if exceeded is not None:
        raise LimitExceededError(exceeded, Rejects(rejects, raw))
    await checkpoint()
    return Prepared(settings, plan, staging, fetched, source.rows_read, rejects, raw, steps)


async def _source(vault: CredentialReader, location: FileLocation, secrets: Secrets) -> Source:
    """The location with its credential: an external server's, from the vault; the hosted tree needs none."""
    if location.kind != "sftp":
        return Source(location, None)
    return Source(location, secrets.keep(await _credential(vault, location.credential_ref)))


async def _credential(vault: CredentialReader, ref: UUID) -> Credential:
    try:
        return await vault.read(ref)
    except CredentialNotFoundError as exc:
        raise RunFailure("AUTH_FAILED", f"the job's credential {ref} is not in the vault") from exc
    except CredentialUnreadableError as exc:
        raise RunFailure("AUTH_FAILED", f"the job's credential {ref} cannot be decrypted") from exc


def _log_found(journal: Journal, rules: FileRules, fetched: FetchedFile) -> None:
    if rules.ready_file is not None:
        journal.add("ready_file", f"ready file found beside '{fetched.remote_path}'")
    journal.add("file_found", f"found '{fetched.remote_path}' ({fetched.size:,} bytes)", path=fetched.remote_path)
    message = f"transferred {fetched.size:,} bytes (SHA-256 {fetched.sha256})"
    journal.add("transferred", message, size=fetched.size, sha256=fetched.sha256)


def _log_parsed(journal: Journal, fetched: FetchedFile, rows: int) -> None:
    """Decompressed (when it was), parsed, and the count file's word checked: a mismatch fails the run here,
    before anything is written."""
    if fetched.remote_path.lower().endswith(COMPRESSED_SUFFIXES):
        journal.add("decompressed", f"decompressed '{fetched.remote_path}'")
    journal.add("parsed", f"parsed {_rows(rows)}", rows=rows)
    expected = fetched.expected_rows
    if expected is None:
        return
    if expected != rows:
        raise RunFailure("COUNT_MISMATCH", f"the count file says {_rows(expected)}, the file holds {rows:,}")
    journal.add("count_verified", f"the count file's {_rows(expected)} match the file", expected=expected)


def rejects_message(reasons: Iterable[str]) -> str:
    """`12 rows rejected: INVALID_DATE 3, VALUE_TOO_LONG 9` (reasons by name), or that none were."""
    counts = Counter(reasons)
    if not counts:
        return "no rows rejected"
    total = sum(counts.values())
    grouped = ", ".join(f"{reason} {count:,}" for reason, count in sorted(counts.items()))
    return f"{total:,} {'row' if total == 1 else 'rows'} rejected: {grouped}"


def _rows(count: int) -> str:
    return f"{count:,} data row" + ("" if count == 1 else "s")


async def _raw_lines(settings: ImportCustomTable, fetched: FetchedFile, lines: set[int]) -> dict[int, str]:
    # A full second pass over a large file: off the event loop.
    return await asyncio.to_thread(raw_lines, fetched.local_path, settings.file, fetched.remote_path, lines)


async def write_load(conn: Conn, request: RunRequested, prepared: Prepared, deps: RunDeps) -> RunCounts:
    """Inside the final transaction: the target's rows and the run's rejects; returns the run's counters.

    A dry run writes the target's rows in a savepoint it rolls back, so its counts are exactly those a real
    run would have (append collisions, merge inserts and updates); its rejects are kept. Append collisions
    count towards the reject limits too: over one, the transaction fails before it commits anything."""
    await prepare_session(conn, deps.work_mem)
    async with _rolled_back_if(conn, request.payload.dry_run):
        await lock_target_table(conn, prepared.plan, deps.lock_timeout_s)
        rejects = await _reject_existing(conn, prepared, await find_existing(conn, prepared.steps))
        exceeded = limit_failure(prepared.settings.limits, prepared.rows_read, len(rejects))
        if exceeded is not None:
            raise LimitExceededError(exceeded, Rejects(rejects, prepared.raw))
        inserted, updated = await apply_writes(conn, prepared.steps)
    await Rejects(rejects, prepared.raw).store(conn, request)
    return run_counts(
        rows_read=prepared.rows_read,
        rejected=len(rejects),
        inserted=inserted,
        updated=updated,
        bytes_transferred=prepared.fetched.size,
    )


@contextlib.asynccontextmanager
async def _rolled_back_if(conn: Conn, dry_run: bool) -> AsyncIterator[None]:
    """For a dry run, a savepoint rolled back at the end of the block (its locks go with it)."""
    if not dry_run:
        yield
        return
    savepoint = conn.transaction()
    await savepoint.start()
    try:
        yield
    finally:
        await savepoint.rollback()


async def _reject_existing(conn: Conn, prepared: Prepared, existing: list[int]) -> dict[int, RejectReason]:
    """Append mode: rows whose key already exists are rejected as duplicates, inside the load transaction."""
    if not existing:
        return prepared.rejects
    collisions = [(line, str(RejectReason.DUPLICATE_KEY)) for line in existing]
    await add_rejects(conn, prepared.staging, collisions)
    prepared.raw.update(await _raw_lines(prepared.settings, prepared.fetched, set(existing)))
    return combine(prepared.rejects.items(), collisions)


def loaded_entries(journal: Journal, counts: RunCounts, *, dry_run: bool) -> list[LogEntry]:
    """The load's entries: what was written, or for a dry run what would have been, and that nothing was."""
    tally = f"{counts.inserted:,} inserted, {counts.updated:,} updated, {counts.unchanged:,} unchanged"
    loaded = journal.entry(
        "loaded",
        f"would load: {tally}" if dry_run else f"loaded: {tally}",
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        rejected=counts.rejected,
    )
    if not dry_run:
        return [loaded]
    return [loaded, journal.entry("dry_run", "dry run: nothing was written (the rejects are kept)")]


async def archive(request: RunRequested, deps: RunDeps, work: Work, ended: Terminal) -> LogEntry | None:
    """Archive the file after the run's end, when the job names an archive folder: moved after a success or a
    failure the file itself caused (`FILE_PROBLEMS`), copied after any other failure (it stays for the next
    run); a stopped run or a dry run leaves it alone. The entry says where it went; a failure to archive only
    warns, for the run's outcome stands.

    A runner killed between the final commit and this leaves the file where it was: the redelivered request
    finds the run ended and does nothing more, so the next run of the job would read the same file again
    unless its name pattern names another (the log has no `archived` entry to show it was archived)."""
    folder = request.payload.definition.settings.files.archive_folder
    if folder is None or work.source is None or work.fetched is None or request.payload.dry_run:
        return None
    if isinstance(ended, RunSucceeded):
        move = True
    elif isinstance(ended, RunFailed):
        move = ended.payload.code in FILE_PROBLEMS
    else:
        return None
    prefix = f"{request.payload.job_id}.{request.payload.run_id}_"
    try:
        where = await deps.files.archive(work.source, work.fetched, folder, prefix, move=move)
    except Exception as exc:  # the run has ended: archiving can only warn
        return _archive_warning(work, exc)
    return work.journal.entry("archived", f"{'moved' if move else 'copied'} to '{where}'", path=where)


def _archive_warning(work: Work, exc: Exception) -> LogEntry:
    fetched = work.fetched
    assert fetched is not None, "only a fetched file is archived"
    reason = exc.message if isinstance(exc, RunFailure) else "an unexpected error; the runner's log has the details"
    cause = exc.__cause__ if isinstance(exc, RunFailure) else exc
    if cause is not None:  # for operators, withheld as `run_failures.log_cause` does
        log.warning(
            "archiving failed", extra={"error_type": type_name(cause), "detail": work.secrets.withhold(str(cause))}
        )
    message = f"'{fetched.remote_path}' was not archived: {reason}"
    return work.journal.entry("archived", message, level="WARN", path=fetched.remote_path)


def download_stem(staging: Staging) -> str:
    """The downloaded file's name without its suffix: one per attempt."""
    return f"run-{staging.rows_name}"


async def clean_up(deps: RunDeps, staging: Staging, *, run_ended: bool) -> None:
    """Remove what an attempt leaves behind: its downloaded file and staging tables (best-effort).

    Once the run has ended, every attempt's staging goes (earlier ones may be left by a crash). An attempt
    that did not end the run (cancelled) drops only its own: the next owner may already be staging its attempt.
    """
    for path in deps.work_dir.glob(f"{download_stem(staging)}.*"):  # also a partial download
        path.unlink(missing_ok=True)
    try:
        async with asyncio.timeout(CLEANUP_TIMEOUT_S), deps.pool.acquire() as conn:
            if run_ended:
                await drop_run_staging(conn, staging)
            else:
                await drop_attempt_staging(conn, staging)
    except Exception as exc:
        log.warning("staging not dropped", extra={"staging": staging.rows_name, "error": str(exc)})
