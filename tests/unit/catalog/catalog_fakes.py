"""An in-memory read model with the same semantics as the PostgreSQL adapter's statements."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from connect_catalog.domain.changes import (
    Change,
    EndRun,
    InsertJob,
    InsertRun,
    LogLine,
    MarkJobDeleted,
    RecordCommandOutcome,
    RecordHistory,
    RecordProgress,
    SetJobState,
    SetLastRun,
    SetNextRun,
    StartAttempt,
    UpdateJobDefinition,
    UpsertTable,
)
from connect_catalog.domain.views import JobView, RunView, Snapshot, Subject
from connect_events import RunStatus


@dataclass
class InMemoryReadModel:
    processed: set[UUID] = field(default_factory=set)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    log: list[LogLine] = field(default_factory=list)
    commands: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    next_runs: dict[int, tuple[datetime | None, datetime]] = field(default_factory=dict)
    history: dict[tuple[int, int], RecordHistory] = field(default_factory=dict)

    async def mark_processed(self, event_id: UUID) -> bool:
        if event_id in self.processed:
            return False
        self.processed.add(event_id)
        return True

    async def load(self, subject: Subject) -> Snapshot:
        job = self.jobs.get(subject.job_id) if subject.job_id is not None else None
        run = self.runs.get(subject.run) if subject.run is not None else None
        return Snapshot(
            job=None if job is None else JobView(job["version"], json.loads(job["definition_json"])),
            run=None if run is None else RunView(RunStatus(run["status"]), run["attempt"]),
        )

    async def apply(self, changes: Sequence[Change]) -> None:
        for change in changes:
            self._apply(change)

    def _apply(self, change: Change) -> None:
        match change:
            case InsertJob():
                last = max((r for j, r in self.runs if j == change.job_id), default=None)
                latest = {} if last is None else self.runs[(change.job_id, last)]
                self.jobs.setdefault(
                    change.job_id,
                    {
                        **asdict(change.fields),
                        "state": "inactive",
                        "version": change.version,
                        "created_at": change.at,
                        "created_by": change.by,
                        "updated_at": change.at,
                        "updated_by": change.by,
                        "deleted": False,
                        "deleted_reason": None,
                        "last_run_id": last,
                        "previous_run_at": latest.get("scheduled_for") or latest.get("requested_at"),
                        "copied_from": change.copied_from,
                    },
                )
            case UpdateJobDefinition():
                self._update_job(
                    change.job_id,
                    **asdict(change.fields),
                    version=change.version,
                    updated_at=change.at,
                    updated_by=change.by,
                )
            case SetJobState():
                self._update_job(
                    change.job_id,
                    state=change.state,
                    version=change.version,
                    updated_at=change.at,
                    updated_by=change.by,
                )
            case MarkJobDeleted():
                self._update_job(
                    change.job_id,
                    deleted=True,
                    deleted_reason=change.reason,
                    version=change.version,
                    updated_at=change.at,
                    updated_by=change.by,
                )
            case SetLastRun():
                job = self.jobs.get(change.job_id)
                if job is not None and (job["last_run_id"] is None or job["last_run_id"] < change.run_id):
                    job.update(last_run_id=change.run_id, previous_run_at=change.requested_for)
            case SetNextRun():
                known = self.next_runs.get(change.job_id)
                if known is None or known[1] <= change.as_of:
                    self.next_runs[change.job_id] = (change.next_run_at, change.as_of)
            case RecordHistory():
                self.history.setdefault((change.job_id, change.version), change)
            case UpsertTable():
                self.tables[change.name] = {"spec": change.spec_json, "at": change.at, "by": change.by}
            case InsertRun():
                self.runs.setdefault(
                    (change.job_id, change.run_id),
                    {
                        "job_name": change.job_name,
                        "status": change.status.value,
                        "trigger": change.trigger,
                        "attempt": 0,
                        "requested_at": change.requested_at,
                        "scheduled_for": change.scheduled_for,
                        "rows_read": 0,
                    },
                )
            case StartAttempt():
                self._update_run(
                    change,
                    status="running",
                    attempt=change.attempt,
                    runner=change.runner,
                    started_at=change.started_at,
                    rows_read=0,
                )
            case RecordProgress():
                self._update_run(change, rows_read=change.rows_read, stage=change.stage)
            case EndRun():
                self._update_run(
                    change,
                    status=change.status.value,
                    rows_read=change.counts.rows_read,
                    started_at=change.started_at,
                    duration_ms=change.duration_ms,
                )
            case LogLine():
                self.log.append(change)
            case RecordCommandOutcome():
                self.commands.setdefault(change.command_id, asdict(change))

    def _update_job(self, job_id: int, **values: Any) -> None:
        if job_id in self.jobs:
            self.jobs[job_id].update(values)

    def _update_run(self, change: StartAttempt | RecordProgress | EndRun, **values: Any) -> None:
        if (run := self.runs.get((change.job_id, change.run_id))) is not None:
            run.update(values)
