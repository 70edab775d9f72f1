"""An attempt's work: transfer, stage and check the file (`prepare`), then write the load inside the final
transaction (`write_load`); and `clean_up` what the attempt leaves behind.

`prepare` calls `checkpoint` between its stages, so a stop is seen there at the latest; the final transaction
is the caller's, opened by the ledger under the run's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from connect_events import ImportCustomTable, RunCounts, RunRequested
from connect_runner.adapters.csv_source import CsvSource, open_text, raw_lines
from connect_runner.adapters.load import apply_writes, find_existing, lock_target_table, store_rejects
from connect_runner.adapters.sftp import FetchedFile
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
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import render
from connect_runner.domain.plan import LoadPlan
from connect_runner.domain.rejects import RejectReason, combine
from connect_runner.domain.statements import Staging
from connect_runner.domain.writes import WriteSteps, run_counts, write_steps
from connect_runner.ports import CredentialReader, RunDeps
from connect_runner.progress import Tracker
from connect_runner.run_failures import Secrets
from connect_runtime.db import Conn
from connect_runtime.vault import Credential, CredentialNotFoundError, CredentialUnreadableError

log = logging.getLogger(__name__)

CLEANUP_TIMEOUT_S = 30.0

Checkpoint = Callable[[], Awaitable[None]]


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
    request: RunRequested, staging: Staging, deps: RunDeps, tracker: Tracker, secrets: Secrets, checkpoint: Checkpoint
) -> Prepared:
    """Download, parse and stage the file, find the rows that cannot be loaded; `checkpoint` after each stage."""
    settings = request.payload.definition.settings
    credential = secrets.keep(await _credential(deps.vault, settings.source.credential_ref))
    pattern = render(settings.source.path, request.occurred_at)
    clock = Stopwatch(request)
    fetched = await deps.files.fetch(
        settings.source, credential, pattern, deps.work_dir, download_stem(staging), tracker.transferred
    )
    clock.lap("file transferred", remote=fetched.remote_path, bytes=fetched.size)
    tracker.transferred(fetched.size, fetched.size)
    await checkpoint()
    async with deps.pool.acquire() as conn:
        await ensure_table(conn, request.payload.table)
        await prepare_session(conn, deps.work_mem)
        with contextlib.closing(open_text(fetched.local_path, settings.file, fetched.remote_path)) as stream:
            source = CsvSource(stream, settings.file, fetched.remote_path)
            plan = source.plan(settings.mapping, request.payload.table)
            await stage_records(conn, staging, plan, source.batches(plan), lambda: tracker.loading(source.rows_read))
        tracker.loading(source.rows_read)
        clock.lap("file parsed and staged", rows=source.rows_read)
        await checkpoint()
        checked = await find_rejects(conn, staging, plan)
        rejects = combine(source.rejects, checked)
        clock.lap("rows validated", rejected=len(rejects))
        steps = write_steps(staging, plan, settings)
        if steps.joins_target:
            await gather_statistics(conn, staging)
    raw = await _raw_lines(settings, fetched, set(rejects))
    await checkpoint()
    return Prepared(settings, plan, staging, fetched, source.rows_read, rejects, raw, steps)


async def _credential(vault: CredentialReader, ref: UUID) -> Credential:
    try:
        return await vault.read(ref)
    except CredentialNotFoundError as exc:
        raise RunFailure("AUTH_FAILED", f"the job's credential {ref} is not in the vault") from exc
    except CredentialUnreadableError as exc:
        raise RunFailure("AUTH_FAILED", f"the job's credential {ref} cannot be decrypted") from exc


async def _raw_lines(settings: ImportCustomTable, fetched: FetchedFile, lines: set[int]) -> dict[int, str]:
    # A full second pass over a large file: off the event loop.
    return await asyncio.to_thread(raw_lines, fetched.local_path, settings.file, fetched.remote_path, lines)


async def write_load(conn: Conn, request: RunRequested, prepared: Prepared, deps: RunDeps) -> RunCounts:
    """Inside the final transaction: the target's rows and the run's rejects; returns the run's counters."""
    await prepare_session(conn, deps.work_mem)
    await lock_target_table(conn, prepared.plan, deps.lock_timeout_s)
    rejects = await _reject_existing(conn, prepared, await find_existing(conn, prepared.steps))
    inserted, updated = await apply_writes(conn, prepared.steps)
    await store_rejects(conn, request.payload.job_id, request.payload.run_id, rejects, prepared.raw)
    return run_counts(
        rows_read=prepared.rows_read,
        rejected=len(rejects),
        inserted=inserted,
        updated=updated,
        bytes_transferred=prepared.fetched.size,
    )


async def _reject_existing(conn: Conn, prepared: Prepared, existing: list[int]) -> dict[int, RejectReason]:
    """Append mode: rows whose key already exists are rejected as duplicates, inside the load transaction."""
    if not existing:
        return prepared.rejects
    collisions = [(line, str(RejectReason.DUPLICATE_KEY)) for line in existing]
    await add_rejects(conn, prepared.staging, collisions)
    prepared.raw.update(await _raw_lines(prepared.settings, prepared.fetched, set(existing)))
    return combine(prepared.rejects.items(), collisions)


class Stopwatch:
    """Logs each stage of a run with its duration (the run's execution log, as operators see it)."""

    def __init__(self, request: RunRequested) -> None:
        self._run = request.aggregate_id
        self._last = time.monotonic()

    def lap(self, stage: str, **details: object) -> None:
        now = time.monotonic()
        log.info(stage, extra={"run": self._run, "duration_ms": round((now - self._last) * 1000), **details})
        self._last = now


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
