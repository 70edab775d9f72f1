"""Source file names: date tokens (`%YYYY%` …, in the job's time zone) and `*`; when several files match, the
oldest is taken."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from connect_events import JobDefinition, TimedSchedule

TOKENS = {"%YYYY%": "%Y", "%MM%": "%m", "%DD%": "%d", "%HH%": "%H", "%MI%": "%M", "%SS%": "%S"}


@dataclass(frozen=True)
class FilePattern:
    """A rendered path: its folder and a file name that may contain `*`."""

    folder: str
    name: str

    @property
    def path(self) -> str:
        """The rendered path as the user would read it (used in "no file matching …")."""
        return posixpath.join(self.folder, self.name) if self.folder else self.name

    @property
    def is_wildcard(self) -> bool:
        """True when the name needs a directory listing to resolve."""
        return "*" in self.name

    def matches(self, candidate: str) -> bool:
        """Whether a file name in the folder matches (`*` is any run of characters; nothing else is special)."""
        regex = ".*".join(re.escape(part) for part in self.name.split("*"))
        return re.fullmatch(regex, candidate, flags=re.DOTALL) is not None


def render(path: str, when: datetime, zone: str) -> FilePattern:
    """Replace the date tokens with the fields of `when` (an aware time: the run's request time, so every retry
    reads one file) as the wall clock of `zone` (an IANA name: the job's, see `job_zone`) shows it."""
    local = when.astimezone(ZoneInfo(zone))
    for token, directive in TOKENS.items():
        path = path.replace(token, local.strftime(directive))
    folder, name = posixpath.split(path)
    return FilePattern(folder=folder, name=name)


def job_zone(definition: JobDefinition) -> str:
    """The time zone a job's date tokens are rendered in: its schedule's, UTC for on-demand jobs."""
    return definition.schedule.time_zone if isinstance(definition.schedule, TimedSchedule) else "UTC"


def oldest(pattern: FilePattern, files: Iterable[tuple[str, float]]) -> str | None:
    """The matching name with the oldest modification time (ties: by name), or None."""
    matching = sorted((mtime, name) for name, mtime in files if pattern.matches(name))
    return matching[0][1] if matching else None
