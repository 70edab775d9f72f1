"""An analytics feed import's attempt (spec §6, ADR 0013): the complete deliveries the job has not loaded yet,
oldest first, each downloaded and verified against its manifest before a hit is read (`prepare_feed`); their hits
staged together, checked and written like a custom-table import's rows, then each delivery reconciled with its
manifest and remembered inside the final transaction (`write_feed`). A delivery that fails anything fails the
run: nothing is written, nothing is remembered, no file moves on the server, and the next run tries again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial

from connect_events import (
    FEED_LOOKUPS,
    ImportAnalyticsFeed,
    ImportCustomTable,
    ImportProfileData,
    PetImport,
    RunCounts,
    RunRequested,
    reject_details,
)
from connect_runner.adapters.csv_source import StagedRecord
from connect_runner.adapters.feed_deliveries import processed, remember
from connect_runner.adapters.feed_files import FeedFileError, Lookups, read_lookups, verify
from connect_runner.adapters.feed_source import FeedSource, raw_hits
from connect_runner.adapters.profile_load import Duplicates, remove_duplicate_keys
from connect_runner.adapters.staging import (
    find_rejects,
    gather_statistics,
    prepare_session,
    reject_invalid,
    stage_records,
)
from connect_runner.domain.events import LogEntry
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.feed_counts import filtered_message, tally
from connect_runner.domain.feed_hits import HitFilter
from connect_runner.domain.feed_manifest import FetchedDelivery, Granularity, ManifestError
from connect_runner.domain.limits import limit_failure
from connect_runner.domain.plan import LoadPlan
from connect_runner.domain.profile_plan import ProfilePlan
from connect_runner.domain.profile_statements import ProfileSteps
from connect_runner.domain.rejects import RejectReason, combine
from connect_runner.domain.statements import Staging
from connect_runner.domain.value_formats import BatchReader
from connect_runner.pipeline import (
    Checkpoint,
    LimitExceededError,
    Prepared,
    Rejects,
    Work,
    download_stem,
    ensure_target,
    load_steps,
    loaded_entries,
    log_duplicates,
    rejects_message,
    source_of,
    target_plan,
    write_load,
)
from connect_runner.ports import RunDeps
from connect_runner.progress import Journal
from connect_runtime.db import Conn

# A run loads at most this many deliveries (two days of hourly ones); the next run goes on with the rest.
MAX_DELIVERIES_PER_RUN = 48


def feed_settings(request: RunRequested) -> ImportAnalyticsFeed:
    """The request's analytics feed settings."""
    settings = request.payload.definition.settings
    if isinstance(settings, ImportAnalyticsFeed):
        return settings
    raise RunFailure("INTERNAL", f"job {request.payload.job_id} is not an analytics feed import")


def profile_import(settings: ImportAnalyticsFeed, list_name: str) -> ImportProfileData:
    """The profile import that writes a feed's hits into its PET: the profile found by the match column (never
    inserted nor changed), the other mapped columns into the PET."""
    assert settings.pet is not None, "a feed into a PET"
    match = settings.match_column.lower()
    return ImportProfileData(
        source=settings.source,
        list_name=list_name,
        mapping=tuple(m for m in settings.mapping if m.target.lower() == match),
        pets=(PetImport(pet=settings.pet, mapping=tuple(m for m in settings.mapping if m.target.lower() != match)),),
        match_column_1=settings.match_column,
        insert_on_no_match=False,
        update_on_match=False,
        truncate_long_text=settings.truncate_long_text,
        limits=settings.limits,
    )


def table_import(settings: ImportAnalyticsFeed) -> ImportCustomTable:
    """The custom-table import that writes the feed's rows: the same table, mapping, write mode and limits."""
    return ImportCustomTable(
        source=settings.source,
        table=settings.table,
        mapping=settings.mapping,
        write_mode=settings.write_mode,
        insert_on_no_match=settings.insert_on_no_match,
        update_on_match=settings.update_on_match,
        truncate_long_text=settings.truncate_long_text,
        limits=settings.limits,
    )


@dataclass
class Loading:
    """A delivery of the run: what was downloaded, and its hits' reader."""

    fetched: FetchedDelivery
    source: FeedSource

    @property
    def total(self) -> int | None:
        return None if self.fetched.manifest is None else self.fetched.manifest.total_records


@dataclass
class PreparedFeed:
    """The run's deliveries, staged and checked (`prepared` None: there was no new delivery)."""

    deliveries: list[Loading]
    prepared: Prepared | None = None
    filtered: Counter[str] = field(default_factory=Counter)

    @property
    def counts_so_far(self) -> RunCounts:
        """What was read, for a run that ends without loading."""
        read = sum(d.source.rows_read for d in self.deliveries)
        size = self.prepared.size if self.prepared is not None else 0
        return RunCounts(rows_read=read, filtered=self.filtered.total(), bytes_transferred=size)


async def prepare_feed(
    request: RunRequested, staging: Staging, deps: RunDeps, work: Work, checkpoint: Checkpoint
) -> PreparedFeed:
    """Download and verify the new deliveries, stage their hits, find the rejects and check the job's limits;
    `checkpoint` after each stage."""
    settings, journal, tracker = feed_settings(request), work.journal, work.tracker
    work.source = await source_of(deps.vault, settings.source, work.secrets)
    deliveries = await _deliveries(request, settings, staging, deps, work, checkpoint)
    if not deliveries:
        message = f"no new complete delivery of report suite {settings.report_suite} in '{settings.source.path}'"
        journal.add("no_delivery", message)
        return PreparedFeed([])
    size = sum((d.fetched.folder / name).stat().st_size for d in deliveries for name in d.fetched.files)
    tracker.transferred(size, size)
    loading = _loading(settings, request, deliveries)
    plan = loading.plans[0]
    async with deps.pool.acquire() as conn:
        if not request.payload.dry_run:
            await ensure_target(conn, request)
        await prepare_session(conn, deps.work_mem)
        read = partial(_read_so_far, deliveries)
        hits = _hits(deliveries, loading.plans, loading.rules)
        await stage_records(conn, staging, plan, hits, lambda: tracker.loading(read()))
        feed = PreparedFeed(deliveries, filtered=sum((d.source.filtered for d in deliveries), Counter()))
        tracker.loading(read())
        _log_read(journal, feed)
        await checkpoint()
        sources = [d.source.rejects for d in deliveries]
        duplicates = Duplicates()
        if isinstance(loading.target, ProfilePlan):
            found = combine(*sources, await reject_invalid(conn, staging, plan))
            duplicates = await remove_duplicate_keys(conn, staging, loading.target)
        else:
            found = combine(*sources, await find_rejects(conn, staging, plan))
        by_reason = reject_details(found.values())
        journal.add("validated", rejects_message(found.values()), level="INFO", rejected=len(found), **by_reason)
        log_duplicates(journal, duplicates)
        candidates = read() - feed.filtered.total()
        exceeded = limit_failure(settings.limits, candidates, len(found))
        steps = load_steps(staging, loading.target, loading.settings)
        if (isinstance(steps, ProfileSteps) or steps.joins_target) and exceeded is None:
            await gather_statistics(conn, staging)
    locate = partial(_located, deliveries)
    rejects = await locate(found.items())
    if exceeded is not None:
        raise LimitExceededError(exceeded, rejects)
    await checkpoint()
    reasons, raw = dict(rejects.reasons), dict(rejects.raw)
    feed.prepared = Prepared(loading.settings, plan, staging, size, candidates, reasons, raw, steps, locate, duplicates)
    return feed


@dataclass(frozen=True)
class _Load:
    """How the deliveries load: the import whose write rules apply, the staged plan of each delivery (their column
    orders may differ), the target's plan, and the profile rules a PET's hits are read by."""

    settings: ImportCustomTable | ImportProfileData
    plans: list[LoadPlan]
    target: LoadPlan | ProfilePlan
    rules: BatchReader | None = None


def _loading(settings: ImportAnalyticsFeed, request: RunRequested, deliveries: list[Loading]) -> _Load:
    """Each delivery's mapping resolved against its own `column_headers.tsv` as a file import's is
    (`target_plan`): onto the custom table, or onto the PET's list (the match column) and the PET."""
    payload = request.payload
    written: ImportCustomTable | ImportProfileData = table_import(settings)
    if settings.pet is not None:
        if payload.list is None or not payload.pets:
            raise RunFailure("LOAD_FAILED", f"the run's request lacks the definition of PET '{settings.pet}'")
        written = profile_import(settings, payload.list.name)
    targets = [target_plan(d.source, written, payload) for d in deliveries]
    plans = [t.staged if isinstance(t, ProfilePlan) else t for t, _ in targets]
    return _Load(written, plans, *targets[0])


async def _deliveries(
    request: RunRequested,
    settings: ImportAnalyticsFeed,
    staging: Staging,
    deps: RunDeps,
    work: Work,
    checkpoint: Checkpoint,
) -> list[Loading]:
    """The new complete deliveries, oldest first, each downloaded and verified; a hit filter and a reader each."""
    assert work.source is not None, "the source is read first"
    done = await processed(deps.pool, request.payload.job_id)
    where, folder = settings.source.path, deps.work_dir / f"{download_stem(staging)}.feed"
    rsid, granularity = settings.report_suite, Granularity(settings.granularity)
    hit_filter = HitFilter(drop_data_sources=settings.drop_data_source_hits)
    from_lookups = {column: FEED_LOOKUPS[column] for column in settings.labels if column in FEED_LOOKUPS}
    needed = _match_source(settings)
    found: list[Loading] = []
    while len(found) < MAX_DELIVERIES_PER_RUN:
        try:
            fetched = await deps.files.fetch_delivery(work.source, where, rsid, granularity, done, folder)
        except ManifestError as exc:
            raise RunFailure("FILE_INVALID", f"the manifest cannot be trusted: {exc}; nothing was loaded") from exc
        if fetched is None:
            break
        _log_found(work.journal, fetched)
        lookups = await asyncio.to_thread(_checked, fetched, work.journal)
        label = f"delivery {fetched.delivery.key}"
        source = FeedSource(fetched.folder, fetched.parts, lookups, hit_filter, from_lookups, label, needed)
        found.append(Loading(fetched, source))
        done = {**done, fetched.delivery.key: fetched.identity}
        await checkpoint()
    if len(found) == MAX_DELIVERIES_PER_RUN:
        work.journal.add("deliveries", f"{MAX_DELIVERIES_PER_RUN} deliveries this run; the next run goes on")
    return found


def _match_source(settings: ImportAnalyticsFeed) -> str | None:
    """The feed column a PET's hits find their profile by (a hit without it is filtered); None for a table."""
    if settings.pet is None:
        return None
    match = settings.match_column.lower()
    return next((m.source for m in settings.mapping if m.target.lower() == match), None)


def _checked(fetched: FetchedDelivery, journal: Journal) -> Lookups:
    """Every file checked against the manifest (a `.fin` delivery has none to check against), then the lookup
    archive read; any problem fails the run naming the delivery and the file."""
    key = fetched.delivery.key
    try:
        if fetched.manifest is not None:
            checked = verify(fetched.folder, fetched.manifest)
            message = f"delivery {key}: {len(checked)} files match the manifest's sizes and MD5 digests"
            journal.add("verified", message, files=len(checked), detail="; ".join(checked))
        else:
            message = f"delivery {key} is marked complete by a .fin file, which lists no sizes or digests to check"
            journal.add("verified", message, level="WARN", files=len(fetched.files))
        if not fetched.lookups:
            raise FeedFileError("the delivery has no lookup archive (it holds column_headers.tsv)")
        if not fetched.parts:
            raise FeedFileError("the delivery has no data file")
        return read_lookups(fetched.folder / fetched.lookups[0])
    except FeedFileError as exc:
        raise RunFailure("FILE_INVALID", f"delivery {key}: {exc}; nothing was loaded") from exc


def _log_found(journal: Journal, fetched: FetchedDelivery) -> None:
    key, marker = fetched.delivery.key, fetched.delivery.marker
    message = f"delivery {key} found ({marker}, {len(fetched.files)} files)"
    if fetched.replaces:
        message += "; it was delivered again with another manifest and replaces the version loaded before"
    journal.add("delivery_found", message, delivery=key, files=len(fetched.files))


def _hits(deliveries: list[Loading], plans: list[LoadPlan], rules: BatchReader | None) -> Iterator[list[StagedRecord]]:
    """Every delivery's hits, in order, each through its own plan (their column orders may differ) and numbered
    on from the one before; a file that breaks while read fails the run."""
    first = 1
    for loading, plan in zip(deliveries, plans, strict=True):
        loading.source.first = first
        try:
            yield from loading.source.batches(plan, rules)
        except FeedFileError as exc:
            message = f"delivery {loading.fetched.delivery.key}: {exc}; nothing was loaded"
            raise RunFailure("FILE_INVALID", message) from exc
        first += loading.source.rows_read


def _read_so_far(deliveries: list[Loading]) -> int:
    return sum(d.source.rows_read for d in deliveries)


def _log_read(journal: Journal, feed: PreparedFeed) -> None:
    """Hits read per file, then those filtered by reason."""
    for loading in feed.deliveries:
        source = loading.source
        starts = source.part_starts
        ends = [start - 1 for _, start in starts[1:]] + [source.first + source.rows_read - 1]
        for (name, start), end in zip(starts, ends, strict=True):
            count = end - start + 1
            message = f"read {count:,} hits from {name} (hits {start:,}-{end:,} of the run)"
            journal.add("read", message, file=name, hits=count)
    details = {f"filtered:{reason}": count for reason, count in sorted(feed.filtered.items())}
    journal.add("filtered", filtered_message(feed.filtered), level="INFO", filtered=feed.filtered.total(), **details)


async def _located(deliveries: list[Loading], found: Iterable[tuple[int, str]]) -> Rejects:
    """Rejects by hit number with each hit's text (a second pass over the deliveries holding any)."""
    reasons = {number: RejectReason(reason) for number, reason in found}
    raw: dict[int, str] = {}
    for loading in deliveries:
        source = loading.source
        wanted = {n for n in reasons if source.first <= n < source.first + source.rows_read}
        if wanted:
            columns = len(source.columns)
            folder, parts = loading.fetched.folder, loading.fetched.parts
            raw |= await asyncio.to_thread(raw_hits, folder, parts, columns, source.first, wanted)
    return Rejects(reasons, raw)


async def write_feed(
    conn: Conn, request: RunRequested, feed: PreparedFeed, deps: RunDeps, journal: Journal
) -> tuple[RunCounts, list[LogEntry]]:
    """Inside the final transaction: the table's rows and the rejects (`write_load`), each delivery reconciled
    with its manifest (a mismatch rolls it all back) and remembered as loaded; the run's counters count the
    filtered hits among those read."""
    if feed.prepared is None:
        return RunCounts(), []
    loaded = await write_load(conn, request, feed.prepared, deps)
    dry_run = request.payload.dry_run
    entries = loaded_entries(journal, loaded, dry_run=dry_run)
    for loading in feed.deliveries:
        source, fetched = loading.source, loading.fetched
        key = fetched.delivery.key
        counted = tally(key, loading.total, source.first, source.rows_read, source.filtered, loaded.rejected)
        entries.append(journal.entry("reconciled", counted.reconciled(), delivery=counted.key, loaded=counted.loaded))
        if not dry_run:
            earlier = await remember(
                conn, request.payload.job_id, request.payload.run_id, fetched.delivery.key, fetched.identity
            )
            if earlier is not None and earlier != fetched.identity:
                message = f"delivery {fetched.delivery.key} loaded again: its manifest changed since it was loaded"
                entries.append(journal.entry("redelivered", message, level="WARN", delivery=fetched.delivery.key))
    filtered = feed.filtered.total()
    counts = loaded.counts.model_copy(update={"rows_read": loaded.counts.rows_read + filtered, "filtered": filtered})
    return counts, entries
