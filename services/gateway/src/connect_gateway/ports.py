"""What the gateway's use cases need from the outside world; adapters and test fakes implement these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from connect_events import Command, CommandAccepted, CommandRejected
from connect_gateway.domain.secrets import Secret
from connect_gateway.read_models import (
    CommandRecord,
    JobQuery,
    JobRecord,
    JobSummary,
    LogLine,
    RunQuery,
    RunRecord,
    TableRecord,
)

Reply = CommandAccepted | CommandRejected


class CommandNotSentError(Exception):
    """The message bus refused the command outright: it was not sent."""


class CommandSendTimeoutError(Exception):
    """The bus did not acknowledge the command in time: it may or may not be applied later."""


class HostUnreachableError(Exception):
    """No SSH handshake with the server (refused, unknown host, timeout, not SSH)."""


class ReadModelsUnavailableError(Exception):
    """The catalog database cannot answer."""


class CommandBus(Protocol):
    """Sends a command and waits for the scheduler's reply."""

    def ready(self) -> bool:
        """Whether replies can be received (the reply listener holds its positions)."""
        ...

    async def submit(self, command: Command, timeout_s: float) -> Reply | None:
        """The reply, or None when none came within `timeout_s`."""
        ...


class CredentialStore(Protocol):
    """The vault, as far as the gateway writes it."""

    async def store(self, ref: UUID, secret: Secret) -> None:
        """Store `secret` encrypted under `ref`."""
        ...

    async def delete(self, ref: UUID) -> None:
        """Remove a credential (a refused command must leave nothing behind)."""
        ...

    async def ping(self) -> None:
        """Raise when the vault database cannot be reached."""
        ...


class HostKeyScanner(Protocol):
    """Reads an SSH server's host key over the network."""

    async def fetch(self, host: str, port: int) -> str:
        """The server's public host key as an OpenSSH line; raises `HostUnreachableError`."""
        ...


class ReadStore(Protocol):
    """The catalog read models."""

    async def ping(self) -> None:
        """Raise when the catalog database cannot be reached."""
        ...

    async def list_tables(self) -> list[TableRecord]:
        """All custom tables, by name."""
        ...

    async def get_table(self, name: str) -> TableRecord | None:
        """The table called `name` (case-insensitive)."""
        ...

    async def list_jobs(self, query: JobQuery) -> list[JobSummary]:
        """Jobs that are not deleted, by job id."""
        ...

    async def get_job(self, job_id: int) -> JobRecord | None:
        """A job that is not deleted."""
        ...

    async def list_runs(self, query: RunQuery) -> list[RunRecord]:
        """Runs, newest first."""
        ...

    async def get_run(self, job_id: int, run_id: int) -> RunRecord | None:
        """One run."""
        ...

    async def run_log(self, job_id: int, run_id: int) -> list[LogLine]:
        """A run's log entries in order."""
        ...

    async def get_command(self, command_id: UUID) -> CommandRecord | None:
        """The recorded reply to a command; None while none has been recorded."""
        ...


@dataclass(frozen=True)
class Deps:
    """Everything the HTTP layer and the use cases use; `bootstrap.connect` builds the real ones."""

    commands: CommandBus
    reads: ReadStore
    credentials: CredentialStore
    host_keys: HostKeyScanner
    reply_timeout_s: float = 10.0
