"""What the runner's use cases need from the outside, and `RunDeps`, which `bootstrap` fills with the real ones.

The run ledger's PostgreSQL adapter (`adapters/ledger.py`) and the in-memory fake of the unit tests keep one
contract (`tests/unit/runner/ledger_contract.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar
from uuid import UUID

import asyncpg

from connect_events import FileRules, RunRequested, RunStopRequested
from connect_runner.domain.events import Origin, RunOrigin
from connect_runner.domain.feed_manifest import FetchedDelivery, Granularity
from connect_runner.domain.file_pattern import FilePattern
from connect_runner.domain.run import Decision, RunState, Terminal
from connect_runner.domain.source_files import Checkpoint, FetchedFile, PendingArchive, Progress, Source
from connect_runner.progress import PROGRESS_INTERVAL_S
from connect_runtime.db import Conn
from connect_runtime.vault import Credential

Tx = TypeVar("Tx")


class LedgerConflictError(Exception):
    """A decision was recorded on a state that is no longer the run's (it was not loaded under the run's lock
    in this transaction): nothing of it is stored."""


class RunLedger(Protocol[Tx]):
    """Where the runner keeps each run: its attempts (the latest, and how many failed), versions, heartbeat,
    the time of the next attempt while it waits for one, the request the retry poller begins attempts from,
    stop request and terminal event.

    Every change of the run's state happens in a transaction that holds the run's lock, so other attempts and
    the reaper queue behind it: this is why a run ends exactly once. A stop request is kept without the lock
    (a final commit may hold it for minutes): the final commit reads the stop again under the lock, so a stop
    kept before that read wins and one kept after it changes nothing.
    """

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction: what is recorded in it (and the caller's own writes in it) commits at its end, or
        nothing does; the run locks it took are released then."""

    async def load(self, tx: Tx, origin: RunOrigin) -> RunState:
        """Take the run's lock for the rest of the transaction (waiting for whoever holds it), then read it."""

    async def try_load(self, tx: Tx, origin: RunOrigin) -> RunState | None:
        """`load`, or None at once when another transaction holds the run's lock (its owner is busy)."""

    async def record(self, tx: Tx, state: RunState, decision: Decision) -> RunState:
        """Store `decision`, taken on `state` as loaded in `tx`: its events (queued for publishing), the run's
        next version, attempt, failed attempts, next attempt's time and heartbeat, and the ledger row of a
        terminal event. Returns the new state."""

    async def record_stop(self, tx: Tx, request: RunStopRequested) -> Terminal | None:
        """Note that the run was asked to stop, at once (never waiting for the run's lock). When it had already
        ended, nothing changes and its terminal event is returned."""

    async def silent(self, since: datetime, limit: int) -> list[Origin]:
        """Up to `limit` runs that have not ended, do not wait for their next attempt, and whose latest attempt
        gave no sign of life since `since`, the longest silent first."""

    async def keep_request(self, tx: Tx, request: RunRequested) -> None:
        """Keep the request of a run that began an attempt, for the retry poller: once the run waits for its
        next attempt the request's offset is committed, and every later attempt begins from this copy. It goes
        when the run ends."""

    async def claim_retries(self, tx: Tx, now: datetime, resume_after: timedelta, limit: int) -> list[RunRequested]:
        """Up to `limit` runs the retry poller takes up at `now` (`domain.run.next_attempt_at` has come, and
        their request is kept), the longest due first, with their requests. Each run's lock is this transaction's
        until it ends; runs another transaction holds are passed over, never waited for, so runners polling at
        once take up different runs."""

    async def stopped_waits(self, limit: int) -> list[RunRequested]:
        """The kept requests of up to `limit` runs that wait for their next attempt and were asked to stop,
        the earliest stop first (read without any lock)."""

    async def keep_archive(self, tx: Tx, request: RunRequested, pending: PendingArchive, kept_at: datetime) -> None:
        """Keep the archive step due after the run's end, with the run's request, in the transaction that ends
        it. A run ends once: a step kept again changes nothing."""

    async def pending_archive(self, tx: Tx, origin: RunOrigin) -> PendingArchive | None:
        """The archive step the run's end left undone, if any. Read it holding the run's lock (`load`) and drop
        it in the same transaction, so the step is carried out by one holder of the lock at a time."""

    async def drop_archive(self, tx: Tx, origin: RunOrigin) -> None:
        """The archive step was carried out (or gave up with a warning): forget it."""

    async def left_archives(self, before: datetime, limit: int) -> list[RunRequested]:
        """The requests of up to `limit` runs whose archive step was kept before `before` and is still there,
        the oldest first (read without any lock), for the sweep that finishes steps no request brings back."""


class CredentialReader(Protocol):
    """The vault, as the runner uses it."""

    async def read(self, credential_id: UUID) -> Credential:
        """Decrypt one credential."""


class Sink(Protocol):
    """A file being written; failures are `RunFailure`s naming it."""

    async def write(self, data: bytes) -> None:
        """Append `data`."""

    async def close(self) -> None:
        """Finish the file (everything written is stored)."""


class Destination(Protocol):
    """Where an export writes, over one session (an external SFTP server, or the hosted tree); paths are named as
    the job names them, and every failure is a `RunFailure` naming the path."""

    async def create(self, path: str) -> Sink:
        """Open `path` for writing, empty (replacing a file of that name)."""

    async def rename(self, path: str, target: str) -> None:
        """Rename `path` to `target`, replacing a file of that name."""

    async def remove(self, path: str) -> None:
        """Remove `path`; nothing happens when it is not there."""


class FileFetcher(Protocol):
    """Where source files come from and export files go: external SFTP servers and the hosted file tree."""

    def destination(self, source: Source, path: str) -> AbstractAsyncContextManager[Destination]:
        """A session writing files at `source`'s location (a failure to open it names `path`)."""

    async def fetch(
        self,
        source: Source,
        pattern: FilePattern,
        rules: FileRules,
        work_dir: Path,
        stem: str,
        progress: Progress,
        checkpoint: Checkpoint,
    ) -> FetchedFile:
        """Wait for the ready file when `rules` ask for one (up to their timeout, calling `checkpoint` between
        looks), resolve `pattern`, copy the file into `work_dir` (named after `stem`) hashing it on the way, and
        read its count file when `rules` ask for one."""

    async def archive(self, source: Source, fetched: FetchedFile, folder: str, prefix: str, *, move: bool) -> str:
        """Move (or, with `move` false, copy) the file and its companions into `folder`, each named `prefix` +
        its own name; returns the data file's new path as the job would name it."""


class DeliveryFetcher(Protocol):
    """Where analytics feed deliveries come from: external SFTP servers."""

    async def fetch_delivery(
        self,
        source: Source,
        folder: str,
        rsid: str,
        granularity: Granularity,
        processed: Mapping[str, str],
        work_dir: Path,
    ) -> FetchedDelivery | None:
        """The oldest complete analytics feed delivery in `folder` the job has not processed (`processed`:
        delivery key → identity of the version processed), downloaded into its own folder under `work_dir`;
        None when there is none."""


class Files(FileFetcher, DeliveryFetcher, Protocol):
    """Everything a runner reads and writes files with (`adapters.sources.Sources`)."""


MAX_ATTEMPTS = 3
RUN_TIMEOUT_S = 3600.0
LOCK_TIMEOUT_S = 60.0
ABANDON_AFTER_S = 600.0
# A running attempt beats every second; one the retry poller began and that stays silent this long died (a long
# final commit holds the run's lock, which the poller never waits for). Beats can stall while the database is away
# (the attempt goes on with its transfer) or look older than they are on a host whose clock runs ahead, so the
# poller waits half the abandon time, not seconds, before it begins the run again.
RESUME_AFTER_S = ABANDON_AFTER_S / 2


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunDeps:
    """What the run use cases need; `bootstrap` builds the real ones, tests may swap any.

    `resume_after_s`: how long an attempt the retry poller began may stay silent before the poller begins
    another (its runner died, and the run's request is committed: nothing else would redo it)."""

    pool: asyncpg.Pool
    ledger: RunLedger[Conn]
    vault: CredentialReader
    files: Files
    work_dir: Path
    runner: str
    clock: Callable[[], datetime] = field(default=_utc_now)
    progress_interval_s: float = PROGRESS_INTERVAL_S
    work_mem: str = "256MB"
    max_attempts: int = MAX_ATTEMPTS
    run_timeout_s: float = RUN_TIMEOUT_S
    lock_timeout_s: float = LOCK_TIMEOUT_S
    abandon_after_s: float = ABANDON_AFTER_S
    resume_after_s: float = RESUME_AFTER_S
    api_backoff_s: float = 1.0  # a marketing API's first wait after a busy answer (then doubling)
