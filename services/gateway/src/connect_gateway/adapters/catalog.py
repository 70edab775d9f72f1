"""Reads the catalog's read models (schema owned by the catalog service) with named SQL."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from connect_events import (
    TERMINAL,
    AudienceSpec,
    ColumnSpec,
    FieldError,
    GroupDefinition,
    JobDefinition,
    ListSpec,
    PetSpec,
    RunCounts,
    RunStatus,
    TableSpec,
)
from connect_gateway.domain.listing import LAST_INT, LAST_TIME, Kind, Position, Sort
from connect_gateway.ports import ReadModelsUnavailableError
from connect_gateway.read_models import (
    GROUP_RUN_SORT,
    GROUP_SORTS,
    HISTORY_SORT,
    JOB_SORTS,
    RUN_SORTS,
    AudienceRecord,
    CommandRecord,
    GroupQuery,
    GroupRecord,
    GroupRunMember,
    GroupRunQuery,
    GroupRunRecord,
    GroupSummary,
    HistoryQuery,
    HistoryRecord,
    JobQuery,
    JobRecord,
    JobSummary,
    ListRecord,
    LogLine,
    Page,
    PetRecord,
    RunQuery,
    RunRecord,
    TableRecord,
)

PING = "SELECT 1"
LIST_TABLES = "SELECT name, spec, defined_at, defined_by FROM tables ORDER BY lower(name)"
GET_TABLE = "SELECT name, spec, defined_at, defined_by FROM tables WHERE lower(name) = lower($1)"
_LIST_COLUMNS = "name, columns, version, defined_at, defined_by, updated_at"
LIST_LISTS = f"SELECT {_LIST_COLUMNS} FROM lists ORDER BY lower(name)"
GET_LIST = f"SELECT {_LIST_COLUMNS} FROM lists WHERE lower(name) = lower($1)"
_PET_COLUMNS = "name, list_name, columns, version, defined_at, defined_by, updated_at"
LIST_PETS = f"""SELECT {_PET_COLUMNS} FROM pets
WHERE $1::text IS NULL OR lower(list_name) = lower($1)
ORDER BY lower(name)"""
GET_PET = f"SELECT {_PET_COLUMNS} FROM pets WHERE lower(name) = lower($1)"
LIST_AUDIENCES = "SELECT spec, version, updated_at, updated_by FROM audiences ORDER BY key"
GET_AUDIENCE = "SELECT spec, version, updated_at, updated_by FROM audiences WHERE key = lower($1)"

# Sorting: every sort column is one fixed SQL expression (never text from the request), a missing value
# standing in as the largest one (domain.listing.LAST_*); keyset paging compares (expression, ids) rows.
# A missing time is 'infinity', which asyncpg sends for LAST_TIME (datetime.max) and reads back as a naive
# datetime.max (see `_sort_value`).
_LAST_TIME = "'infinity'::timestamptz"
_CAST: dict[Kind, str] = {"bigint": "bigint", "int": "int", "text": "text", "time": "timestamptz"}
_IN_PROGRESS = ", ".join(f"'{status.value}'" for status in RunStatus if status not in TERMINAL)

_JOB_COLUMNS = f"""j.job_id, j.name, j.description, j.job_type, j.state, j.schedule_type, j.version,
    j.expires_at, j.created_at, j.created_by, j.updated_at, j.updated_by, j.last_run_id, j.previous_run_at,
    n.next_run_at, j.errors, j.copied_from,
    (SELECT max(r.run_id) FROM runs r WHERE r.job_id = j.job_id AND r.status IN ({_IN_PROGRESS})) AS running_run_id,
    (SELECT m.group_id FROM group_members m WHERE m.job_id = j.job_id
     ORDER BY m.as_of DESC, m.group_id DESC LIMIT 1) AS group_id"""
_JOBS = "jobs j LEFT JOIN job_next_runs n ON n.job_id = j.job_id"
JOB_ORDER: dict[str, str] = {
    "job_id": "j.job_id",
    "name": "lower(j.name)",
    "type": "j.job_type",
    "created_at": "j.created_at",
    "created_by": "j.created_by",
    "state": "j.state",
    "next_run_at": f"coalesce(n.next_run_at, {_LAST_TIME})",
    "previous_run_at": f"coalesce(j.previous_run_at, {_LAST_TIME})",
    "schedule_type": "j.schedule_type",
    "expires_at": f"coalesce(j.expires_at, {_LAST_TIME})",
}


def _list_jobs(column: str, descending: bool) -> str:
    order, after, cast = JOB_ORDER[column], "<" if descending else ">", _CAST[JOB_SORTS[column]]
    direction = "DESC" if descending else "ASC"
    return f"""
SELECT {_JOB_COLUMNS}, {order} AS sort_value FROM {_JOBS}
WHERE NOT j.deleted
  AND ($1::text IS NULL OR j.state = $1)
  AND ($2::text IS NULL OR j.name ILIKE '%' || $2 || '%' ESCAPE '\\')
  AND ($3::text IS NULL OR j.job_type = $3)
  AND ($4::text IS NULL OR j.schedule_type = $4)
  AND ($5::bigint IS NULL OR ({order}, j.job_id) {after} ($6::{cast}, $5))
ORDER BY {order} {direction}, j.job_id {direction}
LIMIT $7
"""


LIST_JOBS: dict[Sort, str] = {Sort(c, d): _list_jobs(c, d) for c in JOB_ORDER for d in (False, True)}
GET_JOB = f"SELECT {_JOB_COLUMNS}, j.definition FROM {_JOBS} WHERE j.job_id = $1 AND NOT j.deleted"
JOB_EXISTS = "SELECT EXISTS (SELECT 1 FROM jobs WHERE job_id = $1)"
JOB_HISTORY = """
SELECT version, at, actor, what, reason, copied_from, changed FROM job_history
WHERE job_id = $1 AND ($2::int IS NULL OR version < $2)
ORDER BY version DESC
LIMIT $3
"""

_RUN_COLUMNS = """r.job_id, r.run_id, r.job_name, coalesce(j.deleted, false) AS job_deleted, r.status,
    r.trigger, r.attempt, r.rows_read, r.inserted, r.updated, r.unchanged, r.rejected, r.bytes_transferred,
    r.skipped, r.duplicates, r.filtered, r.total_bytes, r.stage, r.error_code, r.error, r.requested_at, r.started_at,
    r.finished_at, r.duration_ms, j.job_type, r.scheduled_for, r.group_id, r.group_run_id, r.dry_run"""
_RUNS = "runs r LEFT JOIN jobs j ON j.job_id = r.job_id"
RUN_ORDER: dict[str, str] = {
    "run_key": "r.job_id",
    "job_name": "lower(r.job_name)",
    "requested_at": "r.requested_at",
    "started_at": f"coalesce(r.started_at, {_LAST_TIME})",
    "duration_ms": f"coalesce(r.duration_ms, {LAST_INT})",
    "status": "r.status",
}


def _list_runs(column: str, descending: bool) -> str:
    order, after, cast = RUN_ORDER[column], "<" if descending else ">", _CAST[RUN_SORTS[column]]
    direction = "DESC" if descending else "ASC"
    return f"""
SELECT {_RUN_COLUMNS}, {order} AS sort_value FROM {_RUNS}
WHERE ($1::bigint IS NULL OR r.job_id = $1)
  AND ($2::text IS NULL OR r.status = $2)
  AND ($3::text IS NULL OR r.job_name ILIKE '%' || $3 || '%' ESCAPE '\\')
  AND ($4::timestamptz IS NULL OR r.requested_at >= $4)
  AND ($5::timestamptz IS NULL OR r.requested_at < $5)
  AND ($6::bigint IS NULL OR ({order}, r.job_id, r.run_id) {after} ($8::{cast}, $6, $7::int))
ORDER BY {order} {direction}, r.job_id {direction}, r.run_id {direction}
LIMIT $9
"""


LIST_RUNS: dict[Sort, str] = {Sort(c, d): _list_runs(c, d) for c in RUN_ORDER for d in (False, True)}
GET_RUN = f"SELECT {_RUN_COLUMNS} FROM {_RUNS} WHERE r.job_id = $1 AND r.run_id = $2"
RUN_LOG = "SELECT at, level, message FROM run_log WHERE job_id = $1 AND run_id = $2 ORDER BY seq"
GET_COMMAND = """
SELECT command_id, command_type, status, target_type, target_id, target_version, run_id, code, message,
    errors, replied_at, reason
FROM commands WHERE command_id = $1
"""

# A job's group: the membership stated last (see the catalog's schema), so groups read in any order agree.
_GROUP_COLUMNS = f"""g.group_id, g.name, g.description, g.schedule_type, g.version, g.expires_at, g.created_at,
    g.created_by, g.updated_at, g.updated_by, g.next_run_at, g.previous_run_at, g.last_run_id,
    (SELECT max(r.run_id) FROM group_runs r WHERE r.group_id = g.group_id AND r.status IN ({_IN_PROGRESS}))
        AS running_run_id"""
GROUP_ORDER: dict[str, str] = {
    "group_id": "g.group_id",
    "name": "lower(g.name)",
    "created_at": "g.created_at",
    "created_by": "g.created_by",
    "next_run_at": f"coalesce(g.next_run_at, {_LAST_TIME})",
    "previous_run_at": f"coalesce(g.previous_run_at, {_LAST_TIME})",
    "schedule_type": "g.schedule_type",
    "expires_at": f"coalesce(g.expires_at, {_LAST_TIME})",
}


def _list_groups(column: str, descending: bool) -> str:
    order, after, cast = GROUP_ORDER[column], "<" if descending else ">", _CAST[GROUP_SORTS[column]]
    direction = "DESC" if descending else "ASC"
    return f"""
SELECT {_GROUP_COLUMNS}, {order} AS sort_value FROM groups g
WHERE NOT g.deleted
  AND ($1::text IS NULL OR g.name ILIKE '%' || $1 || '%' ESCAPE '\\')
  AND ($2::text IS NULL OR g.schedule_type = $2)
  AND ($3::bigint IS NULL OR ({order}, g.group_id) {after} ($4::{cast}, $3))
ORDER BY {order} {direction}, g.group_id {direction}
LIMIT $5
"""


LIST_GROUPS: dict[Sort, str] = {Sort(c, d): _list_groups(c, d) for c in GROUP_ORDER for d in (False, True)}
GET_GROUP = f"SELECT {_GROUP_COLUMNS}, g.definition FROM groups g WHERE g.group_id = $1 AND NOT g.deleted"
GROUP_EXISTS = "SELECT EXISTS (SELECT 1 FROM groups WHERE group_id = $1)"
_GROUP_RUN_COLUMNS = """group_id, run_id, group_name, status, trigger, requested_at, scheduled_for, started_at,
    finished_at, duration_ms, stop_requested, failed_job_id, failed_run_id, error, members"""
LIST_GROUP_RUNS = f"""
SELECT {_GROUP_RUN_COLUMNS} FROM group_runs
WHERE group_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::int IS NULL OR run_id < $3)
ORDER BY run_id DESC
LIMIT $4
"""
GET_GROUP_RUN = f"SELECT {_GROUP_RUN_COLUMNS} FROM group_runs WHERE group_id = $1 AND run_id = $2"
# A member run's status is the run's own (connect.runs); until the catalog has read its request, it is queued.
GROUP_RUN_MEMBERS = """
SELECT m.position, m.job_id, m.member_run_id, coalesce(r.status, 'queued') AS status, r.job_name
FROM group_run_members m LEFT JOIN runs r ON r.job_id = m.job_id AND r.run_id = m.member_run_id
WHERE m.group_id = $1 AND m.run_id = $2
ORDER BY m.position
"""
GROUP_RUN_LOG = "SELECT at, level, message FROM group_run_log WHERE group_id = $1 AND run_id = $2 ORDER BY seq"

T = TypeVar("T")


class PgReadStore:
    """`ReadStore` over the catalog database (the pool should be read-only)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ping(self) -> None:
        """Raise when the database cannot answer."""
        await self._guard(lambda: self._pool.fetchval(PING))

    async def list_tables(self) -> list[TableRecord]:
        """All custom tables, by name."""
        return await self._all(LIST_TABLES, _table)

    async def get_table(self, name: str) -> TableRecord | None:
        """The table called `name` (case-insensitive)."""
        return await self._one(GET_TABLE, _table, name)

    async def list_lists(self) -> list[ListRecord]:
        """All profile lists, by name."""
        return await self._all(LIST_LISTS, _list)

    async def get_list(self, name: str) -> ListRecord | None:
        """The list called `name` (case-insensitive)."""
        return await self._one(GET_LIST, _list, name)

    async def list_pets(self, list_name: str | None) -> list[PetRecord]:
        """The PETs of the list `list_name` (None: of every list), by name."""
        return await self._all(LIST_PETS, _pet, list_name)

    async def get_pet(self, name: str) -> PetRecord | None:
        """The PET called `name` (case-insensitive)."""
        return await self._one(GET_PET, _pet, name)

    async def list_audiences(self) -> list[AudienceRecord]:
        """All audiences, by name."""
        return await self._all(LIST_AUDIENCES, _audience)

    async def get_audience(self, name: str) -> AudienceRecord | None:
        """The audience called `name` (case-insensitive)."""
        return await self._one(GET_AUDIENCE, _audience, name)

    async def list_jobs(self, query: JobQuery) -> Page[JobSummary]:
        """A page of the jobs that are not deleted, in the query's order (Job ID breaks ties)."""
        filters = (query.state, _like(query.q), query.job_type, query.schedule_type)
        return await self._sorted_page(LIST_JOBS, query, filters, ("job_id",), _job_summary)

    async def get_job(self, job_id: int) -> JobRecord | None:
        """A job that is not deleted, with its definition."""
        return await self._one(GET_JOB, _job, job_id)

    async def job_history(self, job_id: int, query: HistoryQuery) -> Page[HistoryRecord] | None:
        """A page of a job's history, newest first; None when no such job was ever projected."""
        rows = await self._fetch(JOB_HISTORY, job_id, _before(query), query.limit + 1)
        if not rows and query.after is None and not await self._guard(lambda: self._pool.fetchval(JOB_EXISTS, job_id)):
            return None
        return _page(rows, query.limit, HISTORY_SORT, (), _history, value="version")

    async def list_runs(self, query: RunQuery) -> Page[RunRecord]:
        """A page of runs, in the query's order (`JobID.RunID` breaks ties)."""
        filters = (query.job_id, query.status, _like(query.q), query.since, query.until)
        return await self._sorted_page(LIST_RUNS, query, filters, ("job_id", "run_id"), _run)

    async def get_run(self, job_id: int, run_id: int) -> RunRecord | None:
        """One run."""
        return await self._one(GET_RUN, _run, job_id, run_id)

    async def run_log(self, job_id: int, run_id: int) -> list[LogLine]:
        """A run's log entries in order."""
        return await self._all(RUN_LOG, _log_line, job_id, run_id)

    async def get_command(self, command_id: UUID) -> CommandRecord | None:
        """The recorded reply to a command; None while none has been recorded."""
        return await self._one(GET_COMMAND, _command, command_id)

    async def list_groups(self, query: GroupQuery) -> Page[GroupSummary]:
        """A page of the groups that are not deleted, in the query's order (Group ID breaks ties)."""
        filters = (_like(query.q), query.schedule_type)
        return await self._sorted_page(LIST_GROUPS, query, filters, ("group_id",), _group_summary)

    async def get_group(self, group_id: int) -> GroupRecord | None:
        """A group that is not deleted, with its definition."""
        return await self._one(GET_GROUP, _group, group_id)

    async def list_group_runs(self, group_id: int, query: GroupRunQuery) -> Page[GroupRunRecord] | None:
        """A page of a group's runs, newest first; None when no such group was ever projected."""
        rows = await self._fetch(LIST_GROUP_RUNS, group_id, query.status, _before(query), query.limit + 1)
        if not rows and not await self._guard(lambda: self._pool.fetchval(GROUP_EXISTS, group_id)):
            return None
        return _page(rows, query.limit, GROUP_RUN_SORT, (), _group_run, value="run_id")

    async def get_group_run(self, group_id: int, run_id: int) -> GroupRunRecord | None:
        """One group run, with its members in running order and the runs of those that started."""
        run = await self._one(GET_GROUP_RUN, _group_run, group_id, run_id)
        if run is None:
            return None
        started = await self._fetch(GROUP_RUN_MEMBERS, group_id, run_id)
        return replace(run, members=_members(run.member_ids, started))

    async def group_run_log(self, group_id: int, run_id: int) -> list[LogLine]:
        """A group run's log entries in order."""
        return await self._all(GROUP_RUN_LOG, _log_line, group_id, run_id)

    async def _sorted_page(
        self,
        sql: Mapping[Sort, str],
        query: JobQuery | RunQuery | GroupQuery,
        filters: tuple[object, ...],
        ids: tuple[str, ...],
        record: Callable[[asyncpg.Record], T],
    ) -> Page[T]:
        """A page of a sorted list: the statement of the query's order takes `filters`, then where the page starts
        (the `ids` that break ties and the sort value), then how many rows to fetch."""
        after = (None,) * (len(ids) + 1) if query.after is None else (*query.after.ids, query.after.value)
        rows = await self._fetch(sql[query.sort], *filters, *after, query.limit + 1)
        return _page(rows, query.limit, query.sort, ids, record)

    async def _one(self, sql: str, record: Callable[[asyncpg.Record], T], *params: object) -> T | None:
        """The row `sql` returns, as `record` reads it; None when there is none."""
        row = await self._guard(lambda: self._pool.fetchrow(sql, *params))
        return None if row is None else record(row)

    async def _all(self, sql: str, record: Callable[[asyncpg.Record], T], *params: object) -> list[T]:
        """The rows `sql` returns, as `record` reads them."""
        return [record(row) for row in await self._fetch(sql, *params)]

    async def _fetch(self, sql: str, *params: object) -> list[asyncpg.Record]:
        return await self._guard(lambda: self._pool.fetch(sql, *params))

    @staticmethod
    async def _guard(query: Callable[[], Awaitable[T]]) -> T:
        try:
            return await query()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Also the catalog not having created its tables yet (UndefinedTableError).
            raise ReadModelsUnavailableError(f"{type(exc).__name__}: {exc}") from exc


def _like(text: str | None) -> str | None:
    """The LIKE pattern that matches `text` literally (None: no filter)."""
    return None if text is None else text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _before(query: HistoryQuery | GroupRunQuery) -> Any:
    """The sort value of a newest-first page's start (None: the first page)."""
    return None if query.after is None else query.after.value


def _json(value: Any) -> Any:
    # asyncpg hands jsonb over as text unless a codec is registered.
    return json.loads(value) if isinstance(value, str | bytes) else value


def _table(row: asyncpg.Record) -> TableRecord:
    return TableRecord(
        spec=TableSpec.model_validate(_json(row["spec"])),
        defined_at=row["defined_at"],
        defined_by=row["defined_by"],
    )


def _columns(value: Any) -> tuple[ColumnSpec, ...]:
    return tuple(ColumnSpec.model_validate(column) for column in _json(value))


def _list(row: asyncpg.Record) -> ListRecord:
    spec = ListSpec(name=row["name"], columns=_columns(row["columns"]))
    return ListRecord(spec, row["version"], row["defined_at"], row["defined_by"], row["updated_at"])


def _audience(row: asyncpg.Record) -> AudienceRecord:
    spec = AudienceSpec.model_validate(_json(row["spec"]))
    return AudienceRecord(spec, row["version"], row["updated_at"], row["updated_by"])


def _pet(row: asyncpg.Record) -> PetRecord:
    spec = PetSpec(name=row["name"], list_name=row["list_name"], columns=_columns(row["columns"]))
    return PetRecord(spec, row["version"], row["defined_at"], row["defined_by"], row["updated_at"])


def _page(
    rows: list[asyncpg.Record],
    limit: int,
    sort: Sort,
    ids: tuple[str, ...],
    record: Callable[[asyncpg.Record], T],
    value: str = "sort_value",
) -> Page[T]:
    """The first `limit` rows (one more was fetched to tell whether another page follows)."""
    if len(rows) <= limit:
        return Page([record(row) for row in rows])
    last = rows[limit - 1]
    position = Position(sort, _sort_value(last[value]), tuple(last[name] for name in ids))
    return Page([record(row) for row in rows[:limit]], position)


def _sort_value(value: Any) -> Any:
    """The sort value as a cursor holds it: asyncpg reads a timestamptz 'infinity' as a naive datetime.max."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return LAST_TIME
    return value


def _field_errors(value: Any) -> tuple[FieldError, ...]:
    # Only the two fields the API shows: anything else the catalog may add later is not ours to reject.
    return tuple(FieldError(field=e["field"], message=e["message"]) for e in _json(value) or ())


def _job_summary(row: asyncpg.Record) -> JobSummary:
    fields = {name: row[name] for name in JobSummary.__dataclass_fields__ if name != "errors"}
    return JobSummary(**fields, errors=_field_errors(row["errors"]))


def _job(row: asyncpg.Record) -> JobRecord:
    definition = JobDefinition.model_validate(_json(row["definition"]))
    return JobRecord(**vars(_job_summary(row)), definition=definition)


def _history(row: asyncpg.Record) -> HistoryRecord:
    return HistoryRecord(
        version=row["version"],
        at=row["at"],
        by=row["actor"],
        what=row["what"],
        reason=row["reason"],
        copied_from=row["copied_from"],
        changed=tuple(_json(row["changed"])),
    )


def _run(row: asyncpg.Record) -> RunRecord:
    counts = RunCounts(
        rows_read=row["rows_read"],
        inserted=row["inserted"],
        updated=row["updated"],
        unchanged=row["unchanged"],
        rejected=row["rejected"],
        bytes_transferred=row["bytes_transferred"],
        skipped=row["skipped"],
        duplicates=row["duplicates"],
        filtered=row["filtered"],
    )
    fields = {name: row[name] for name in RunRecord.__dataclass_fields__ if name != "counts"}
    return RunRecord(**fields, counts=counts)


def _group_summary(row: asyncpg.Record) -> GroupSummary:
    return GroupSummary(**{name: row[name] for name in GroupSummary.__dataclass_fields__})


def _group(row: asyncpg.Record) -> GroupRecord:
    definition = GroupDefinition.model_validate(_json(row["definition"]))
    return GroupRecord(**vars(_group_summary(row)), definition=definition)


def _group_run(row: asyncpg.Record) -> GroupRunRecord:
    fields = {name: row[name] for name in GroupRunRecord.__dataclass_fields__ if name not in ("member_ids", "members")}
    return GroupRunRecord(**fields, member_ids=tuple(_json(row["members"])))


def _members(member_ids: tuple[int, ...], started: list[asyncpg.Record]) -> tuple[GroupRunMember, ...]:
    """Every member of the group run in order; those started with their run and its status."""
    runs = {row["position"]: row for row in started}
    return tuple(
        GroupRunMember(position, job_id)
        if (found := runs.get(position)) is None
        else GroupRunMember(position, job_id, found["member_run_id"], found["status"], found["job_name"])
        for position, job_id in enumerate(member_ids)
    )


def _log_line(row: asyncpg.Record) -> LogLine:
    return LogLine(at=row["at"], level=row["level"], message=row["message"])


def _command(row: asyncpg.Record) -> CommandRecord:
    fields = {name: row[name] for name in CommandRecord.__dataclass_fields__ if name != "errors"}
    return CommandRecord(**fields, errors=_field_errors(row["errors"]))
