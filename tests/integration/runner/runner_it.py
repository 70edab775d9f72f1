"""Helpers for the runner's integration tests: one test's world, reading back tables, rejects, ledger and outbox."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from connect_events import (
    RUNS_TOPIC,
    RunEvent,
    RunFailed,
    RunLogged,
    RunLoggedPayload,
    RunRequested,
    RunSucceeded,
    SftpLocation,
    TableSpec,
    decode,
)
from connect_runner.domain.run import Attempt, BeginAttempt, decide
from connect_runner.handlers import execute_run
from connect_runner.ports import RunDeps
from connect_runtime.vault import Credential, CredentialKind, Vault
from tests.conftest import SftpServer
from tests.unit.runner.runner_builders import location, people_table, run_request

PEOPLE_HEADER = "id,name,score,active,born,seen\n"
ANN = PEOPLE_HEADER + "1,Ann,,,,\n"
"""A people file of one row."""


def sftp_location(server: SftpServer, path: str, key_ref: Any, **overrides: Any) -> Any:
    options = {"host": server.host, "port": server.port, "user": server.user, "host_key": server.host_key}
    return location(path, key_ref, **{**options, **overrides})


async def table_rows(pool: asyncpg.Pool, table: TableSpec | str, order: str = "1") -> list[dict[str, Any]]:
    name = table if isinstance(table, str) else table.name
    quoted = '"' + name.replace('"', '""') + '"'
    return [dict(r) for r in await pool.fetch(f"SELECT * FROM custom.{quoted} ORDER BY {order}")]


async def rejects(pool: asyncpg.Pool, job_id: int, run_id: int) -> list[tuple[int, str, str | None]]:
    rows = await pool.fetch(
        "SELECT line_no, reason, raw_line FROM run_rejects WHERE job_id = $1 AND run_id = $2 ORDER BY line_no",
        job_id,
        run_id,
    )
    return [(r["line_no"], r["reason"], r["raw_line"]) for r in rows]


async def run_events(pool: asyncpg.Pool, job_id: int, run_id: int) -> list[RunEvent]:
    """The run's events still in the outbox (no relay runs in these tests), oldest first."""
    rows = await pool.fetch("SELECT value FROM outbox WHERE topic = $1 ORDER BY id", RUNS_TOPIC)
    found = [decode(RUNS_TOPIC, bytes(r["value"])) for r in rows]
    wanted = f"{job_id}.{run_id}"
    return [e for e in found if isinstance(e, RunEvent) and e.aggregate_id == wanted]


def succeeded(event: RunEvent | None) -> RunSucceeded:
    assert isinstance(event, RunSucceeded), event
    return event


def failed(event: RunEvent | None) -> RunFailed:
    assert isinstance(event, RunFailed), event
    return event


async def staging_tables(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'runner_stage' ORDER BY 1")
    return [r["tablename"] for r in rows]


@dataclass(frozen=True)
class RunnerWorld:
    """What a runner test works with: deps, the audience pool, the vault, the SFTP server and its key in the
    vault, a folder of its own there, a job id and a name suffix no other test uses, and a hosted file tree."""

    deps: RunDeps
    pool: asyncpg.Pool
    vault: Vault
    server: SftpServer
    key_ref: UUID
    remote_dir: Path
    job_id: int
    unique: str
    files_root: Path

    def put(self, name: str, content: str | bytes, encoding: str = "utf-8") -> str:
        """Write a file on the SFTP server; returns its absolute path there."""
        path = self.remote_dir / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return str(path)

    def host(self, path: str, content: str | bytes) -> str:
        """Write a file into the hosted tree (folders made as needed); returns `path`, as a job names it."""
        local = self.files_root / path
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    def table(self, prefix: str = "people") -> TableSpec:
        """The people table, named `{prefix}_{unique}`."""
        return people_table(f"{prefix}_{self.unique}")

    def source(self, path: str, key_ref: UUID | None = None, **overrides: Any) -> SftpLocation:
        """`path` on the SFTP server, read with `key_ref` (the server's key unless given)."""
        return sftp_location(self.server, path, key_ref or self.key_ref, **overrides)

    def request(
        self, run_id: int, where: str | SftpLocation, table: TableSpec | None = None, **settings: Any
    ) -> RunRequested:
        """A request of this test's job to load `where` (a path on the server, or a whole location)."""
        source = self.source(where) if isinstance(where, str) else where
        return run_request(self.job_id, run_id, source=source, table=table, **settings)

    async def run(
        self,
        run_id: int,
        where: str | SftpLocation,
        table: TableSpec | None = None,
        *,
        deps: RunDeps | None = None,
        **settings: Any,
    ) -> RunEvent | None:
        """Execute `request(run_id, where, table, **settings)` with this world's deps (or `deps`): its terminal
        event, or None while it waits for its next attempt."""
        return await self.execute(self.request(run_id, where, table, **settings), deps)

    async def execute(self, request: RunRequested, deps: RunDeps | None = None) -> RunEvent | None:
        """Execute `request` with this world's deps (or `deps`): as `execute_run`."""
        return await execute_run(request, deps or self.deps)

    async def crashed_attempt(self, request: RunRequested, runner: str = "gone:1") -> Attempt:
        """An attempt that a runner began and never ended (it was killed): recorded, nothing else."""
        ledger = self.deps.ledger
        async with ledger.transaction() as tx:
            state = await ledger.load(tx, request)
            command = BeginAttempt(runner=runner, now=request.occurred_at, max_attempts=self.deps.max_attempts + 1)
            state = await ledger.record(tx, state, decide(state, command))
        assert state.attempt is not None
        return state.attempt

    async def credential(self, kind: CredentialKind, secret: str) -> UUID:
        """Store another credential in the vault; returns its reference."""
        ref = uuid4()
        await self.vault.store(ref, Credential(kind=kind, secret=secret))
        return ref

    async def rows(self, table: TableSpec | str, order: str = "1") -> list[dict[str, Any]]:
        return await table_rows(self.pool, table, order)

    async def names(self, table: TableSpec | str) -> list[tuple[int, str]]:
        """(id, name) of every row of a people table, by id."""
        return [(r["id"], r["name"]) for r in await self.rows(table)]

    async def rejects(self, run_id: int) -> list[tuple[int, str, str | None]]:
        return await rejects(self.pool, self.job_id, run_id)

    async def events(self, run_id: int) -> list[RunEvent]:
        return await run_events(self.pool, self.job_id, run_id)

    async def log_entries(self, run_id: int) -> list[RunLoggedPayload]:
        """The run's execution log, in order."""
        return [e.payload for e in await self.events(run_id) if isinstance(e, RunLogged)]

    async def ledger_status(self, run_id: int) -> str | None:
        return await self.pool.fetchval(
            "SELECT status FROM run_ledger WHERE job_id = $1 AND run_id = $2", self.job_id, run_id
        )

    async def staging(self, run_id: int | None = None) -> list[str]:
        """This job's staging tables (of one run, if given) still in the database."""
        prefix = f"s_{self.job_id}_" if run_id is None else f"s_{self.job_id}_{run_id}_"
        return [t for t in await staging_tables(self.pool) if t.startswith(prefix)]
