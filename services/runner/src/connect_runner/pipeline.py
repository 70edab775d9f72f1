"""An attempt's work: transfer, stage and check the file (`prepare`), then write the load inside the final
transaction (`write_load`), `archive` the file once the run ended, and `clean_up` what the attempt leaves behind.
Each stage that ends adds an entry to the attempt's execution log (`Work.journal`).

`prepare` calls `checkpoint` between its stages, so a stop is seen there at the latest; the final transaction
is the caller's, opened by the ledger under the run's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol
from uuid import UUID

from connect_events import (
    FILE_PROBLEMS,
    ColumnMapping,
    FileLocation,
    FileRules,
    ImportCustomTable,
    ImportProfileData,
    ImportSettings,
    RunCounts,
    RunFailed,
    RunRequested,
    RunRequestedPayload,
    RunSucceeded,
    TableSpec,
    reject_details,
)
from connect_runner.adapters.copy_staging import copy_records, copyable
from connect_runner.adapters.csv_source import CsvSource, open_text, raw_lines, raw_records
from connect_runner.adapters.file_failures import COMPRESSED_SUFFIXES
from connect_runner.adapters.load import apply_writes, find_existing, lock_target_table, store_rejects
from connect_runner.adapters.profile_load import (
    Duplicates,
    apply_profile_writes,
    find_orphans,
    find_taken,
    remove_duplicate_keys,
)
from connect_runner.adapters.staging import (
    add_rejects,
    drop_attempt_staging,
    drop_run_staging,
    find_rejects,
    gather_statistics,
    prepare_session,
    reject_invalid,
    stage_records,
)
from connect_runner.adapters.tables import ensure_list, ensure_pet, ensure_table, tables_complete
from connect_runner.domain.events import LogEntry
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import job_zone, render
from connect_runner.domain.limits import limit_failure
from connect_runner.domain.plan import LoadPlan
from connect_runner.domain.profile_plan import (
    ProfilePlan,
    check_mapping,
    list_table,
    pet_specs,
    pet_table,
    profile_plan,
)
from connect_runner.domain.profile_rules import profile_reader
from connect_runner.domain.profile_statements import ProfileSteps, profile_counts, profile_steps
from connect_runner.domain.redaction import type_name
from connect_runner.domain.rejects import RejectReason, combine
from connect_runner.domain.run import Terminal
from connect_runner.domain.source_files import FetchedFile, PendingArchive, Source
from connect_runner.domain.statements import Staging, lock_target
from connect_runner.domain.value_formats import BatchReader
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


Locate = Callable[[Iterable[tuple[int, str]]], Awaitable[Rejects]]
"""Rejects found by staged row number, by line with their raw text (a second pass over the source)."""


@dataclass
class Prepared:
    """A run staged and checked, ready for its load transaction (a profile import's with its duplicates gone):
    `size` is the bytes transferred, `locate` finds rejects in the source (`located` for a file)."""

    settings: ImportSettings
    plan: LoadPlan
    staging: Staging
    size: int
    rows_read: int
    rejects: dict[int, RejectReason]
    raw: dict[int, str]
    steps: WriteSteps | ProfileSteps
    locate: Locate
    duplicates: Duplicates = field(default_factory=Duplicates)

    @property
    def counts_so_far(self) -> RunCounts:
        """What was read, for a run that ends without loading."""
        return RunCounts(rows_read=self.rows_read, bytes_transferred=self.size)


async def prepare(
    request: RunRequested, staging: Staging, deps: RunDeps, work: Work, checkpoint: Checkpoint
) -> Prepared:
    """Download, parse and stage the file, find the rows that cannot be loaded and check the job's limits;
    `checkpoint` after each stage."""
    settings, journal, tracker = import_settings(request), work.journal, work.tracker
    work.source = await source_of(deps.vault, settings.source, work.secrets)
    pattern = render(settings.source.path, request.occurred_at, job_zone(request.payload.definition))
    fetched = await deps.files.fetch(
        work.source, pattern, settings.files, deps.work_dir, download_stem(staging), tracker.transferred, checkpoint
    )
    work.fetched = fetched
    tracker.transferred(fetched.size, fetched.size)
    _log_found(journal, settings.files, fetched)
    await checkpoint()
    async with deps.pool.acquire() as conn:
        if not request.payload.dry_run:  # a dry run's are made inside its rolled-back savepoint (`write_load`)
            await ensure_target(conn, request)
        await prepare_session(conn, deps.work_mem)
        with contextlib.closing(open_text(fetched.local_path, settings.file, fetched.remote_path)) as stream:
            source = CsvSource(stream, settings.file, fetched.remote_path)
            target, rules = _plan(source, request)
            plan = target.staged if isinstance(target, ProfilePlan) else target
            copied = await _copied(conn, staging, target, source, fetched, settings, tracker)
            if copied is None:
                batches = source.batches(plan, rules)
                await stage_records(conn, staging, plan, batches, lambda: tracker.loading(source.rows_read))
        rows_read = source.rows_read if copied is None else copied
        tracker.loading(rows_read)
        _log_parsed(journal, fetched, rows_read)
        await checkpoint()
        if isinstance(target, ProfilePlan):
            found = combine(source.rejects, await reject_invalid(conn, staging, plan))
            duplicates = await remove_duplicate_keys(conn, staging, target)
        else:
            found, duplicates = combine(source.rejects, await find_rejects(conn, staging, plan)), Duplicates()
        by_reason = reject_details(found.values())
        journal.add("validated", rejects_message(found.values()), level="INFO", rejected=len(found), **by_reason)
        log_duplicates(journal, duplicates)
        exceeded = limit_failure(settings.limits, rows_read, len(found))
        steps = load_steps(staging, target, settings)
        if (isinstance(steps, ProfileSteps) or steps.joins_target) and exceeded is None:
            await gather_statistics(conn, staging)
    locate = partial(located, settings, fetched, copied is not None)
    rejects = await locate(found.items())
    if exceeded is not None:
        raise LimitExceededError(exceeded, rejects)
    await checkpoint()
    reasons, raw = dict(rejects.reasons), dict(rejects.raw)
    return Prepared(settings, plan, staging, fetched.size, rows_read, reasons, raw, steps, locate, duplicates)


def import_settings(request: RunRequested) -> ImportSettings:
    """The request's import settings."""
    settings = request.payload.definition.settings
    if isinstance(settings, ImportCustomTable | ImportProfileData):
        return settings
    raise RunFailure("INTERNAL", f"job {request.payload.job_id} is not an import")


async def _copied(
    conn: Conn,
    staging: Staging,
    target: LoadPlan | ProfilePlan,
    source: CsvSource,
    fetched: FetchedFile,
    settings: ImportSettings,
    tracker: Tracker,
) -> int | None:
    """Stage a custom table's file with a server-side COPY when that reads it exactly as `source` would
    (`copy_staging`); returns the rows staged, or None: `source` stages it."""
    if isinstance(target, ProfilePlan) or source.rejects or not copyable(settings.file, target):
        return None
    path, name = fetched.local_path, fetched.remote_path
    return await copy_records(conn, staging, target, path, settings.file, name, source.data_line, tracker.loading)


async def ensure_target(conn: Conn, request: RunRequested) -> None:
    """The run's tables, from the definitions frozen in its request: the custom table, or the list and its PETs.
    Each is a transaction of its own, or a savepoint when `conn` is in one (a dry run's, `write_load`)."""
    payload = request.payload
    if payload.list is None:
        await ensure_table(conn, payload.table)
        return
    await ensure_list(conn, payload.list)
    for pet in payload.pets:
        await ensure_pet(conn, pet, payload.list)


async def _target_complete(conn: Conn, request: RunRequested) -> bool:
    payload = request.payload
    return await tables_complete(conn, payload.table, payload.list, payload.pets)


class Resolver(Protocol):
    """What resolves a mapping against a source's column names: a CSV file (`CsvSource`), a feed delivery
    (`FeedSource`). `plan` resolves the first mapping (reading the header if need be), `resolve` the others."""

    def plan(self, mapping: Sequence[ColumnMapping], table: TableSpec, *, truncate_long_text: bool = False) -> LoadPlan:
        """The first mapping resolved."""

    def resolve(
        self, mapping: Sequence[ColumnMapping], table: TableSpec, *, truncate_long_text: bool = False
    ) -> LoadPlan:
        """Another mapping resolved against what `plan` read."""


def _plan(source: CsvSource, request: RunRequested) -> tuple[LoadPlan | ProfilePlan, BatchReader | None]:
    return target_plan(source, import_settings(request), request.payload)


def target_plan(
    source: Resolver, settings: ImportSettings, payload: RunRequestedPayload
) -> tuple[LoadPlan | ProfilePlan, BatchReader | None]:
    """The source's mapping resolved against its column names: onto the custom table, or onto the list and its
    PETs (with the profile rules its values are read by)."""
    truncate = settings.truncate_long_text
    if not isinstance(settings, ImportProfileData):
        return source.plan(settings.mapping, payload.table, truncate_long_text=truncate), None
    if payload.list is None:
        raise RunFailure("LOAD_FAILED", f"the run's request lacks the definition of list '{settings.list_name}'")
    check_mapping(settings, payload.list)
    list_plan = source.plan(settings.mapping, list_table(payload.list, settings), truncate_long_text=truncate)
    pets = pet_specs(settings, payload.list, payload.pets)
    mappings = {p.pet.casefold(): p.mapping for p in settings.pets}
    resolved = [
        (pet, source.resolve(mappings[pet.name.casefold()], pet_table(pet), truncate_long_text=truncate))
        for pet in pets
    ]
    plan = profile_plan(list_plan, resolved, payload.list)
    return plan, profile_reader(plan, settings)


def load_steps(staging: Staging, target: LoadPlan | ProfilePlan, settings: ImportSettings) -> WriteSteps | ProfileSteps:
    """The load's statements: a profile import's list and PET writes, or a custom table's."""
    if isinstance(target, ProfilePlan):
        assert isinstance(settings, ImportProfileData), "a profile plan comes from a profile import"
        return profile_steps(staging, target, settings)
    assert isinstance(settings, ImportCustomTable), "a table plan comes from a custom table import"
    return write_steps(staging, target, settings)


def log_duplicates(journal: Journal, duplicates: Duplicates) -> None:
    if not duplicates.count:
        return
    lines = ", ".join(str(n) for n in duplicates.lines) + (", …" if duplicates.count > len(duplicates.lines) else "")
    noun = "row" if duplicates.count == 1 else "rows"
    message = f"{duplicates.count:,} earlier {noun} of a repeated match key replaced by a later one (lines {lines})"
    journal.add("duplicates", message, level="WARN", duplicates=duplicates.count, lines=lines)


async def source_of(vault: CredentialReader, location: FileLocation, secrets: Secrets) -> Source:
    """The location with its credential: an external server's, from the vault; the hosted tree needs none."""
    if location.kind != "sftp":
        return Source(location, None)
    return Source(location, secrets.keep(await credential(vault, location.credential_ref)))


async def credential(vault: CredentialReader, ref: UUID) -> Credential:
    """The job's credential from the vault; a missing or unreadable one fails the run `AUTH_FAILED`."""
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


async def located(
    settings: ImportSettings, fetched: FetchedFile, by_record: bool, found: Iterable[tuple[int, str]]
) -> Rejects:
    """Rejects found by staged row number, by line number with their raw text: a second pass over the file (off
    the event loop), only when there are any. Rows are numbered by line, or `by_record` when COPY staged them."""
    reasons = dict(found)
    path, file, wanted = fetched.local_path, settings.file, set(reasons)
    if by_record:
        where = await asyncio.to_thread(raw_records, path, file, fetched.remote_path, wanted)
    else:
        raw = await asyncio.to_thread(raw_lines, path, file, fetched.remote_path, wanted)
        where = {line: (line, text) for line, text in raw.items()}
    lines = {number: where[number][0] if number in where else number for number in reasons}
    return Rejects(
        {lines[number]: RejectReason(reason) for number, reason in reasons.items()},
        {line: text for line, text in where.values()},
    )


@dataclass(frozen=True)
class PetTally:
    """A profile load's PET rows, and the list rows its updates touched (a line may match several)."""

    rows_updated: int
    inserted: int
    updated: int
    orphaned: int


@dataclass(frozen=True)
class Loaded:
    """What the load transaction wrote: the run's counters, the rows it rejected (by line) and, for a profile
    import, its PET tally."""

    counts: RunCounts
    rejected: Collection[int] = ()
    pets: PetTally | None = None


async def write_load(conn: Conn, request: RunRequested, prepared: Prepared, deps: RunDeps) -> Loaded:
    """Inside the final transaction: the target's rows and the run's rejects; returns the run's counters.

    A dry run writes the target's rows in a savepoint it rolls back, so its counts are exactly those a real
    run would have (append collisions, merge inserts and updates); its rejects are kept. Tables it lacks (or
    columns) are made in that savepoint too, so a dry run leaves none behind; only then, for they hold
    `tables.DDL_LOCK` (and an altered table's exclusive lock) until the savepoint ends. Append collisions (and,
    in a profile import, addresses and customer ids another row holds) count towards the reject limits too:
    over one, the transaction fails before it commits anything."""
    await prepare_session(conn, deps.work_mem)
    steps = prepared.steps
    async with _rolled_back_if(conn, request.payload.dry_run):
        if request.payload.dry_run and not await _target_complete(conn, request):
            await ensure_target(conn, request)
        if isinstance(steps, ProfileSteps):
            await lock_target_table(conn, steps.lock, deps.lock_timeout_s)
            rejects = await _reject_existing(conn, prepared, await find_taken(conn, steps))
        else:
            await lock_target_table(conn, lock_target(prepared.plan), deps.lock_timeout_s)
            rejects = await _reject_existing(conn, prepared, await find_existing(conn, steps))
        exceeded = limit_failure(prepared.settings.limits, prepared.rows_read, len(rejects))
        if exceeded is not None:
            raise LimitExceededError(exceeded, Rejects(rejects, prepared.raw))
        if isinstance(steps, ProfileSteps):
            loaded, stored = await _write_profile(conn, prepared, steps, rejects)
        else:
            inserted, updated = await apply_writes(conn, steps)
            counts = run_counts(
                rows_read=prepared.rows_read,
                rejected=len(rejects),
                inserted=inserted,
                updated=updated,
                bytes_transferred=prepared.size,
            )
            loaded, stored = Loaded(counts), rejects
    await Rejects(stored, prepared.raw).store(conn, request)
    return dataclasses.replace(loaded, rejected=frozenset(stored))


async def _write_profile(
    conn: Conn, prepared: Prepared, steps: ProfileSteps, rejects: dict[int, RejectReason]
) -> tuple[Loaded, dict[int, RejectReason]]:
    """The list's and the PETs' writes; the rejects to store gain the lines whose PET part has no list row (the
    line itself counts as skipped)."""
    writes = await apply_profile_writes(conn, steps)
    orphans = await find_orphans(conn, steps)
    if orphans:
        prepared.raw.update((await prepared.locate((line, RejectReason.NO_PARENT_RECORD) for line in orphans)).raw)
    counts = profile_counts(
        rows_read=prepared.rows_read,
        rejected=len(rejects),
        duplicates=prepared.duplicates.count,
        writes=writes,
        bytes_transferred=prepared.size,
    )
    tally = PetTally(writes.updated_rows, writes.pet_inserted, writes.pet_updated, len(orphans))
    stored = combine(rejects.items(), [(line, RejectReason.NO_PARENT_RECORD) for line in orphans])
    return Loaded(counts, pets=tally), stored


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
    collisions = [(number, str(RejectReason.DUPLICATE_KEY)) for number in existing]
    await add_rejects(conn, prepared.staging, collisions)
    found = await prepared.locate(collisions)
    prepared.raw.update(found.raw)
    return combine(prepared.rejects.items(), found.reasons.items())


def loaded_entries(journal: Journal, loaded: Loaded, *, dry_run: bool) -> list[LogEntry]:
    """The load's entries: what was written, or for a dry run what would have been, and that nothing was."""
    counts, pets = loaded.counts, loaded.pets
    tally = f"{counts.inserted:,} inserted, {counts.updated:,} updated, {counts.unchanged:,} unchanged"
    message = f"would load: {tally}" if dry_run else f"loaded: {tally}"
    written = {"inserted": counts.inserted, "updated": counts.updated, "unchanged": counts.unchanged}
    written["rejected"] = counts.rejected
    if pets is not None:
        message += (
            f", {counts.skipped:,} skipped ({pets.rows_updated:,} list rows updated); PET rows {pets.inserted:,}"
            f" inserted, {pets.updated:,} updated, {pets.orphaned:,} rejected without a list row"
        )
        written |= {"skipped": counts.skipped, "duplicates": counts.duplicates, "rows_updated": pets.rows_updated}
        written |= {"pet_inserted": pets.inserted, "pet_updated": pets.updated, "pet_rejected": pets.orphaned}
    entry = journal.entry("loaded", message, level="INFO", **written)
    if not dry_run:
        return [entry]
    return [entry, journal.entry("dry_run", "dry run: nothing was written (the rejects are kept)")]


def archive_due(request: RunRequested, work: Work, ended: Terminal) -> PendingArchive | None:
    """The archive step due after the run's end, when the job names an archive folder: a move after a success or
    a failure the file itself caused (`FILE_PROBLEMS`), a copy after any other failure (the file stays for the
    next run); none after a stop or a dry run, or when no file was read."""
    settings, fetched = request.payload.definition.settings, work.fetched
    folder = settings.files.archive_folder if isinstance(settings, ImportCustomTable | ImportProfileData) else None
    if folder is None or work.source is None or fetched is None or request.payload.dry_run:
        return None
    if isinstance(ended, RunSucceeded):
        move = True
    elif isinstance(ended, RunFailed):
        move = ended.payload.code in FILE_PROBLEMS
    else:
        return None
    prefix = f"{request.payload.job_id}.{request.payload.run_id}_"
    return PendingArchive(fetched.remote_path, fetched.companions, fetched.stamp, folder, prefix, move)


async def archive(deps: RunDeps, request: RunRequested, pending: PendingArchive, work: Work | None) -> LogEntry:
    """Carry out the archive step: right after the run's end with the attempt's `work` (its source, and its
    download for a copy), or, when the runner that ended the run died first (`work` None), with the source read
    again and the file as the server has it: a copy is then made on the server (`FetchedFile.downloaded`), and
    neither a move nor a copy happens when the file changed since the run read it (its stamp). The entry says
    where the file went; a failure only warns, for the run's outcome stands.

    The step is kept in the transaction that ends the run and dropped in the one recording this entry (both
    under the run's lock, `handlers._finish_archive`), so a runner killed in between leaves it to the request
    redelivered, or to the reaper's sweep (`handlers.finish_left_archives`): the next run of the job does not
    read the loaded file again. Archiving itself is not atomic with that record: a runner killed after the file
    moved and before the record leaves a step whose second try finds the file gone and only warns."""
    journal = work.journal if work is not None else Journal(request.aggregate_id)
    secrets = work.secrets if work is not None else Secrets()
    try:
        source = work.source if work is not None else None
        if source is None:
            source = await source_of(deps.vault, import_settings(request).source, secrets)
        file = pending.file(work.fetched if work is not None else None)
        where = await deps.files.archive(source, file, pending.folder, pending.prefix, move=pending.move)
    except Exception as exc:  # the run has ended: archiving can only warn
        return _archive_warning(pending.remote_path, exc, journal, secrets)
    return journal.entry("archived", f"{'moved' if pending.move else 'copied'} to '{where}'", path=where)


def _archive_warning(path: str, exc: Exception, journal: Journal, secrets: Secrets) -> LogEntry:
    """The `archived` entry of an archive step that failed, in our words (the cause goes to the runner's log)."""
    reason = exc.message if isinstance(exc, RunFailure) else "an unexpected error; the runner's log has the details"
    cause = exc.__cause__ if isinstance(exc, RunFailure) else exc
    if cause is not None:  # for operators, withheld as `run_failures.log_cause` does
        log.warning("archiving failed", extra={"error_type": type_name(cause), "detail": secrets.withhold(str(cause))})
    return journal.entry("archived", f"'{path}' was not archived: {reason}", level="WARN", path=path)


def download_stem(staging: Staging) -> str:
    """The downloaded file's name without its suffix: one per attempt."""
    return f"run-{staging.rows_name}"


async def clean_up(deps: RunDeps, staging: Staging, *, run_ended: bool) -> None:
    """Remove what an attempt leaves behind: its downloaded files and staging tables (best-effort).

    Once the run has ended, every attempt's staging goes (earlier ones may be left by a crash). An attempt
    that did not end the run (cancelled) drops only its own: the next owner may already be staging its attempt.
    """
    for path in deps.work_dir.glob(f"{download_stem(staging)}.*"):  # also a partial download
        if path.is_dir():  # an analytics feed's deliveries
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    try:
        async with asyncio.timeout(CLEANUP_TIMEOUT_S), deps.pool.acquire() as conn:
            if run_ended:
                await drop_run_staging(conn, staging)
            else:
                await drop_attempt_staging(conn, staging)
    except Exception as exc:
        log.warning("staging not dropped", extra={"staging": staging.rows_name, "error": str(exc)})
