"""An in-memory read model with the same semantics as the PostgreSQL adapter's statements."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from connect_catalog.domain.changes import (
    AddColumn,
    AddGroupRunMember,
    Change,
    Edit,
    EndGroupRun,
    EndRun,
    GroupLogLine,
    InsertGroup,
    InsertGroupRun,
    InsertJob,
    InsertList,
    InsertPet,
    InsertRun,
    LogLine,
    MarkGroupDeleted,
    MarkGroupRunStopRequested,
    MarkJobDeleted,
    MarkRunStopRequested,
    RecordCommandOutcome,
    RecordHistory,
    RecordProgress,
    SetGroupLastRun,
    SetGroupMembers,
    SetJobState,
    SetLastRun,
    SetNextRun,
    StartAttempt,
    UpdateGroupDefinition,
    UpdateJobDefinition,
    UpsertTable,
)
from connect_catalog.domain.views import GroupRunView, GroupView, JobView, RunView, Snapshot, Subject
from connect_events import RunStatus


@dataclass
class InMemoryReadModel:
    processed: set[UUID] = field(default_factory=set)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    pets: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    log: list[LogLine] = field(default_factory=list)
    commands: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    next_runs: dict[int, tuple[datetime | None, datetime]] = field(default_factory=dict)
    history: dict[tuple[int, int], RecordHistory] = field(default_factory=dict)
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    group_members: dict[tuple[int, int], tuple[int, datetime]] = field(default_factory=dict)
    group_runs: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    group_run_members: dict[tuple[int, int, int], tuple[int, int]] = field(default_factory=dict)
    group_log: list[GroupLogLine] = field(default_factory=list)

    def group_of(self, job_id: int) -> int | None:
        """The job's group: its membership stated last (as the gateway's query reads it)."""
        claims = [(as_of, g) for (g, j), (_, as_of) in self.group_members.items() if j == job_id]
        return max(claims)[1] if claims else None

    def members_of(self, group_id: int) -> list[int]:
        """The group's members in running order."""
        rows = sorted((p, j) for (g, j), (p, _) in self.group_members.items() if g == group_id)
        return [j for _, j in rows]

    async def mark_processed(self, event_id: UUID) -> bool:
        if event_id in self.processed:
            return False
        self.processed.add(event_id)
        return True

    async def load(self, subject: Subject) -> Snapshot:
        job = self.jobs.get(subject.job_id) if subject.job_id is not None else None
        run = self.runs.get(subject.run) if subject.run is not None else None
        group = self.groups.get(subject.group_id) if subject.group_id is not None else None
        group_run = self.group_runs.get(subject.group_run) if subject.group_run is not None else None
        return Snapshot(
            job=None if job is None else JobView(job["version"], json.loads(job["definition_json"])),
            run=None
            if run is None
            else RunView(RunStatus(run["status"]), run["attempt"], run["stop_requested"], run["job_type"]),
            group=None if group is None else GroupView(group["version"]),
            group_run=None if group_run is None else GroupRunView(RunStatus(group_run["status"]), group_run["version"]),
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
                        "created_at": change.edit.at,
                        "created_by": change.edit.by,
                        **_edited(change.edit),
                        "deleted": False,
                        "deleted_reason": None,
                        "last_run_id": last,
                        "previous_run_at": latest.get("scheduled_for") or latest.get("requested_at"),
                        "copied_from": change.copied_from,
                    },
                )
            case UpdateJobDefinition():
                self._update_job(change.job_id, **asdict(change.fields), **_edited(change.edit))
            case SetJobState():
                self._update_job(change.job_id, state=change.state, **_edited(change.edit))
            case MarkJobDeleted():
                self._update_job(change.job_id, deleted=True, deleted_reason=change.reason, **_edited(change.edit))
            case SetLastRun():
                job = self.jobs.get(change.job_id)
                if job is not None and (job["last_run_id"] is None or job["last_run_id"] < change.run_id):
                    job.update(last_run_id=change.run_id, previous_run_at=change.requested_for)
            case SetNextRun():
                known = self.next_runs.get(change.job_id)
                if known is None or known[1] <= change.as_of:
                    self.next_runs[change.job_id] = (change.next_run_at, change.as_of)
            case RecordHistory():
                self.history.setdefault((change.job_id, change.edit.version), change)
            case UpsertTable():
                self.tables[change.name] = {"spec": change.spec_json, "at": change.at, "by": change.by}
            case InsertList():
                row = {"columns": json.loads(change.columns_json), "version": 1, "at": change.at, "by": change.by}
                self.lists.setdefault(change.name, row)
            case InsertPet():
                row = {"list_name": change.list_name, "columns": json.loads(change.columns_json), "version": 1}
                self.pets.setdefault(change.name, {**row, "at": change.at, "by": change.by})
            case AddColumn():
                found = (self.lists if change.kind == "list" else self.pets).get(change.name)
                if found is not None and found["version"] < change.version:
                    found["columns"].append(json.loads(change.column_json))
                    found["version"] = change.version
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
                        "stop_requested": False,
                        "job_type": change.job_type,
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
                    started_at=change.span.started_at,
                    duration_ms=change.span.duration_ms,
                )
            case MarkRunStopRequested():
                self._update_run(change, stop_requested=True)
            case LogLine():
                self.log.append(change)
            case RecordCommandOutcome():
                self.commands.setdefault(change.command_id, asdict(change))
            case _:
                self._apply_group(change)

    def _apply_group(self, change: Change) -> None:
        match change:
            case InsertGroup():
                row = {**asdict(change.fields), "version": change.edit.version, "created_by": change.edit.by}
                self.groups.setdefault(change.group_id, {**row, "deleted": False, "last_run_id": None})
            case UpdateGroupDefinition():
                self.groups[change.group_id].update(**asdict(change.fields), version=change.edit.version)
            case MarkGroupDeleted():
                update = {"deleted": True, "deleted_reason": change.reason, "next_run_at": None}
                self.groups[change.group_id].update(update, version=change.edit.version)
            case SetGroupMembers():
                for key in [k for k in self.group_members if k[0] == change.group_id]:
                    del self.group_members[key]
                for position, job_id in enumerate(change.members):
                    self.group_members[(change.group_id, job_id)] = (position, change.as_of)
            case SetGroupLastRun():
                group = self.groups.get(change.group_id)
                if group is not None and (group["last_run_id"] is None or group["last_run_id"] < change.run_id):
                    group.update(last_run_id=change.run_id, previous_run_at=change.requested_for)
                    if change.scheduled:
                        group["next_run_at"] = change.next_run_at
            case InsertGroupRun():
                name = change.group_name or self.groups.get(change.group_id, {}).get("name", "")
                row = {**asdict(change), "group_name": name, "stop_requested": False}
                self.group_runs.setdefault((change.group_id, change.run_id), row)
            case AddGroupRunMember():
                key = (change.group_id, change.run_id)
                self.group_run_members.setdefault((*key, change.position), (change.job_id, change.member_run_id))
                self.group_runs[key]["version"] = change.version
            case MarkGroupRunStopRequested():
                self.group_runs[(change.group_id, change.run_id)].update(stop_requested=True, version=change.version)
            case EndGroupRun():
                ended = {**asdict(change), **asdict(change.span), "status": change.status.value}
                self.group_runs[(change.group_id, change.run_id)].update(ended)
            case GroupLogLine():
                self.group_log.append(change)

    def _update_job(self, job_id: int, **values: Any) -> None:
        if job_id in self.jobs:
            self.jobs[job_id].update(values)

    def _update_run(self, change: StartAttempt | RecordProgress | EndRun | MarkRunStopRequested, **values: Any) -> None:
        if (run := self.runs.get((change.job_id, change.run_id))) is not None:
            run.update(values)


def _edited(edit: Edit) -> dict[str, Any]:
    """The columns an edit sets on its job's row."""
    return {"version": edit.version, "updated_at": edit.at, "updated_by": edit.by}
