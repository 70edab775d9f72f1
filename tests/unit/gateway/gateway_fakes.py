"""In-memory fakes of the gateway's ports (the same Protocols the real adapters implement)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from uuid import UUID, uuid4

import httpx
from fastapi import FastAPI

from connect_events import (
    Command,
    CommandAccepted,
    CommandAcceptedPayload,
    CommandRejected,
    CommandRejectedPayload,
    FieldError,
    ImportCustomTable,
    JobDefinition,
    RefusalReason,
    RejectionCode,
    Role,
    SftpLocation,
)
from connect_gateway.domain.listing import LAST_INT, LAST_TIME, Position, Sort, Value
from connect_gateway.domain.profiles import ProfileTable
from connect_gateway.domain.rejects import RejectRecord
from connect_gateway.domain.secrets import Secret
from connect_gateway.ports import AudienceUnavailableError, HostUnreachableError, Reply
from connect_gateway.read_models import (
    GROUP_RUN_SORT,
    AudienceRecord,
    CommandRecord,
    GroupQuery,
    GroupRecord,
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
    ScheduledSummary,
    TableRecord,
)
from connect_runtime.audiences import AudienceQuery
from tests.unit.gateway.identity_fake import InMemoryIdentityStore

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def accepted(
    command: Command,
    target_id: str = "1",
    version: int = 1,
    run_id: int | None = None,
    errors: tuple[FieldError, ...] = (),
    state: Literal["active", "inactive"] | None = None,
    target_type: str = "job",
) -> Reply:
    """The scheduler's acceptance of `command` (of a definition saved with `errors`, a draft)."""
    return CommandAccepted(
        event_id=uuid4(),
        aggregate_id=str(command.command_id),
        aggregate_version=1,
        occurred_at=NOW,
        actor=command.actor,
        correlation_id=command.correlation_id,
        causation_id=command.command_id,
        payload=CommandAcceptedPayload(
            command_id=command.command_id,
            command_type=getattr(command, "type"),  # noqa: B009 - every concrete command has one
            target_type=target_type,
            target_id=target_id,
            target_version=version,
            run_id=run_id,
            errors=errors,
            state=state,
        ),
    )


def rejected(
    command: Command,
    code: RejectionCode,
    message: str,
    errors: tuple[FieldError, ...] = (),
    reason: RefusalReason | None = None,
) -> Reply:
    """The scheduler's refusal of `command`, with its precise `reason`."""
    return CommandRejected(
        event_id=uuid4(),
        aggregate_id=str(command.command_id),
        aggregate_version=1,
        occurred_at=NOW,
        actor=command.actor,
        correlation_id=command.correlation_id,
        causation_id=command.command_id,
        payload=CommandRejectedPayload(
            command_id=command.command_id,
            command_type=getattr(command, "type"),  # noqa: B009
            code=code,
            message=message,
            errors=errors,
            reason=reason,
        ),
    )


@dataclass
class FakeBus:
    """Answers each command with `answer(command)`; None means no reply in time."""

    answer: Callable[[Command], Reply | None] = accepted
    sent: list[Command] = field(default_factory=list)
    failure: Exception | None = None
    is_ready: bool = True

    def ready(self) -> bool:
        return self.is_ready

    async def submit(self, command: Command, timeout_s: float) -> Reply | None:
        if self.failure is not None:
            raise self.failure
        self.sent.append(command)
        return self.answer(command)


@dataclass
class FakeCredentials:
    stored: dict[UUID, Secret] = field(default_factory=dict)
    deleted: list[UUID] = field(default_factory=list)

    async def store(self, ref: UUID, secret: Secret) -> None:
        self.stored[ref] = secret

    async def delete(self, ref: UUID) -> None:
        self.deleted.append(ref)
        self.stored.pop(ref, None)

    async def ping(self) -> None:
        return None


@dataclass
class FakeHostKeys:
    """Every server presents `key`, unless `unreachable` says why not."""

    key: str
    unreachable: str | None = None
    asked: list[tuple[str, int]] = field(default_factory=list)

    async def fetch(self, host: str, port: int) -> str:
        self.asked.append((host, port))
        if self.unreachable is not None:
            raise HostUnreachableError(self.unreachable)
        return self.key


T = TypeVar("T")

# The sort values of each sortable column, as the SQL of `PgReadStore` computes them (a missing one is last).
SCHEDULED_KEYS: dict[str, Callable[[ScheduledSummary], Value]] = {
    "name": lambda s: s.name.lower(),
    "created_at": lambda s: s.created_at,
    "created_by": lambda s: s.created_by,
    "next_run_at": lambda s: s.next_run_at or LAST_TIME,
    "previous_run_at": lambda s: s.previous_run_at or LAST_TIME,
    "schedule_type": lambda s: s.schedule_type,
    "expires_at": lambda s: s.expires_at or LAST_TIME,
}
JOB_KEYS: dict[str, Callable[[JobSummary], Value]] = {
    **SCHEDULED_KEYS,
    "job_id": lambda j: j.job_id,
    "type": lambda j: j.job_type,
    "state": lambda j: j.state,
}
GROUP_KEYS: dict[str, Callable[[GroupSummary], Value]] = {**SCHEDULED_KEYS, "group_id": lambda g: g.group_id}
RUN_KEYS: dict[str, Callable[[RunRecord], Value]] = {
    "run_key": lambda r: r.job_id,
    "job_name": lambda r: r.job_name.lower(),
    "requested_at": lambda r: r.requested_at,
    "started_at": lambda r: r.started_at or LAST_TIME,
    "duration_ms": lambda r: LAST_INT if r.duration_ms is None else r.duration_ms,
    "status": lambda r: r.status,
}


def paged(
    rows: Iterable[T],
    key: Callable[[T], Value],
    ids: Callable[[T], tuple[int, ...]],
    sort: Sort,
    after: Position | None,
    limit: int,
) -> Page[T]:
    """Keyset paging in memory: (sort value, ids) order, rows after `after`, and where the page ended."""

    def at(row: T) -> tuple[Any, ...]:
        return (key(row), *ids(row))

    ordered = sorted(rows, key=at, reverse=sort.descending)
    if after is not None:
        mark = (after.value, *after.ids)
        ordered = [r for r in ordered if (at(r) < mark if sort.descending else at(r) > mark)]
    if len(ordered) <= limit:
        return Page(ordered)
    last = ordered[limit - 1]
    return Page(ordered[:limit], Position(sort, key(last), ids(last)))


@dataclass
class FakeReads:
    tables: list[TableRecord] = field(default_factory=list)
    jobs: list[JobRecord] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    logs: dict[tuple[int, int], list[LogLine]] = field(default_factory=dict)
    commands: dict[UUID, CommandRecord] = field(default_factory=dict)
    history: dict[int, list[HistoryRecord]] = field(default_factory=dict)
    groups: list[GroupRecord] = field(default_factory=list)
    group_runs: list[GroupRunRecord] = field(default_factory=list)
    group_logs: dict[tuple[int, int], list[LogLine]] = field(default_factory=dict)
    lists: list[ListRecord] = field(default_factory=list)
    pets: list[PetRecord] = field(default_factory=list)
    audiences: list[AudienceRecord] = field(default_factory=list)
    down: bool = False

    async def ping(self) -> None:
        if self.down:
            raise ConnectionRefusedError("catalog down")

    async def list_tables(self) -> list[TableRecord]:
        return sorted(self.tables, key=lambda t: t.spec.name.lower())

    async def get_table(self, name: str) -> TableRecord | None:
        return next((t for t in self.tables if t.spec.name.lower() == name.lower()), None)

    async def list_lists(self) -> list[ListRecord]:
        return sorted(self.lists, key=lambda r: r.spec.name.lower())

    async def get_list(self, name: str) -> ListRecord | None:
        return next((r for r in self.lists if r.spec.name.lower() == name.lower()), None)

    async def list_pets(self, list_name: str | None) -> list[PetRecord]:
        found = [p for p in self.pets if list_name is None or p.spec.list_name.lower() == list_name.lower()]
        return sorted(found, key=lambda r: r.spec.name.lower())

    async def get_pet(self, name: str) -> PetRecord | None:
        return next((r for r in self.pets if r.spec.name.lower() == name.lower()), None)

    async def list_audiences(self) -> list[AudienceRecord]:
        return sorted(self.audiences, key=lambda r: r.spec.name.lower())

    async def get_audience(self, name: str) -> AudienceRecord | None:
        return next((r for r in self.audiences if r.spec.name.lower() == name.lower()), None)

    async def list_jobs(self, query: JobQuery) -> Page[JobSummary]:
        found = [
            j
            for j in self.jobs
            if (query.state is None or j.state == query.state)
            and (query.q is None or query.q.lower() in j.name.lower())
            and (query.job_type is None or j.job_type == query.job_type)
            and (query.schedule_type is None or j.schedule_type == query.schedule_type)
        ]
        key = JOB_KEYS[query.sort.column]
        return paged(found, key, lambda j: (j.job_id,), query.sort, query.after, query.limit)

    async def get_job(self, job_id: int) -> JobRecord | None:
        return next((j for j in self.jobs if j.job_id == job_id), None)

    async def job_history(self, job_id: int, query: HistoryQuery) -> Page[HistoryRecord] | None:
        if job_id not in self.history:
            return None
        sort = Sort("version", descending=True)
        return paged(self.history[job_id], lambda h: h.version, lambda _h: (), sort, query.after, query.limit)

    async def list_runs(self, query: RunQuery) -> Page[RunRecord]:
        found = [
            r
            for r in self.runs
            if (query.job_id is None or r.job_id == query.job_id)
            and (query.status is None or r.status == query.status)
            and (query.q is None or query.q.lower() in r.job_name.lower())
            and (query.since is None or r.requested_at >= query.since)
            and (query.until is None or r.requested_at < query.until)
        ]
        key = RUN_KEYS[query.sort.column]
        return paged(found, key, lambda r: (r.job_id, r.run_id), query.sort, query.after, query.limit)

    async def get_run(self, job_id: int, run_id: int) -> RunRecord | None:
        return next((r for r in self.runs if (r.job_id, r.run_id) == (job_id, run_id)), None)

    async def run_log(self, job_id: int, run_id: int) -> list[LogLine]:
        return self.logs.get((job_id, run_id), [])

    async def get_command(self, command_id: UUID) -> CommandRecord | None:
        return self.commands.get(command_id)

    async def list_groups(self, query: GroupQuery) -> Page[GroupSummary]:
        found = [
            g
            for g in self.groups
            if (query.q is None or query.q.lower() in g.name.lower())
            and (query.schedule_type is None or g.schedule_type == query.schedule_type)
        ]
        key = GROUP_KEYS[query.sort.column]
        return paged(found, key, lambda g: (g.group_id,), query.sort, query.after, query.limit)

    async def get_group(self, group_id: int) -> GroupRecord | None:
        return next((g for g in self.groups if g.group_id == group_id), None)

    async def list_group_runs(self, group_id: int, query: GroupRunQuery) -> Page[GroupRunRecord] | None:
        if not any(g.group_id == group_id for g in self.groups):
            return None
        found = [r for r in self.group_runs if r.group_id == group_id and query.status in (None, r.status)]
        return paged(found, lambda r: r.run_id, lambda _r: (), GROUP_RUN_SORT, query.after, query.limit)

    async def get_group_run(self, group_id: int, run_id: int) -> GroupRunRecord | None:
        return next((r for r in self.group_runs if (r.group_id, r.run_id) == (group_id, run_id)), None)

    async def group_run_log(self, group_id: int, run_id: int) -> list[LogLine]:
        return self.group_logs.get((group_id, run_id), [])


@dataclass
class FakeRejects:
    """Each run's rejects in `rows` (any order), handed out `batch_rows` at a time in line order; `open_batches`
    counts the iterators not closed yet."""

    rows: dict[tuple[int, int], list[RejectRecord]] = field(default_factory=dict)
    batch_rows: int = 2
    down: bool = False
    open_batches: int = 0

    async def batches(self, job_id: int, run_id: int) -> AsyncGenerator[Sequence[RejectRecord], None]:
        if self.down:
            raise AudienceUnavailableError("ConnectionRefusedError: audience down")
        found = sorted(self.rows.get((job_id, run_id), []), key=lambda r: r.line_number)
        self.open_batches += 1
        try:
            for start in range(0, len(found), self.batch_rows):
                yield found[start : start + self.batch_rows]
        finally:
            self.open_batches -= 1


@dataclass
class FakeProfileRows:
    """The rows of each list's and PET's table by (kind, exact name), in `RIID_` order; a table not in `tables`
    was not created yet (no rows)."""

    tables: dict[tuple[ProfileTable, str], list[dict[str, object]]] = field(default_factory=dict)
    queries: list[AudienceQuery] = field(default_factory=list)
    down: bool = False

    def _rows(self, kind: ProfileTable, name: str) -> list[dict[str, object]]:
        if self.down:
            raise AudienceUnavailableError("ConnectionRefusedError: audience down")
        return self.tables.get((kind, name), [])

    async def preview(self, kind: ProfileTable, name: str, limit: int) -> list[dict[str, object]]:
        return self._rows(kind, name)[:limit]

    async def count(self, kind: ProfileTable, name: str) -> int:
        return len(self._rows(kind, name))

    async def audience_rows(self, query: AudienceQuery, limit: int) -> list[dict[str, object]]:
        """Audiences run SQL: the fake keeps the query it was asked and holds no rows (their rows are tested on
        PostgreSQL, `tests/integration/runtime/test_audiences_sql.py` and the e2e test)."""
        self.queries.append(query)
        return []

    async def audience_count(self, query: AudienceQuery) -> int:
        self.queries.append(query)
        return 0


@dataclass
class World:
    """The fakes behind one app."""

    bus: FakeBus
    credentials: FakeCredentials
    host_keys: FakeHostKeys
    reads: FakeReads
    client: httpx.AsyncClient  # authenticated as the admin `ada`
    identity: InMemoryIdentityStore
    tokens: dict[Role, str]  # an API token of one user per role
    app: FastAPI
    rejects: FakeRejects = field(default_factory=FakeRejects)
    profiles: FakeProfileRows = field(default_factory=FakeProfileRows)
    user_private_key: str = ""  # set by tests that create jobs

    def client_as(self, role: Role | None, **kwargs: Any) -> httpx.AsyncClient:
        """Another client on the same app: with a token of `role`'s user, or anonymous when None."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role is not None else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://gateway.test", headers=headers, **kwargs
        )


# The users every gateway unit test has, one per role, with API tokens (names say the role).
USERS: dict[Role, str] = {
    Role.VIEWER: "vera",
    Role.OPERATOR: "otto",
    Role.DATA_DIRECTOR: "dora",
    Role.ADMIN: "ada",
}
PASSWORD = "a long enough test password"


def job_body(private_key: str | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Import stores",
        "description": "nightly",
        "type": "import_custom_table",
        "source": {"host": "sftp.example.com", "port": 2222, "user": "acme", "path": "upload/stores.csv"},
        "file": {"delimiter": ";", "qualifier": '"', "header": True, "encoding": "iso-8859-1"},
        "target": {"table": "Stores", "write_mode": "append", "insert_on_no_match": True, "update_on_match": False},
        "mapping": [{"source": "id", "target": "STORE_ID"}, {"source": "city", "target": "CITY"}],
        "activate": True,
    }
    if private_key is not None:
        body["source"]["private_key"] = private_key
    body.update(changes)
    return body


def stored_job(
    world: World, job_id: int = 7, host: str = "sftp.example.com", port: int = 2222, version: int = 3
) -> JobRecord:
    location = SftpLocation(
        host=host,
        port=port,
        user="acme",
        path="upload/old.csv",
        credential_ref=UUID("00000000-0000-0000-0000-00000000000a"),
        host_key="ssh-ed25519 AAAAold",
        host_key_fingerprint="SHA256:old",
    )
    settings = ImportCustomTable(source=location, table="Stores", mapping=())
    record = JobRecord(
        job_id=job_id,
        name="Import stores",
        description="",
        job_type="import_custom_table",
        state="inactive",
        schedule_type="on_demand",
        version=version,
        expires_at=None,
        created_at=NOW,
        created_by="ann",
        updated_at=NOW,
        updated_by="ann",
        last_run_id=None,
        definition=JobDefinition(name="Import stores", settings=settings),
    )
    world.reads.jobs.append(record)
    return record
