"""The read models in PostgreSQL: what an event has touched, and how each change is written."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import astuple
from uuid import UUID

from connect_catalog.domain.changes import (
    AddColumn,
    AddGroupRunMember,
    Change,
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
    PutAudience,
    RecordCommandOutcome,
    RecordHistory,
    RecordProgress,
    RemoveAudience,
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
from connect_runtime.db import Conn

MARK_PROCESSED = """
INSERT INTO processed_events (event_id) VALUES ($1) ON CONFLICT (event_id) DO NOTHING RETURNING event_id
"""
# Job and run events of one job travel on different topics, so two catalog instances may project them at
# the same time; each would miss the other's uncommitted row (a job inserted without its run's id in
# last_run_id, a last_run_id update finding no job yet). A per-job transaction lock serialises them, and
# under READ COMMITTED the statements after it see whatever the other transaction committed.
# The two-key form lives in a lock space apart from the one-key locks other code takes (DDL, projector,
# relay); the namespace keeps it apart from other two-key locks. Ids are hashed to int4: a collision only
# serialises two jobs.
JOB_LOCK_NAMESPACE = 7_100_020
LOCK_JOB = "SELECT pg_advisory_xact_lock($1, hashint8($2))"
SELECT_JOB = "SELECT version, definition FROM jobs WHERE job_id = $1 FOR UPDATE"
SELECT_RUN = "SELECT status, attempt, stop_requested, job_type FROM runs WHERE job_id = $1 AND run_id = $2 FOR UPDATE"

# last_run_id and previous_run_at come from `runs` too: job and run events travel on different topics, so a
# run may be projected before its job, and the result must not depend on that order (a rebuild reads in another).
INSERT_JOB = """
INSERT INTO jobs (job_id, name, description, job_type, schedule_type, definition, expires_at, errors, version,
                  state, created_at, created_by, updated_at, updated_by, copied_from, last_run_id, previous_run_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb, $9, 'inactive', $10, $11, $10, $11, $12,
        (SELECT max(run_id) FROM runs WHERE job_id = $1),
        (SELECT coalesce(scheduled_for, requested_at) FROM runs WHERE job_id = $1 ORDER BY run_id DESC LIMIT 1))
ON CONFLICT (job_id) DO NOTHING
"""
UPDATE_JOB_DEFINITION = """
UPDATE jobs SET name = $2, description = $3, job_type = $4, schedule_type = $5, definition = $6::jsonb,
                expires_at = $7, errors = $8::jsonb, version = $9, updated_at = $10, updated_by = $11
WHERE job_id = $1
"""
SET_JOB_STATE = "UPDATE jobs SET state = $2, version = $3, updated_at = $4, updated_by = $5 WHERE job_id = $1"
MARK_JOB_DELETED = """
UPDATE jobs SET deleted = true, deleted_reason = $2, version = $3, updated_at = $4, updated_by = $5
WHERE job_id = $1
"""
SET_LAST_RUN = """
UPDATE jobs SET last_run_id = $2, previous_run_at = $3
WHERE job_id = $1 AND (last_run_id IS NULL OR last_run_id < $2)
"""
SET_NEXT_RUN = """
INSERT INTO job_next_runs (job_id, next_run_at, as_of) VALUES ($1, $2, $3)
ON CONFLICT (job_id) DO UPDATE SET next_run_at = EXCLUDED.next_run_at, as_of = EXCLUDED.as_of
WHERE job_next_runs.as_of <= EXCLUDED.as_of
"""
INSERT_HISTORY = """
INSERT INTO job_history (job_id, version, at, actor, what, reason, copied_from, changed)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
ON CONFLICT (job_id, version) DO NOTHING
"""
UPSERT_TABLE = """
INSERT INTO tables (name, spec, defined_at, defined_by) VALUES ($1, $2::jsonb, $3, $4)
ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, defined_at = EXCLUDED.defined_at,
                                 defined_by = EXCLUDED.defined_by
"""
# A list or PET is defined once (a replay is dropped by `processed_events`); each added column names the
# version it makes, so an addition never applies twice.
INSERT_LIST = """
INSERT INTO lists (name, columns, version, defined_at, defined_by, updated_at) VALUES ($1, $2::jsonb, 1, $3, $4, $3)
ON CONFLICT (name) DO NOTHING
"""
INSERT_PET = """
INSERT INTO pets (name, list_name, columns, version, defined_at, defined_by, updated_at)
VALUES ($1, $2, $3::jsonb, 1, $4, $5, $4)
ON CONFLICT (name) DO NOTHING
"""
ADD_COLUMN = {
    kind: f"""
UPDATE {table} SET columns = columns || jsonb_build_array($2::jsonb), version = $3, updated_at = $4
WHERE name = $1 AND version < $3
"""
    for kind, table in (("list", "lists"), ("pet", "pets"))  # fixed table names, never user input
}
# Each audience event names the version it makes, so an older one never undoes a newer one.
PUT_AUDIENCE = """
INSERT INTO audiences (key, name, list_name, spec, version, updated_at, updated_by)
VALUES (lower($1), $1, $2, $3::jsonb, $4, $5, $6)
ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, list_name = EXCLUDED.list_name, spec = EXCLUDED.spec,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
WHERE audiences.version < EXCLUDED.version
"""
REMOVE_AUDIENCE = "DELETE FROM audiences WHERE key = lower($1) AND version < $2"
INSERT_RUN = """
INSERT INTO runs (
    job_id, run_id, job_name, status, trigger, requested_at, scheduled_for, group_id, group_run_id, dry_run, job_type
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (job_id, run_id) DO NOTHING
"""
START_ATTEMPT = """
UPDATE runs SET status = 'running', attempt = $3, runner = $4, started_at = $5,
                rows_read = 0, bytes_transferred = 0, total_bytes = NULL, stage = NULL
WHERE job_id = $1 AND run_id = $2
"""
RECORD_PROGRESS = """
UPDATE runs SET rows_read = $3, bytes_transferred = $4, total_bytes = $5, stage = $6
WHERE job_id = $1 AND run_id = $2
"""
END_RUN = """
UPDATE runs SET status = $3, rows_read = $4, inserted = $5, updated = $6, unchanged = $7, rejected = $8,
                skipped = $9, duplicates = $10, bytes_transferred = $11, started_at = $12, finished_at = $13,
                duration_ms = $14, error_code = $15, error = $16, filtered = $17
WHERE job_id = $1 AND run_id = $2
"""
MARK_RUN_STOP_REQUESTED = "UPDATE runs SET stop_requested = true WHERE job_id = $1 AND run_id = $2"
# The scheduler replies once per command; should a second reply ever arrive, the first (which a client
# may already have read) stands.
INSERT_COMMAND = """
INSERT INTO commands (command_id, command_type, status, target_type, target_id, target_version, run_id,
                      code, message, errors, replied_at, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12)
ON CONFLICT (command_id) DO NOTHING
"""
INSERT_LOG_LINE = "INSERT INTO run_log (job_id, run_id, at, level, message) VALUES ($1, $2, $3, $4, $5)"

SELECT_GROUP = "SELECT version FROM groups WHERE group_id = $1 FOR UPDATE"
SELECT_GROUP_RUN = "SELECT status, version FROM group_runs WHERE group_id = $1 AND run_id = $2 FOR UPDATE"
INSERT_GROUP = """
INSERT INTO groups (group_id, name, description, schedule_type, definition, expires_at, next_run_at, version,
                    created_at, created_by, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $9, $10)
ON CONFLICT (group_id) DO NOTHING
"""
UPDATE_GROUP_DEFINITION = """
UPDATE groups SET name = $2, description = $3, schedule_type = $4, definition = $5::jsonb, expires_at = $6,
                  next_run_at = $7, version = $8, updated_at = $9, updated_by = $10
WHERE group_id = $1
"""
MARK_GROUP_DELETED = """
UPDATE groups SET deleted = true, deleted_reason = $2, next_run_at = NULL, version = $3, updated_at = $4,
                  updated_by = $5
WHERE group_id = $1
"""
# A job's group is its membership row with the latest `as_of` (see the schema): groups live on different
# partitions, so one group may claim a job before another group's release of it is read.
CLEAR_GROUP_MEMBERS = "DELETE FROM group_members WHERE group_id = $1"
INSERT_GROUP_MEMBERS = """
INSERT INTO group_members (group_id, job_id, position, as_of)
SELECT $1, job_id, position - 1, $3 FROM unnest($2::bigint[]) WITH ORDINALITY AS m(job_id, position)
ON CONFLICT (group_id, job_id) DO UPDATE SET position = EXCLUDED.position, as_of = EXCLUDED.as_of
"""
SET_GROUP_LAST_RUN = """
UPDATE groups SET last_run_id = $2, previous_run_at = $3,
                  next_run_at = CASE WHEN $5::boolean THEN $4 ELSE next_run_at END
WHERE group_id = $1 AND (last_run_id IS NULL OR last_run_id < $2)
"""
INSERT_GROUP_RUN = """
INSERT INTO group_runs (group_id, run_id, group_name, status, trigger, members, version, requested_at,
                        scheduled_for, started_at)
VALUES ($1, $2, coalesce($3, (SELECT name FROM groups WHERE group_id = $1), ''), $4, $5, $6::jsonb, $7, $8, $9, $8)
ON CONFLICT (group_id, run_id) DO NOTHING
"""
ADD_GROUP_RUN_MEMBER = """
INSERT INTO group_run_members (group_id, run_id, position, job_id, member_run_id) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (group_id, run_id, position) DO NOTHING
"""
SET_GROUP_RUN_VERSION = "UPDATE group_runs SET version = $3 WHERE group_id = $1 AND run_id = $2"
MARK_GROUP_RUN_STOP_REQUESTED = """
UPDATE group_runs SET stop_requested = true, version = $3 WHERE group_id = $1 AND run_id = $2
"""
END_GROUP_RUN = """
UPDATE group_runs SET version = $3, status = $4, started_at = $5, finished_at = $6, duration_ms = $7,
                      failed_job_id = $8, failed_run_id = $9, error = $10
WHERE group_id = $1 AND run_id = $2
"""
INSERT_GROUP_LOG_LINE = """
INSERT INTO group_run_log (group_id, run_id, at, level, message) VALUES ($1, $2, $3, $4, $5)
"""

Statement = tuple[str, tuple[object, ...]]


def statements(change: Change) -> tuple[Statement, ...]:
    """The named SQL and parameters that write `change`, in order."""
    match change:
        case SetGroupMembers():
            members = list(change.members)
            return (CLEAR_GROUP_MEMBERS, (change.group_id,)), (
                INSERT_GROUP_MEMBERS,
                (change.group_id, members, change.as_of),
            )
        case AddGroupRunMember():
            run = (change.group_id, change.run_id)
            member = (change.position, change.job_id, change.member_run_id)
            return (ADD_GROUP_RUN_MEMBER, (*run, *member)), (SET_GROUP_RUN_VERSION, (*run, change.version))
    return (statement(change),)


def statement(change: Change) -> Statement:
    """The named SQL and its parameters that write `change` (one statement)."""
    match change:
        case InsertGroup() | UpdateGroupDefinition():
            return _group_definition(change)
        case MarkGroupDeleted():
            return MARK_GROUP_DELETED, (change.group_id, change.reason, *astuple(change.edit))
        case SetGroupLastRun():
            last = (change.run_id, change.requested_for, change.next_run_at, change.scheduled)
            return SET_GROUP_LAST_RUN, (change.group_id, *last)
        case InsertGroupRun():
            return INSERT_GROUP_RUN, _group_run_params(change)
        case MarkGroupRunStopRequested():
            return MARK_GROUP_RUN_STOP_REQUESTED, (change.group_id, change.run_id, change.version)
        case EndGroupRun():
            return END_GROUP_RUN, _end_group_run_params(change)
        case GroupLogLine():
            run = (change.group_id, change.run_id)
            return INSERT_GROUP_LOG_LINE, (*run, change.at, change.level, change.message)
        case InsertJob() | UpdateJobDefinition():
            return _job_definition(change)
        case SetJobState():
            return SET_JOB_STATE, (change.job_id, change.state, *astuple(change.edit))
        case MarkJobDeleted():
            return MARK_JOB_DELETED, (change.job_id, change.reason, *astuple(change.edit))
        case SetLastRun():
            return SET_LAST_RUN, (change.job_id, change.run_id, change.requested_for)
        case SetNextRun():
            return SET_NEXT_RUN, (change.job_id, change.next_run_at, change.as_of)
        case RecordHistory():
            return INSERT_HISTORY, _history_params(change)
        case UpsertTable():
            return UPSERT_TABLE, (change.name, change.spec_json, change.at, change.by)
        case InsertList():
            return INSERT_LIST, (change.name, change.columns_json, change.at, change.by)
        case InsertPet():
            return INSERT_PET, (change.name, change.list_name, change.columns_json, change.at, change.by)
        case AddColumn():
            return ADD_COLUMN[change.kind], (change.name, change.column_json, change.version, change.at)
        case PutAudience():
            audience = (change.name, change.list_name, change.spec_json, change.version, change.at, change.by)
            return PUT_AUDIENCE, audience
        case RemoveAudience():
            return REMOVE_AUDIENCE, (change.name, change.version)
        case InsertRun():
            run = (change.job_id, change.run_id)
            row = (change.job_name, change.status.value, change.trigger, change.requested_at, change.scheduled_for)
            return INSERT_RUN, (*run, *row, change.group_id, change.group_run_id, change.dry_run, change.job_type)
        case StartAttempt():
            run = (change.job_id, change.run_id)
            return START_ATTEMPT, (*run, change.attempt, change.runner, change.started_at)
        case RecordProgress():
            run = (change.job_id, change.run_id)
            progress = (change.rows_read, change.bytes_transferred, change.total_bytes, change.stage)
            return RECORD_PROGRESS, (*run, *progress)
        case EndRun():
            return END_RUN, _end_run_params(change)
        case MarkRunStopRequested():
            return MARK_RUN_STOP_REQUESTED, (change.job_id, change.run_id)
        case LogLine():
            run = (change.job_id, change.run_id)
            return INSERT_LOG_LINE, (*run, change.at, change.level, change.message)
        case RecordCommandOutcome():
            return INSERT_COMMAND, _command_params(change)
    raise TypeError(f"no statement for {type(change).__name__}")


def _job_definition(change: InsertJob | UpdateJobDefinition) -> Statement:
    f = change.fields
    derived = (f.name, f.description, f.job_type, f.schedule_type, f.definition_json, f.expires_at, f.errors_json)
    params = (change.job_id, *derived, *astuple(change.edit))
    if isinstance(change, InsertJob):
        return INSERT_JOB, (*params, change.copied_from)
    return UPDATE_JOB_DEFINITION, params


def _group_definition(change: InsertGroup | UpdateGroupDefinition) -> Statement:
    f = change.fields
    derived = (f.name, f.description, f.schedule_type, f.definition_json, f.expires_at, f.next_run_at)
    params = (change.group_id, *derived, *astuple(change.edit))
    return (INSERT_GROUP if isinstance(change, InsertGroup) else UPDATE_GROUP_DEFINITION), params


def _group_run_params(c: InsertGroupRun) -> tuple[object, ...]:
    row = (c.group_name, c.status.value, c.trigger, json.dumps(list(c.members)), c.version)
    return (c.group_id, c.run_id, *row, c.requested_at, c.scheduled_for)


def _end_group_run_params(c: EndGroupRun) -> tuple[object, ...]:
    failure = (c.failed_job_id, c.failed_run_id, c.error)
    return (c.group_id, c.run_id, c.version, c.status.value, *astuple(c.span), *failure)


def _history_params(c: RecordHistory) -> tuple[object, ...]:
    entry = (c.what, c.reason, c.copied_from, json.dumps(list(c.changed)))
    return (c.job_id, *astuple(c.edit), *entry)


def _end_run_params(c: EndRun) -> tuple[object, ...]:
    n = c.counts
    rows = (n.rows_read, n.inserted, n.updated, n.unchanged, n.rejected, n.skipped, n.duplicates)
    ended = (n.bytes_transferred, *astuple(c.span), c.error_code, c.error, n.filtered)
    return (c.job_id, c.run_id, c.status.value, *rows, *ended)


def _command_params(c: RecordCommandOutcome) -> tuple[object, ...]:
    target = (c.target_type, c.target_id, c.target_version, c.run_id)
    refusal = (c.code, c.message, c.errors_json)
    return (c.command_id, c.command_type, c.status, *target, *refusal, c.replied_at, c.reason)


class PostgresReadModel:
    """The read models, seen through one connection inside the caller's transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def mark_processed(self, event_id: UUID) -> bool:
        """Record `event_id`; False when it was recorded before (a republished event)."""
        return await self._conn.fetchval(MARK_PROCESSED, event_id) is not None

    async def load(self, subject: Subject) -> Snapshot:
        """The current rows of `subject`, locked (with its job) until the transaction ends."""
        if subject.job is not None:
            await self._conn.execute(LOCK_JOB, JOB_LOCK_NAMESPACE, subject.job)
        job = run = None
        if subject.job_id is not None:
            found = await self._conn.fetchrow(SELECT_JOB, subject.job_id)
            job = None if found is None else JobView(found["version"], json.loads(found["definition"]))
        if subject.run is not None:
            row = await self._conn.fetchrow(SELECT_RUN, *subject.run)
            run = None if row is None else RunView(RunStatus(row["status"]), row["attempt"], *row[2:])
        return Snapshot(job=job, run=run, group=await self._group(subject), group_run=await self._group_run(subject))

    async def _group(self, subject: Subject) -> GroupView | None:
        if subject.group_id is None:
            return None
        version = await self._conn.fetchval(SELECT_GROUP, subject.group_id)
        return None if version is None else GroupView(version)

    async def _group_run(self, subject: Subject) -> GroupRunView | None:
        if subject.group_run is None:
            return None
        row = await self._conn.fetchrow(SELECT_GROUP_RUN, *subject.group_run)
        return None if row is None else GroupRunView(RunStatus(row["status"]), row["version"])

    async def apply(self, changes: Sequence[Change]) -> None:
        """Write `changes` in order."""
        for change in changes:
            for sql, params in statements(change):
                await self._conn.execute(sql, *params)
