"""An export to a marketing API (spec §5.3, ADR 0012): the rows of a list or an audience, read with a cursor in
one read-only snapshot and formatted as the file exports write them (every value a string, NULL as empty), are
merged into the remote list 200 a call (`adapters.marketing_api`). The records the API refuses
(`MERGEFAILED: Record <i> = <CODE>: …`) become the run's rejects, numbered by record (1 is the first row), with
the record as CSV text; they are kept in the transaction that ends the run.

Records the API merged stay merged: a run stopped or failed midway says how many went, and a run tried again
sends every record again (a merge of the same record is idempotent on the remote list)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from connect_events import ExportApi, RunCounts, RunRequested, reject_details
from connect_runner.adapters.marketing_api import BATCH, Backoff, MarketingApi
from connect_runner.domain.export_select import OutputFormat
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.source_files import Checkpoint
from connect_runner.exporting import MARK_SQL, read_snapshot, selection_for
from connect_runner.pipeline import credential
from connect_runner.ports import RunDeps
from connect_runner.progress import Journal, Tracker
from connect_runner.run_failures import Secrets

MAX_BODY_BYTES = 10 * 1000 * 1000  # the API's most bytes in one request (spec §5.3), with room to spare
BODY_OVERHEAD = 64 * 1024  # field names, merge rule, brackets
# Every column is formatted to text by the SELECT; the qualifier only matters to a file.
TEXT_VALUES = OutputFormat(delimiter=",", qualifier='"', quote_always=False, header=False, escape_formulas=False)


def api_settings(request: RunRequested) -> ExportApi:
    """The request's marketing-API export settings."""
    settings = request.payload.definition.settings
    if not isinstance(settings, ExportApi):
        raise RunFailure("INTERNAL", f"job {request.payload.job_id} is not an export to a marketing API")
    return settings


@dataclass
class Pushed:
    """What the push did: rows sent, rejects by record number (the API's code) with the record as CSV text, the
    calls made, and where the next incremental export starts."""

    rows: int = 0
    rejects: dict[int, str] = field(default_factory=dict)
    raw: dict[int, str] = field(default_factory=dict)
    calls: int = 0
    mark: datetime | None = None

    @property
    def counts(self) -> RunCounts:
        """Rows sent, and the rejected ones among them."""
        return RunCounts(rows_read=self.rows, rejected=len(self.rejects))

    @property
    def merged(self) -> int:
        return self.rows - len(self.rejects)


async def push_export(
    request: RunRequested, deps: RunDeps, journal: Journal, tracker: Tracker, secrets: Secrets,
    checkpoint: Checkpoint,
) -> Pushed:  # fmt: skip
    """Log in, then read the rows and merge them 200 a call, a stop checked between calls."""
    settings = api_settings(request)
    endpoint = settings.endpoint
    found = secrets.keep(await credential(deps.vault, endpoint.credential_ref))
    if found.kind != "password":
        raise RunFailure("AUTH_FAILED", f"the job's credential {endpoint.credential_ref} is not a password")
    selection = await selection_for(request, settings, deps)
    fields = [column.name for column in selection.columns]
    pushed = Pushed()
    async with httpx.AsyncClient(follow_redirects=False) as client:
        api = MarketingApi(client, endpoint, found.secret, backoff=Backoff(first_s=deps.api_backoff_s))
        await api.login()
        journal.add("logged_in", f"logged in to {api.server} as {endpoint.user}")
        try:
            async with read_snapshot(deps.pool) as conn:
                pushed.mark = await conn.fetchval(MARK_SQL)
                batch: list[list[str]] = []
                async for record in conn.cursor(selection.query(TEXT_VALUES), *selection.params, prefetch=BATCH):
                    batch.append(["" if value is None else str(value) for value in record.values()])
                    if len(batch) == BATCH:
                        await _merge(api, settings, fields, batch, pushed, tracker, checkpoint)
                        batch = []
                if batch:
                    await _merge(api, settings, fields, batch, pushed, tracker, checkpoint)
        except BaseException:
            if pushed.rows:
                message = f"{pushed.merged:,} records merged into '{settings.remote_list}' before the run ended stay"
                journal.add("pushed", message, level="WARN", merged=pushed.merged)
            raise
        finally:
            pushed.calls = api.calls
    by_reason = reject_details(pushed.rejects.values())
    journal.add("pushed", _pushed_message(pushed, settings, api.server), level="INFO", rows=pushed.rows,
                merged=pushed.merged, rejected=len(pushed.rejects), calls=pushed.calls, **by_reason)  # fmt: skip
    return pushed


async def _merge(
    api: MarketingApi, settings: ExportApi, fields: list[str], batch: list[list[str]], pushed: Pushed,
    tracker: Tracker, checkpoint: Checkpoint,
) -> None:  # fmt: skip
    """Merge one batch; a batch whose body would pass the API's 10 MB goes in halves (a single record that large
    fails the run, naming it)."""
    if _body_bytes(batch) > MAX_BODY_BYTES:
        if len(batch) == 1:
            message = f"record {pushed.rows + 1:,} is larger than the API takes in one call (10 MB)"
            raise RunFailure("EXPORT_INVALID", message)
        half = len(batch) // 2
        await _merge(api, settings, fields, batch[:half], pushed, tracker, checkpoint)
        await _merge(api, settings, fields, batch[half:], pushed, tracker, checkpoint)
        return
    merged = await api.merge(settings.remote_list, fields, batch, settings.merge)
    for index, result in enumerate(merged.results):
        if isinstance(result, tuple):
            number = pushed.rows + index + 1
            pushed.rejects[number] = result[0]
            pushed.raw[number] = _csv(batch[index])
    pushed.rows += len(batch)
    tracker.exporting(pushed.rows, 0)
    await checkpoint()


def _body_bytes(batch: list[list[str]]) -> int:
    """About the size of the records in the JSON body (each value quoted, escapes counted generously)."""
    return sum(len(value.encode()) * 2 + 3 for record in batch for value in record) + BODY_OVERHEAD


def _csv(values: list[str]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="").writerow(values)
    return text.getvalue()


def _pushed_message(pushed: Pushed, settings: ExportApi, server: str) -> str:
    message = (
        f"merged {pushed.merged:,} of {pushed.rows:,} rows into '{settings.remote_list}' on {server} "
        f"in {pushed.calls:,} calls"
    )
    if pushed.rejects:
        by_code = ", ".join(f"{code} {count:,}" for code, count in sorted(Counter(pushed.rejects.values()).items()))
        message += f"; {len(pushed.rejects):,} rejected: {by_code}"
    return message
