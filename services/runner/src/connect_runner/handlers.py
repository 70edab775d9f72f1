"""Use cases: execute a requested run; create a defined table.

`execute_run` is the whole run: it is idempotent (a run already in the ledger returns its stored terminal
event and does nothing else) and its effect on the audience store is all-or-nothing (the writes, the rejects,
the ledger row and the terminal event commit in one transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

import asyncpg

from connect_events import (
    FailureCode,
    ImportCustomTable,
    RunCounts,
    RunEvent,
    RunRequested,
    SftpLocation,
    TableDefined,
    TableEvent,
)
from connect_runner.adapters import ledger
from connect_runner.adapters.csv_source import CsvSource, open_text, raw_lines
from connect_runner.adapters.load import apply_writes, find_existing, store_rejects
from connect_runner.adapters.sftp import FetchedFile, Progress
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
from connect_runner.domain import events
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import FilePattern, render
from connect_runner.domain.plan import LoadPlan
from connect_runner.domain.rejects import RejectReason, combine
from connect_runner.domain.statements import Staging, lock_target
from connect_runner.domain.writes import run_counts, write_steps
from connect_runner.progress import PROGRESS_INTERVAL_S, Snapshot, Tracker, reporting
from connect_runtime.db import Conn
from connect_runtime.vault import Credential, CredentialNotFoundError, CredentialUnreadableError

log = logging.getLogger(__name__)

CLEANUP_TIMEOUT_S = 30.0


class CredentialReader(Protocol):
    """The vault, as the runner uses it."""

    async def read(self, credential_id: UUID) -> Credential:
        """Decrypt one credential."""


class FileFetcher(Protocol):
    """Where source files come from (SFTP in production)."""

    async def fetch(
        self,
        location: SftpLocation,
        credential: Credential,
        pattern: FilePattern,
        work_dir: Path,
        stem: str,
        progress: Progress,
    ) -> FetchedFile:
        """Download the file matching `pattern` into `work_dir`."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunDeps:
    """What `execute_run` needs; `bootstrap` builds the real ones, tests may swap any."""

    pool: asyncpg.Pool
    vault: CredentialReader
    files: FileFetcher
    work_dir: Path
    runner: str
    clock: Callable[[], datetime] = field(default=_utc_now)
    progress_interval_s: float = PROGRESS_INTERVAL_S
    work_mem: str = "256MB"


@dataclass
class _Prepared:
    """A run staged and checked, ready for its load transaction."""

    settings: ImportCustomTable
    plan: LoadPlan
    staging: Staging
    fetched: FetchedFile
    rows_read: int
    rejects: dict[int, RejectReason]


async def execute_run(request: RunRequested, deps: RunDeps) -> RunEvent:
    """Execute the run once; returns its terminal event (the stored one when the run had already ended)."""
    stored = await ledger.find_terminal(deps.pool, request.payload.job_id, request.payload.run_id)
    if stored is not None:
        log.info("run already ended; nothing to do", extra={"run": request.aggregate_id})
        return stored
    attempt = await ledger.begin_attempt(deps.pool, request, deps.runner, deps.clock())
    staging = Staging(request.payload.job_id, request.payload.run_id, attempt.number)
    tracker = Tracker()
    log.info("run started", extra={"run": request.aggregate_id, "attempt": attempt.number})
    cleanup = _Cleanup(deps, staging)
    try:
        async with reporting(tracker, _progress_emitter(request, deps), deps.progress_interval_s):
            prepared = await _prepare(request, staging, deps, tracker)
        event = await _commit(request, attempt, prepared, deps)
    except RunFailure as failure:
        event = await _fail(request, attempt, tracker, deps, failure.code, failure.message)
    except asyncpg.PostgresError as exc:
        log.warning("load failed", extra={"run": request.aggregate_id, "error": str(exc)})
        event = await _fail(request, attempt, tracker, deps, "LOAD_FAILED", f"the load failed: {exc}")
    except Exception as exc:  # any other failure still ends the run, with its text for the user
        log.exception("run failed unexpectedly", extra={"run": request.aggregate_id})
        event = await _fail(request, attempt, tracker, deps, "INTERNAL", f"{type(exc).__name__}: {exc}")
    finally:
        await cleanup.run()
    return event


def _progress_emitter(request: RunRequested, deps: RunDeps) -> Callable[[Snapshot], Awaitable[None]]:
    async def emit(snapshot: Snapshot) -> None:
        def build(version: int) -> RunEvent:
            return events.run_progressed(
                request,
                version,
                deps.clock(),
                stage=snapshot.stage,
                rows_read=snapshot.rows_read,
                bytes_done=snapshot.bytes_done,
                total_bytes=snapshot.total_bytes,
            )

        await ledger.append_event(deps.pool, request, build)

    return emit


async def _prepare(request: RunRequested, staging: Staging, deps: RunDeps, tracker: Tracker) -> _Prepared:
    settings = request.payload.definition.settings
    credential = await _credential(deps.vault, settings.source.credential_ref)
    pattern = render(settings.source.path, request.occurred_at)
    stem = _download_stem(staging)
    clock = _Stopwatch(request)
    fetched = await deps.files.fetch(settings.source, credential, pattern, deps.work_dir, stem, tracker.transferred)
    clock.lap("file transferred", remote=fetched.remote_path, bytes=fetched.size)
    tracker.transferred(fetched.size, fetched.size)
    async with deps.pool.acquire() as conn:
        await ensure_table(conn, request.payload.table)
        await prepare_session(conn, deps.work_mem)
        with contextlib.closing(open_text(fetched.local_path, settings.file, fetched.remote_path)) as stream:
            source = CsvSource(stream, settings.file, fetched.remote_path)
            plan = source.plan(settings.mapping, request.payload.table)
            await stage_records(conn, staging, plan, source.batches(plan), lambda: tracker.loading(source.rows_read))
        tracker.loading(source.rows_read)
        clock.lap("file parsed and staged", rows=source.rows_read)
        checked = await find_rejects(conn, staging, plan)
    rejects = combine(source.rejects, checked)
    clock.lap("rows validated", rejected=len(rejects))
    return _Prepared(settings, plan, staging, fetched, source.rows_read, rejects)


async def _credential(vault: CredentialReader, ref: UUID) -> Credential:
    try:
        return await vault.read(ref)
    except CredentialNotFoundError as exc:
        raise RunFailure("AUTH_FAILED", f"the job's credential {ref} is not in the vault") from exc
    except CredentialUnreadableError as exc:
        raise RunFailure("AUTH_FAILED", f"the job's credential {ref} cannot be decrypted") from exc


async def _raw_lines(prepared: _Prepared, lines: set[int]) -> dict[int, str]:
    settings, fetched = prepared.settings, prepared.fetched
    # A full second pass over a large file: off the event loop.
    return await asyncio.to_thread(raw_lines, fetched.local_path, settings.file, fetched.remote_path, lines)


async def _commit(request: RunRequested, attempt: ledger.Attempt, prepared: _Prepared, deps: RunDeps) -> RunEvent:
    """One transaction: target rows, rejects, ledger row and terminal event — or none of them."""
    steps = write_steps(prepared.staging, prepared.plan, prepared.settings)
    clock = _Stopwatch(request)
    raw = await _raw_lines(prepared, set(prepared.rejects))
    if steps.joins_target:
        async with deps.pool.acquire() as conn:
            await gather_statistics(conn, prepared.staging)
    async with deps.pool.acquire() as conn, conn.transaction():
        stored = await ledger.lock_run(conn, request)
        if stored is not None:
            return stored
        await prepare_session(conn, deps.work_mem)
        await conn.execute(lock_target(prepared.plan))
        rejects = await _reject_existing(conn, prepared, await find_existing(conn, steps), raw)
        inserted, updated = await apply_writes(conn, steps)
        await store_rejects(conn, request.payload.job_id, request.payload.run_id, rejects, raw)
        counts = run_counts(
            rows_read=prepared.rows_read,
            rejected=len(rejects),
            inserted=inserted,
            updated=updated,
            bytes_transferred=prepared.fetched.size,
        )

        def build(version: int) -> ledger.Terminal:
            return events.run_succeeded(request, version, counts, attempt.started_at, deps.clock())

        event = await ledger.record_terminal(conn, request, build)
    clock.lap("loaded", **counts.model_dump())
    return event


async def _reject_existing(
    conn: Conn, prepared: _Prepared, existing: list[int], raw: dict[int, str]
) -> dict[int, RejectReason]:
    """Append mode: rows whose key already exists are rejected as duplicates, inside the load transaction."""
    if not existing:
        return prepared.rejects
    collisions = [(line, str(RejectReason.DUPLICATE_KEY)) for line in existing]
    await add_rejects(conn, prepared.staging, collisions)
    raw.update(await _raw_lines(prepared, set(existing)))
    return combine(prepared.rejects.items(), collisions)


async def _fail(
    request: RunRequested, attempt: ledger.Attempt, tracker: Tracker, deps: RunDeps, code: FailureCode, error: str
) -> RunEvent:
    """Record the failure (ledger + terminal event, one transaction); the target was not changed."""
    counts = RunCounts(rows_read=tracker.snapshot.rows_read, bytes_transferred=tracker.snapshot.bytes_done)
    async with deps.pool.acquire() as conn, conn.transaction():
        stored = await ledger.lock_run(conn, request)
        if stored is not None:
            return stored

        def build(version: int) -> ledger.Terminal:
            return events.run_failed(request, version, counts, attempt.started_at, deps.clock(), code=code, error=error)

        event = await ledger.record_terminal(conn, request, build)
    log.info("run failed", extra={"run": request.aggregate_id, "code": code, "error": error})
    return event


class _Stopwatch:
    """Logs each stage of a run with its duration (the run's execution log, as operators see it)."""

    def __init__(self, request: RunRequested) -> None:
        self._run = request.aggregate_id
        self._last = time.monotonic()

    def lap(self, stage: str, **details: object) -> None:
        now = time.monotonic()
        log.info(stage, extra={"run": self._run, "duration_ms": round((now - self._last) * 1000), **details})
        self._last = now


def _download_stem(staging: Staging) -> str:
    """The downloaded file's name without its suffix: one per attempt."""
    return f"run-{staging.rows_name}"


class _Cleanup:
    """Removes what an attempt leaves behind: its downloaded file and staging tables (best-effort)."""

    def __init__(self, deps: RunDeps, staging: Staging) -> None:
        self._deps = deps
        self._staging = staging

    async def run(self) -> None:
        """Once the run has ended, every attempt's staging goes (earlier ones may be left by a crash). A run
        that was cancelled instead drops only its own: the next owner may already be staging its attempt."""
        for path in self._deps.work_dir.glob(f"{_download_stem(self._staging)}.*"):  # also a partial download
            path.unlink(missing_ok=True)
        try:
            async with asyncio.timeout(CLEANUP_TIMEOUT_S), self._deps.pool.acquire() as conn:
                if await ledger.find_terminal(conn, self._staging.job_id, self._staging.run_id) is not None:
                    await drop_run_staging(conn, self._staging)
                else:
                    await drop_attempt_staging(conn, self._staging)
        except Exception as exc:
            log.warning("staging not dropped", extra={"staging": self._staging.rows_name, "error": str(exc)})


async def table_defined(conn: Conn, event: TableEvent) -> None:
    """Create a newly defined table right away, so it exists before its first import."""
    if isinstance(event, TableDefined):
        await ensure_table(conn, event.payload.table)


TABLE_HANDLERS: dict[type[TableEvent], Callable[[Conn, TableEvent], Awaitable[None]]] = {
    TableDefined: table_defined,
}
