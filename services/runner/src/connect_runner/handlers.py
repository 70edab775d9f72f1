"""Use cases: execute a requested run, take up and continue runs whose retry is due, fail an unreadable run,
record a stop request, reap lost runs, create a defined table, list or PET (and the columns added to them).

Each run use case loads the run from the ledger under its lock, lets `domain.run.decide` say what to record,
acts (an import's `pipeline`: transfer, stage, load; an analytics feed's `feeding`: its deliveries verified,
staged, loaded and reconciled; an export's `exporting`: select, write, rename; or `pushing` to a marketing API)
and records. `execute_run` is idempotent (a run that already ended returns its
stored terminal event and does nothing else) and its effect on the audience store is all-or-nothing (the writes,
the rejects, the execution log, the ledger row and the terminal event commit in one transaction, `_commit`;
an import's file is archived after it, see `pipeline.archive`; an export's file is renamed inside it). Every way
out of it records a terminal event: a failure of any kind, the time limit, a stop, and giving up on a run whose
earlier attempts all stopped midway. Only an attempt that failed transiently, with the job's retry policy wanting
another, records `run.attempt_failed` instead; `execute_run` then returns (the consumer commits the request), and
the retry poller begins the next attempt once the wait is over (`take_up_retries`, then `continue_retry`, which
carries it out as `execute_run` does).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TypeVar
from urllib.parse import urlsplit

from connect_events import (
    Event,
    ExportApi,
    ExportFile,
    ImportAnalyticsFeed,
    ImportCustomTable,
    ImportProfileData,
    RunAttemptFailed,
    RunCounts,
    RunEvent,
    RunFailed,
    RunRequested,
    RunStatus,
    RunStopped,
    RunStopRequested,
    RunSucceeded,
    TableDefined,
)
from connect_events.tables import ListColumnAdded, ListDefined, PetColumnAdded, PetDefined
from connect_runner.adapters.export_marks import keep_mark
from connect_runner.adapters.load import store_rejects
from connect_runner.adapters.tables import add_list_column, add_pet_column, ensure_list, ensure_pet, ensure_table
from connect_runner.domain.events import LogEntry, RunOrigin
from connect_runner.domain.run import (
    Attempt,
    BeginAttempt,
    Decision,
    Fail,
    Log,
    Reap,
    RunState,
    Snapshot,
    Stop,
    Succeed,
    Tick,
    decide,
    must_stop,
    superseded,
)
from connect_runner.domain.statements import Staging
from connect_runner.domain.unreadable import UnreadableRequest
from connect_runner.exporting import (
    deliver,
    discard,
    export_names,
    export_settings,
    preview_export,
    previewed_entries,
    write_export,
)
from connect_runner.feeding import prepare_feed, write_feed
from connect_runner.pipeline import (
    LimitExceededError,
    Prepared,
    Rejects,
    Work,
    archive,
    archive_due,
    clean_up,
    loaded_entries,
    prepare,
    source_of,
    write_load,
)
from connect_runner.ports import RunDeps, RunLedger
from connect_runner.progress import Journal, Tracker, reporting
from connect_runner.pushing import api_settings, push_export
from connect_runner.run_failures import describe_failure, log_cause, time_limit
from connect_runner.stopping import StopRequested, StopScope
from connect_runtime.db import Conn
from connect_runtime.logs import log_context

log = logging.getLogger(__name__)

REAP_BATCH = 100
STOP_BATCH = 100
ARCHIVE_BATCH = 100
# How old an archive step must be before the reaper's sweep takes it (s): the runner that ended the run carries it
# out at once, and only a step whose runner died is still there (its lock is free, so the sweep may take it).
LEFT_ARCHIVE_AFTER_S = 60.0
Tx = TypeVar("Tx")


class AttemptSupersededError(Exception):
    """A newer attempt of the run began while this one still worked (its runner had lost the run, e.g. to a
    rebalance): this one wound down without deciding anything. Raised so the consumer does not commit the
    request: if its partition is still this runner's, the request comes back and the run goes on from the
    ledger; if not, the new owner has it."""

    def __init__(self, origin: RunOrigin, attempt: int) -> None:
        super().__init__(f"attempt {attempt} of run {origin.aggregate_id} was superseded by a newer attempt")


async def execute_run(request: RunRequested, deps: RunDeps) -> RunEvent | None:
    """See `_execute_run`; everything logged meanwhile names the run and its correlation id."""
    with run_log_context(request):
        return await _execute_run(request, deps)


def run_log_context(request: RunRequested) -> contextlib.AbstractContextManager[None]:
    """The log fields of work on `request`'s run."""
    return log_context(run=request.aggregate_id, correlation_id=str(request.correlation_id))


async def _execute_run(request: RunRequested, deps: RunDeps) -> RunEvent | None:
    """Begin an attempt of the requested run and carry it out. Returns the run's terminal event (the stored one
    when it had already ended), or None when the run waits for its next attempt: the retry poller begins that
    one (`take_up_retries`), and the request is done with.

    A request redelivered after its run began waiting (its runner stopped before committing it) finds that in
    the ledger and returns None at once: it neither begins the next attempt early nor a second time. Raises
    `AttemptSupersededError` when a newer attempt took the run over meanwhile."""
    async with deps.ledger.transaction() as tx:
        state = await deps.ledger.load(tx, request)
        decision = decide(state, BeginAttempt(deps.runner, deps.clock(), deps.max_attempts))
        state = await deps.ledger.record(tx, state, decision)
        if state.polled and state.terminal is None:
            # Kept again: a run that began waiting under an older runner has no request kept yet.
            await deps.ledger.keep_request(tx, request)
    return await _carry_out(request, state, decision, deps)


@dataclass(frozen=True)
class Retry:
    """A run the retry poller took up: its kept request, and its state and decision once the poller began it."""

    request: RunRequested
    state: RunState
    decision: Decision


async def take_up_retries(deps: RunDeps, limit: int) -> list[Retry]:
    """The retry poller's pass. First the waiting runs that were asked to stop end *Stopped* at once (that needs
    no slot). Then up to `limit` runs whose next attempt is due (`next_attempt_at`) are claimed and begun in
    one transaction, so runners polling at once never begin the same one twice. Returns those, for
    `continue_retry` (a run that was given up instead has ended: it only cleans up)."""
    await _end_stopped_waits(deps)
    if limit <= 0:
        return []
    now, resume_after = deps.clock(), timedelta(seconds=deps.resume_after_s)
    begin = BeginAttempt(deps.runner, now, deps.max_attempts, resume_after)
    taken: list[Retry] = []
    async with deps.ledger.transaction() as tx:
        for request in await deps.ledger.claim_retries(tx, now, resume_after, limit):
            state = await deps.ledger.load(tx, request)
            decision = decide(state, begin)
            taken.append(Retry(request, await deps.ledger.record(tx, state, decision), decision))
    return taken


async def continue_retry(retry: Retry, deps: RunDeps) -> RunEvent | None:
    """Carry out the attempt the retry poller began, as `execute_run` does one a request began."""
    with run_log_context(retry.request):
        return await _carry_out(retry.request, retry.state, retry.decision, deps)


async def _end_stopped_waits(deps: RunDeps) -> None:
    """End the waiting runs asked to stop. A run whose lock is held (only for a moment while it waits) is left
    to the next pass."""
    for request in await deps.ledger.stopped_waits(STOP_BATCH):
        async with deps.ledger.transaction() as tx:
            state = await deps.ledger.try_load(tx, request)
            if state is None:
                continue
            resume_after = timedelta(seconds=deps.resume_after_s)
            decision = decide(state, BeginAttempt(deps.runner, deps.clock(), deps.max_attempts, resume_after))
            state = await deps.ledger.record(tx, state, decision)
        if state.terminal is not None:
            await _ended_without_attempt(request, state, decision, deps)


async def _carry_out(request: RunRequested, state: RunState, decision: Decision, deps: RunDeps) -> RunEvent | None:
    """Carry out what `BeginAttempt` decided: an attempt that began runs; a run that ended (then or before)
    returns its terminal event; a run waiting for the retry poller returns None."""
    if state.terminal is not None:
        await _ended_without_attempt(request, state, decision, deps)
        await _finish_archive(request, deps)  # left undone by a runner that died after the end
        return state.terminal
    if not decision.events:
        log.info("run left to the retry poller", extra={"run": request.aggregate_id})
        return None
    assert state.attempt is not None, "a run that did not end has begun an attempt"
    attempt = state.attempt.number
    state = await _attempt(request, state.attempt, deps)
    if state.terminal is not None:
        return state.terminal
    if superseded(state, attempt):
        raise AttemptSupersededError(request, attempt)
    log.info("next attempt waits", extra={"run": request.aggregate_id, "attempt": attempt, "at": str(state.retry_at)})
    return None


async def _ended_without_attempt(request: RunRequested, state: RunState, decision: Decision, deps: RunDeps) -> None:
    _log_not_started(request, decision, state)
    if decision.events:  # it ended just now (given up, stopped): earlier attempts may have left staging
        attempt = state.attempt.number if state.attempt else 0
        await clean_up(deps, Staging(request.payload.job_id, request.payload.run_id, attempt), run_ended=True)


def _log_not_started(request: RunRequested, decision: Decision, state: RunState) -> None:
    run = {"run": request.aggregate_id}
    if not decision.events:
        log.info("run already ended; nothing to do", extra=run)
    elif state.attempt is None:
        log.info("run stopped before it started", extra=run)
    elif state.status is RunStatus.STOPPED:
        log.info("run stopped between attempts", extra=run)
    else:  # given up: the attempt just begun is not one of those that died
        log.error("run given up", extra={**run, "attempts": state.unfinished_attempts - 1})


async def _attempt(request: RunRequested, attempt: Attempt, deps: RunDeps) -> RunState:
    """One attempt, and what it leaves behind cleaned up: all the run's staging once the run ended, else this
    attempt's own (it failed and another follows, or it was cancelled)."""
    staging = Staging(request.payload.job_id, request.payload.run_id, attempt.number)
    ended = False
    try:
        state = await _try(request, attempt, staging, deps)
        ended = state.terminal is not None
        return state
    finally:
        await clean_up(deps, staging, run_ended=ended)


async def _try(request: RunRequested, attempt: Attempt, staging: Staging, deps: RunDeps) -> RunState:
    """Transfer, stage, check and load within the time limit; a stop ends it stopped, a failure failed (or, when
    transient and the policy has attempts left, the attempt failed)."""
    work = Work(Tracker(), Journal(request.aggregate_id))
    log.info("run started", extra={"run": request.aggregate_id, "attempt": attempt.number})
    try:
        async with time_limit(_time_allowed(request, deps), work.tracker):
            settings = request.payload.definition.settings
            if isinstance(settings, ExportFile):
                return await _export(request, attempt, deps, work)
            if isinstance(settings, ExportApi):
                return await _push(request, attempt, deps, work)
            if isinstance(settings, ImportAnalyticsFeed):
                return await _feed(request, attempt, staging, deps, work)
            async with _watched(request, attempt, deps, work) as watch:
                prepared = await prepare(request, staging, deps, work, watch.checkpoint)
            load = partial(_load, request, prepared, deps, work)
            return await _commit(request, attempt, deps, work, prepared.counts_so_far, load)
    except StopRequested:
        stop = Stop(attempt.number, attempt.started_at, _so_far(work.tracker), deps.clock())
        return await _end(deps, request, stop, work.journal)
    except Exception as exc:  # any failure ends the attempt, told in the runner's own words
        failure = describe_failure(exc, request)
        log_cause(exc, failure, request, work.secrets)
    number, counts, retry, now = attempt.number, _so_far(work.tracker), request.payload.definition.retry, deps.clock()
    fail = Fail(number, attempt.started_at, counts, failure.code, failure.message, now, failure.transient, retry)
    rejects = failure.rejects if isinstance(failure, LimitExceededError) else None
    return await _fail_attempt(deps, request, fail, work, rejects)


def _time_allowed(request: RunRequested, deps: RunDeps) -> float:
    """The run's time limit, plus the longest wait for its ready file: the wait has its own limit (failing
    READY_FILE_TIMEOUT), and a file that comes late still gets the whole run time for its transfer and load."""
    settings = request.payload.definition.settings
    if isinstance(settings, ImportCustomTable | ImportProfileData) and settings.files.ready_file is not None:
        return deps.run_timeout_s + settings.files.ready_timeout_s
    return deps.run_timeout_s


async def _fail_attempt(
    deps: RunDeps, request: RunRequested, fail: Fail, work: Work, rejects: Rejects | None
) -> RunState:
    """`_end` for a failed attempt; a run that now waits for its next attempt keeps its request for the retry
    poller in the same transaction (its offset is committed once `execute_run` returns). A run this ends keeps
    the `rejects` of a failed limit in the same transaction, and its file is archived after it."""
    with work.journal.taking() as entries:
        async with deps.ledger.transaction() as tx:
            loaded = await deps.ledger.load(tx, request)
            state = await _record_end(deps.ledger, tx, request, loaded, fail, entries)
            if state.retry_at is not None:
                await deps.ledger.keep_request(tx, request)
            ended_now = loaded.terminal is None and state.terminal is not None
            if ended_now and rejects is not None:
                await rejects.store(tx, request)
            due = ended_now and await _keep_archive(deps, tx, request, work, state)
    if due:
        await _finish_archive(request, deps, work)
    return state


def _so_far(tracker: Tracker) -> RunCounts:
    return RunCounts(rows_read=tracker.snapshot.rows_read, bytes_transferred=tracker.snapshot.bytes_done)


class _Watch:
    """The attempt's heartbeat, progress, execution log and stop check, through the ledger: at every tick (from
    the ticker task: a stop interrupts the work wherever it is) and between stages (from the work itself)."""

    def __init__(self, request: RunRequested, attempt: int, deps: RunDeps, scope: StopScope, journal: Journal) -> None:
        self._request = request
        self._attempt = attempt
        self._deps = deps
        self._scope = scope
        self._journal = journal

    async def tick(self, progress: Snapshot | None) -> None:
        """Beat, report `progress` if any, and interrupt the work if it must stop."""
        if must_stop(await self._beat(progress), self._attempt):
            self._scope.stop()

    async def checkpoint(self) -> None:
        """Beat, and raise `StopRequested` if the work must stop."""
        if must_stop(await self._beat(None), self._attempt):
            raise StopRequested

    async def _beat(self, progress: Snapshot | None) -> RunState:
        """One transaction: the log entries of the stages ended since the last beat, then the tick."""
        ledger, now = self._deps.ledger, self._deps.clock()
        with self._journal.taking() as entries:
            async with ledger.transaction() as tx:
                state = await ledger.load(tx, self._request)
                state = await ledger.record(tx, state, decide(state, Log(self._attempt, now, tuple(entries))))
                return await ledger.record(tx, state, decide(state, Tick(self._attempt, now, progress)))


Finish = Callable[[Conn], Awaitable[tuple[RunCounts, Sequence[LogEntry]]]]
"""The work of the final transaction (an import's load, an export's rename): the run's counters and log entries."""


async def _commit(
    request: RunRequested,
    attempt: Attempt,
    deps: RunDeps,
    work: Work,
    so_far: RunCounts,
    finish: Finish,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> RunState:
    """One transaction under the run's lock: `finish`'s writes (target rows and rejects, or the export's rename),
    log entries, ledger row and terminal event — or none of them. A stop recorded before it reads the run wins
    (`finish` does nothing, `on_stop` tidies up, the run ends stopped with `so_far`); one recorded later (stops
    are recorded without the run's lock) changes nothing. An import's file is archived once it committed."""
    with work.journal.taking() as entries:
        async with deps.ledger.transaction() as conn:
            state = await deps.ledger.load(conn, request)
            if must_stop(state, attempt.number):
                if on_stop is not None:
                    await on_stop()
                stop = Stop(attempt.number, attempt.started_at, so_far, deps.clock())
                return await _record_end(deps.ledger, conn, request, state, stop, entries)
            counts, done = await finish(conn)
            logged = (*entries, *done)
            now = deps.clock()
            state = await deps.ledger.record(conn, state, decide(state, Log(attempt.number, now, logged)))
            succeed = Succeed(attempt.number, attempt.started_at, counts, now)
            state = await deps.ledger.record(conn, state, decide(state, succeed))
            due = await _keep_archive(deps, conn, request, work, state)
    if due:
        await _finish_archive(request, deps, work)
    return state


async def _load(
    request: RunRequested, prepared: Prepared, deps: RunDeps, work: Work, conn: Conn
) -> tuple[RunCounts, list[LogEntry]]:
    """An import's final writes: the target's rows and the rejects (`pipeline.write_load`)."""
    loaded = await write_load(conn, request, prepared, deps)
    return loaded.counts, loaded_entries(work.journal, loaded, dry_run=request.payload.dry_run)


async def _feed(request: RunRequested, attempt: Attempt, staging: Staging, deps: RunDeps, work: Work) -> RunState:
    """An analytics feed import's attempt (`feeding`): the new deliveries verified and staged while stops are
    watched, then loaded, reconciled and remembered in the transaction recording the success."""
    async with _watched(request, attempt, deps, work) as watch:
        feed = await prepare_feed(request, staging, deps, work, watch.checkpoint)
    load = partial(write_feed, request=request, feed=feed, deps=deps, journal=work.journal)
    return await _commit(request, attempt, deps, work, feed.counts_so_far, load)


async def _export(request: RunRequested, attempt: Attempt, deps: RunDeps, work: Work) -> RunState:
    """An export's attempt (`exporting`): the file is written under its temporary name while stops are watched,
    then renamed in the transaction recording the success; a stop seen there, or a failure before the rename,
    removes it instead. A dry run counts the rows and shows the first ones, writing nothing."""
    settings = export_settings(request)
    names = export_names(request, settings)
    if request.payload.dry_run:
        return await _dry_export(request, attempt, deps, work, f"'{names.final}'")
    work.source = await source_of(deps.vault, settings.destination, work.secrets)
    async with deps.files.destination(work.source, names.final) as destination:
        async with _watched(request, attempt, deps, work) as watch:
            written = await write_export(request, deps, work.journal, work.tracker, destination, watch.checkpoint)

        async def rename(conn: Conn) -> tuple[RunCounts, list[LogEntry]]:
            entries = await deliver(destination, written, settings, work.journal)
            if settings.incremental:
                await keep_mark(conn, request.payload.job_id, request.payload.run_id, written.mark)
            return written.counts, entries

        discard_temp = partial(discard, destination, names.temp)
        try:
            return await _commit(request, attempt, deps, work, written.counts, rename, discard_temp)
        except BaseException:
            await discard_temp()  # after the rename there is nothing left to remove
            raise


async def _push(request: RunRequested, attempt: Attempt, deps: RunDeps, work: Work) -> RunState:
    """An export to a marketing API (`pushing`): the records go 200 a call while stops are watched; the API's
    refusals of single records are kept as the run's rejects in the transaction recording its end. A dry run
    counts the rows and shows the first ones, sending nothing."""
    settings = api_settings(request)
    where = f"'{settings.remote_list}' on {urlsplit(settings.endpoint.url).netloc}"
    if request.payload.dry_run:
        return await _dry_export(request, attempt, deps, work, where, pushed=True)
    async with _watched(request, attempt, deps, work) as watch:
        pushed = await push_export(request, deps, work.journal, work.tracker, work.secrets, watch.checkpoint)

    async def record(conn: Conn) -> tuple[RunCounts, list[LogEntry]]:
        await store_rejects(conn, request.payload.job_id, request.payload.run_id, pushed.rejects, pushed.raw)
        if settings.incremental and pushed.mark is not None:
            await keep_mark(conn, request.payload.job_id, request.payload.run_id, pushed.mark)
        return pushed.counts, []

    return await _commit(request, attempt, deps, work, pushed.counts, record)


async def _dry_export(
    request: RunRequested, attempt: Attempt, deps: RunDeps, work: Work, where: str, *, pushed: bool = False
) -> RunState:
    """An export's dry run: the rows counted and the first ones shown, nothing written or sent."""
    async with _watched(request, attempt, deps, work):
        previewed = await preview_export(request, deps)
    entries = previewed_entries(work.journal, previewed, where, pushed=pushed)

    async def dry(_conn: Conn) -> tuple[RunCounts, list[LogEntry]]:
        return previewed.counts, entries

    return await _commit(request, attempt, deps, work, previewed.counts, dry)


@contextlib.asynccontextmanager
async def _watched(request: RunRequested, attempt: Attempt, deps: RunDeps, work: Work) -> AsyncIterator[_Watch]:
    """The attempt's work watched: progress reported and stops seen at every tick (`StopRequested` out of the
    block) and at every `checkpoint` of the returned watch."""
    async with StopScope() as scope:
        watch = _Watch(request, attempt.number, deps, scope, work.journal)
        async with reporting(work.tracker, watch.tick, deps.progress_interval_s):
            yield watch


async def _keep_archive(deps: RunDeps, tx: Conn, request: RunRequested, work: Work, state: RunState) -> bool:
    """Keep the archive step the run's end makes due, in the transaction recording that end; whether there is one."""
    pending = None if state.terminal is None else archive_due(request, work, state.terminal)
    if pending is not None:
        await deps.ledger.keep_archive(tx, request, pending, deps.clock())
    return pending is not None


async def _finish_archive(request: RunRequested, deps: RunDeps, work: Work | None = None, *, wait: bool = True) -> None:
    """Carry out the run's archive step if it still has one, then log where the file went (after the end, by the
    attempt that ended the run: `Log.after_end`) and drop the step, in one transaction holding the run's lock.

    Called by the attempt that ended the run (with its `work`: source and download), by a request delivered again
    after the end (its runner died before the step; a request that comes while the step is under way waits for
    the lock and finds nothing left), and by the sweep (`wait` false: a run whose lock is held is its holder's).
    Best-effort: the run's outcome stands; a step not recorded as done stays for the next of them."""
    run = {"run": request.aggregate_id}
    try:
        async with deps.ledger.transaction() as tx:
            state = await deps.ledger.load(tx, request) if wait else await deps.ledger.try_load(tx, request)
            pending = None if state is None else await deps.ledger.pending_archive(tx, request)
            if state is None or pending is None:
                return
            if work is None:
                log.info("archive step left by a runner that died; carrying it out", extra=run)
            entry = await archive(deps, request, pending, work)
            if state.attempt is not None:
                logged = Log(state.attempt.number, deps.clock(), (entry,), after_end=True)
                await deps.ledger.record(tx, state, decide(state, logged))
            await deps.ledger.drop_archive(tx, request)
    except Exception as exc:
        log.warning("archive step not recorded as done; it is tried again later", extra={**run, "error": str(exc)})


async def finish_left_archives(deps: RunDeps) -> int:
    """The reaper's sweep: carry out the archive steps kept over `LEFT_ARCHIVE_AFTER_S` ago and still there. A
    runner that died after a run's end and before its archive step leaves it to the request delivered again, but
    none comes for a run the retry poller ended (its request was committed long before). Returns how many steps
    it looked at."""
    before = deps.clock() - timedelta(seconds=LEFT_ARCHIVE_AFTER_S)
    left = await deps.ledger.left_archives(before, ARCHIVE_BATCH)
    for request in left:
        await _finish_archive(request, deps, wait=False)
    return len(left)


async def _end(deps: RunDeps, origin: RunOrigin, command: Fail | Stop, journal: Journal) -> RunState:
    """Record the attempt's failure or stop (its log entries so far, ledger row and terminal event, or the
    failed attempt, in one transaction); the target was not changed. A run that already ended keeps its end."""
    with journal.taking() as entries:
        async with deps.ledger.transaction() as tx:
            state = await deps.ledger.load(tx, origin)
            return await _record_end(deps.ledger, tx, origin, state, command, entries)


async def _record_end(
    ledger: RunLedger[Tx],
    tx: Tx,
    origin: RunOrigin,
    state: RunState,
    command: Fail | Stop,
    entries: Sequence[LogEntry] = (),
) -> RunState:
    """The attempt's log entries not yet recorded, then its end."""
    if command.attempt is not None:
        state = await ledger.record(tx, state, decide(state, Log(command.attempt, command.now, tuple(entries))))
    decision = decide(state, command)
    state = await ledger.record(tx, state, decision)
    _log_end(origin, state, decision)
    return state


def _log_end(origin: RunOrigin, state: RunState, decision: Decision) -> None:
    run = {"run": origin.aggregate_id}
    match decision.events:
        case () if state.terminal is None:
            log.warning("attempt superseded; a newer attempt has the run", extra=run)
        case ():
            log.info("run had already ended", extra={**run, "status": str(state.status)})
        case (RunAttemptFailed(payload=failed),):
            log.warning(
                "attempt failed; the run tries again", extra={**run, "attempt": failed.attempt, "error": failed.error}
            )
        case (RunFailed(payload=failed),):
            log.info("run failed", extra={**run, "code": failed.code, "error": failed.error})
        case (RunStopped(payload=stopped),):
            log.info("run stopped", extra={**run, "rows_read": stopped.counts.rows_read})


async def fail_unreadable(request: UnreadableRequest, deps: RunDeps) -> RunEvent:
    """End the run of a request this runner cannot decode (RunFailed, INTERNAL, with the reason), once: the
    ledger row makes a redelivered request return the stored event. No attempt began, so no RunStarted."""
    now = deps.clock()
    fail = Fail(None, now, RunCounts(), "INTERNAL", request.error, now)
    state = await _end(deps, request, fail, Journal(request.aggregate_id))
    log.error("run request unreadable", extra={"run": request.aggregate_id, "error": request.error})
    assert state.terminal is not None, "a failure that is not transient ends the run"
    return state.terminal


async def record_stop(ledger: RunLedger[Tx], tx: Tx, request: RunStopRequested) -> None:
    """Keep a user's stop request for the run to see (inside the stop consumer's transaction, never waiting for
    the run's lock). A run that already ended keeps its end: a stop that comes after the final commit changes
    nothing."""
    ended = await ledger.record_stop(tx, request)
    run = {"run": request.aggregate_id, "actor": request.actor}
    if ended is None:
        log.info("stop recorded", extra=run)
    elif isinstance(ended, RunSucceeded):
        log.info("stop arrived after the load committed; the run stays succeeded", extra=run)
    else:
        log.info("stop arrived after the run ended", extra={**run, "status": ended.type})


async def reap_lost_runs(deps: RunDeps) -> list[RunEvent]:
    """End the runs whose latest attempt gave no sign of life for `abandon_after_s` (RunFailed, RUNNER_LOST):
    its runner died and no other took the run up again. Runs whose lock is held are skipped: their owner is
    busy (a long final commit ticks no heartbeat). Then finish the archive steps dying runners left
    (`finish_left_archives`). Returns the events recorded."""
    now = deps.clock()
    abandon_after = timedelta(seconds=deps.abandon_after_s)
    ended: list[RunEvent] = []
    for origin in await deps.ledger.silent(now - abandon_after, REAP_BATCH):
        async with deps.ledger.transaction() as tx:
            state = await deps.ledger.try_load(tx, origin)
            if state is None:
                continue
            decision = decide(state, Reap(now, abandon_after))
            state = await deps.ledger.record(tx, state, decision)
        if decision.events and isinstance(state.terminal, RunFailed):
            log.warning("run lost; failed", extra={"run": origin.aggregate_id, "error": state.terminal.payload.error})
            ended.append(state.terminal)
    await finish_left_archives(deps)
    return ended


async def table_defined(conn: Conn, event: Event) -> None:
    """Create a newly defined table right away, so it exists before its first import."""
    if isinstance(event, TableDefined):
        await ensure_table(conn, event.payload.table)


async def list_defined(conn: Conn, event: Event) -> None:
    """Create a newly defined list (schema, table and indexes) right away."""
    if isinstance(event, ListDefined):
        await ensure_list(conn, event.payload.list)


async def pet_defined(conn: Conn, event: Event) -> None:
    """Create a newly defined PET right away (and its list, if its definition has not arrived yet)."""
    if isinstance(event, PetDefined):
        await ensure_pet(conn, event.payload.pet)


async def list_column_added(conn: Conn, event: Event) -> None:
    """Add the new column to the list's table."""
    if isinstance(event, ListColumnAdded):
        await add_list_column(conn, event.payload.name, event.payload.column)


async def pet_column_added(conn: Conn, event: Event) -> None:
    """Add the new column to the PET's table."""
    if isinstance(event, PetColumnAdded):
        await add_pet_column(conn, event.payload.name, event.payload.column)


TABLE_HANDLERS: dict[type[Event], Callable[[Conn, Event], Awaitable[None]]] = {
    TableDefined: table_defined,
    ListDefined: list_defined,
    PetDefined: pet_defined,
    ListColumnAdded: list_column_added,
    PetColumnAdded: pet_column_added,
}
