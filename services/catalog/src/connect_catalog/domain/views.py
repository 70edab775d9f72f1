"""What the projection needs to know about the read model before applying an event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connect_events import TERMINAL, RunStatus


@dataclass(frozen=True)
class JobView:
    """The projected job's aggregate version and its definition as stored (JSON), to tell what an edit changed."""

    version: int
    definition: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunView:
    """The projected run's status, latest attempt (0 before any attempt started), whether a user asked it to
    stop, and its job's type (null for runs projected before it was kept)."""

    status: RunStatus
    attempt: int
    stop_requested: bool = False
    job_type: str | None = None

    @property
    def exports(self) -> bool:
        """Whether the run writes rows out (its counters are rows and bytes written)."""
        return self.job_type in ("export_file", "export_api")

    @property
    def ended(self) -> bool:
        """Whether the run reached a terminal status (the shared table allows nothing after one)."""
        return self.status in TERMINAL


@dataclass(frozen=True)
class GroupView:
    """The projected group's aggregate version."""

    version: int


@dataclass(frozen=True)
class GroupRunView:
    """The projected group run's status and aggregate version."""

    status: RunStatus
    version: int

    @property
    def ended(self) -> bool:
        """Whether the group run has ended (an ended status is final)."""
        return self.status in TERMINAL


@dataclass(frozen=True)
class Subject:
    """Which rows an event touches, so the adapter loads exactly those before projecting."""

    job_id: int | None = None
    run: tuple[int, int] | None = None
    group_id: int | None = None
    group_run: tuple[int, int] | None = None

    @property
    def job(self) -> int | None:
        """The job whose rows the event may read or write: job events touch it, run events its `last_run_id`."""
        if self.job_id is not None:
            return self.job_id
        return None if self.run is None else self.run[0]


@dataclass(frozen=True)
class Snapshot:
    """The current rows for an event's subject (None: not projected yet)."""

    job: JobView | None = None
    run: RunView | None = None
    group: GroupView | None = None
    group_run: GroupRunView | None = None
