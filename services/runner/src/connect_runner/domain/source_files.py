"""What a run knows about its source file, wherever it came from (an external SFTP server or the hosted tree)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from connect_events import FileLocation
from connect_runner.domain.failures import RunFailure
from connect_runtime.vault import Credential

Progress = Callable[[int, int | None], None]  # bytes so far, total bytes when known
Checkpoint = Callable[[], Awaitable[None]]  # raises when the run was asked to stop


@dataclass(frozen=True)
class Source:
    """Where a job reads: the location, and the credential an external server needs (None: hosted)."""

    location: FileLocation
    credential: Credential | None


@dataclass(frozen=True)
class FetchedFile:
    """A file copied into the run's work folder.

    `remote_path` names it as the job does (on the server, or under the account's root); `sha256` is the hex
    digest of its bytes as stored (before decompression); `expected_rows` is what its count file says, when
    the job asks for one; `companions` are the count and ready files found beside it (archived with it);
    `stamp` tells this version of the file from another stored under its name later (its size and modification
    time, and on the hosted tree its inode): the archive step moves the file only while it is unchanged.
    """

    local_path: Path
    remote_path: str
    size: int
    sha256: str
    expected_rows: int | None = None
    companions: tuple[str, ...] = ()
    stamp: tuple[int, ...] = ()
    downloaded: bool = True  # False: `local_path` is not there (an archive step carried out after a restart)


@dataclass(frozen=True)
class PendingArchive:
    """An archive step due after a run's end: the file as the run read it, where it goes, and whether it is moved
    or copied. Kept in the transaction that ends the run and dropped once done, so a runner that dies in between
    leaves it to the next delivery of the run's request, or to the reaper's sweep when none comes."""

    remote_path: str
    companions: tuple[str, ...]
    stamp: tuple[int, ...]
    folder: str
    prefix: str
    move: bool

    def file(self, fetched: FetchedFile | None) -> FetchedFile:
        """The file to archive: the run's own download when it has one, else the file as the server has it."""
        if fetched is not None:
            return fetched
        return FetchedFile(Path(), self.remote_path, 0, "", None, self.companions, self.stamp, downloaded=False)


def changed_since_read(path: str) -> RunFailure:
    """The archive step's refusal to move a file that is no longer the one the run read."""
    return RunFailure(
        "LOAD_FAILED", f"'{path}' changed after the run read it (a newer file of that name?); it is left in place"
    )


def local_name(stem: str, remote_path: str) -> str:
    """The download's name in the work folder: `stem`, keeping a compression suffix so the reader knows how to
    open it."""
    lowered = remote_path.lower()
    return stem + next((s for s in (".gz", ".zip") if lowered.endswith(s)), ".csv")
