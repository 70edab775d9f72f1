"""Use cases: execute a requested run; create a defined table.

`execute_run` is the whole run: it is idempotent (a run already in the ledger returns its stored terminal
event and does nothing else) and its effect on the audience store is all-or-nothing (the writes, the rejects,
the ledger row and the terminal event commit in one transaction). Every way out of it records a terminal
event: a failure of any kind, the run's time limit, and giving up on a run whose earlier attempts all
stopped midway (the runner was killed, e.g. out of memory) instead of taking it up again forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
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
from connect_runner.adapters.db_failures import connection_lost, database_failure
from connect_runner.adapters.load import apply_writes, find_existing, lock_target_table, store_rejects
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
from connect_runner.domain.events import RunOrigin
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import FilePattern, render
from connect_runner.domain.plan import LoadPlan
from connect_runner.domain.redaction import exception_outline, type_name, withhold
from connect_runner.domain.rejects import RejectReason, combine
from connect_runner.domain.statements import Staging
from connect_runner.domain.unreadable import UnreadableRequest
from connect_runner.domain.writes import run_counts, write_steps
from connect_runner.progress import PROGRESS_INTERVAL_S, Snapshot, Tracker, reporting
from connect_runtime.db import Conn
from connect_runtime.vault import Credential, CredentialNotFoundError, CredentialUnreadableError

log = logging.getLogger(__name__)

CLEANUP_TIMEOUT_S = 30.0
MAX_ATTEMPTS = 3
RUN_TIMEOUT_S = 3600.0
LOCK_TIMEOUT_S = 60.0


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
    max_attempts: int = MAX_ATTEMPTS
    run_timeout_s: float = RUN_TIMEOUT_S
    lock_timeout_s: float = LOCK_TIMEOUT_S


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
    cleanup = _Cleanup(deps, staging)
    try:
        if attempt.number > deps.max_attempts:
            return await _give_up(request, attempt, deps)
        return await _attempt(request, attempt, staging, deps)
    finally:
        await cleanup.run()


async def _give_up(request: RunRequested, attempt: ledger.Attempt, deps: RunDeps) -> RunEvent:
    """Each earlier attempt stopped midway without ending the run; another one would most likely do the same
    (and take its partition down with it), so the run fails without being loaded again."""
    tried = attempt.number - 1
    log.error("run given up", extra={"run": request.aggregate_id, "attempts": tried})
    error = f"gave up after {tried} attempts: the runner stopped during each of them"
    return await _fail(request, attempt.started_at, RunCounts(), deps, "INTERNAL", error)


async def _attempt(request: RunRequested, attempt: ledger.Attempt, staging: Staging, deps: RunDeps) -> RunEvent:
    """Transfer, stage, check and load within the time limit; any failure becomes the run's RunFailed."""
    tracker = Tracker()
    secrets = _Secrets()
    log.info("run started", extra={"run": request.aggregate_id, "attempt": attempt.number})
    try:
        async with _time_limit(deps.run_timeout_s, tracker):
            async with reporting(tracker, _progress_emitter(request, deps), deps.progress_interval_s):
                prepared = await _prepare(request, staging, deps, tracker, secrets)
            return await _commit(request, attempt, prepared, deps)
    except Exception as exc:  # any failure ends the run, told in the runner's own words
        failure = describe_failure(exc, request)
        _log_cause(exc, failure, request, secrets)
    counts = RunCounts(rows_read=tracker.snapshot.rows_read, bytes_transferred=tracker.snapshot.bytes_done)
    return await _fail(request, attempt.started_at, counts, deps, failure.code, failure.message)


def describe_failure(exc: Exception, request: RunRequested) -> RunFailure:
    """What a failure means for the run, worded from its kind alone: the runner's own `RunFailure`s as they
    are, database errors by SQLSTATE, anything else as unexpected. No exception's text is passed on, so none
    can carry the credential (or a server's message quoting data) into `RunFailed.error`."""
    if isinstance(exc, RunFailure):
        return exc
    if isinstance(exc, asyncpg.PostgresError):
        return database_failure(exc, request.payload.table.name)
    # asyncpg's plain InterfaceError is a connection that closed under the run; its subclasses (a wrong argument
    # type, a client configuration or feature error) are runner bugs and must read as unexpected, outline logged.
    if type(exc) is asyncpg.InterfaceError or isinstance(exc, ConnectionError):
        return connection_lost()
    return RunFailure("INTERNAL", UNEXPECTED.format(run=request.aggregate_id))


UNEXPECTED = "an unexpected error in the runner stopped the run; its log has the details (run {run})"


def _log_cause(exc: Exception, failure: RunFailure, request: RunRequested, secrets: _Secrets) -> None:
    """For operators: what went wrong in the libraries' words (withheld whole where it might give the credential
    away), and for an unexpected error where it happened."""
    cause = exc.__cause__ if isinstance(exc, RunFailure) else exc
    if cause is None:
        return  # the runner's own account says it all (`run failed` is logged with it)
    details = {
        "run": request.aggregate_id,
        "code": failure.code,
        "error_type": type_name(cause),
        "detail": _detail(cause, secrets),
    }
    if isinstance(exc, RunFailure):
        log.info("cause of the run's failure", extra=details)
    elif failure.code != "INTERNAL":
        log.warning("load failed", extra={**details, "sqlstate": getattr(exc, "sqlstate", None)})
    else:
        log.error("run failed unexpectedly", extra={**details, "traceback": exception_outline(exc)})


def _detail(cause: BaseException, secrets: _Secrets) -> str:
    """A library's message for the log: PostgreSQL's as it is (the server never saw the credential), any
    other's withheld once a credential was read, whatever it says (withholding only the messages that contain
    the credential would tell which ones do)."""
    if isinstance(cause, asyncpg.PostgresError):
        return str(cause)
    return secrets.withhold(str(cause))


@contextlib.asynccontextmanager
async def _time_limit(seconds: float, tracker: Tracker) -> AsyncIterator[None]:
    """Fail the run once it has taken `seconds`: a server that stops answering, or a load stuck behind some
    other lock, must not hold the run (and its partition) forever. Cleanup and the failure itself run after."""
    limit = asyncio.timeout(seconds)
    try:
        async with limit:
            yield
    except TimeoutError as exc:
        if not limit.expired():  # a timeout of some step inside, not the run's own
            raise
        code: FailureCode = "CONNECTION_FAILED" if tracker.snapshot.stage == "transfer" else "LOAD_FAILED"
        raise RunFailure(code, f"the run exceeded its time limit of {seconds:g} s") from exc


class _Secrets:
    """The run's credential once read, kept to withhold log texts the runner did not write itself."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def keep(self, credential: Credential) -> Credential:
        self._secrets.append(credential.secret)
        return credential

    def withhold(self, text: str) -> str:
        return withhold(text, self._secrets)


async def fail_unreadable(request: UnreadableRequest, deps: RunDeps) -> RunEvent:
    """End the run of a request this runner cannot decode (RunFailed, INTERNAL, with the reason), once: the
    ledger row makes a redelivered request return the stored event. No attempt began, so no RunStarted."""
    now = deps.clock()
    async with deps.pool.acquire() as conn, conn.transaction():
        stored = await ledger.lock_run(conn, request)
        if stored is not None:
            return stored
        await ledger.open_versions(conn, request)
        event = await _record_failure(conn, request, now, RunCounts(), deps, "INTERNAL", request.error)
    log.error("run request unreadable; run failed", extra={"run": request.aggregate_id, "error": request.error})
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


async def _prepare(
    request: RunRequested, staging: Staging, deps: RunDeps, tracker: Tracker, secrets: _Secrets
) -> _Prepared:
    settings = request.payload.definition.settings
    credential = secrets.keep(await _credential(deps.vault, settings.source.credential_ref))
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
        await lock_target_table(conn, prepared.plan, deps.lock_timeout_s)
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
    request: RunOrigin, started_at: datetime, counts: RunCounts, deps: RunDeps, code: FailureCode, error: str
) -> RunEvent:
    """Record the failure (ledger + terminal event, one transaction); the target was not changed."""
    async with deps.pool.acquire() as conn, conn.transaction():
        stored = await ledger.lock_run(conn, request)
        if stored is not None:
            return stored
        event = await _record_failure(conn, request, started_at, counts, deps, code, error)
    log.info("run failed", extra={"run": request.aggregate_id, "code": code, "error": error})
    return event


async def _record_failure(
    conn: Conn,
    request: RunOrigin,
    started_at: datetime,
    counts: RunCounts,
    deps: RunDeps,
    code: FailureCode,
    error: str,
) -> RunEvent:
    """Queue RunFailed with its ledger row (inside the caller's transaction, after `ledger.lock_run`)."""

    def build(version: int) -> ledger.Terminal:
        return events.run_failed(request, version, counts, started_at, deps.clock(), code=code, error=error)

    return await ledger.record_terminal(conn, request, build)


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
