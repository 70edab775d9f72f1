"""Each runner process's own download folder, under a root that several runners (containers) may share.

Liveness is decided by a lock, not a PID: PIDs repeat across containers (every one may be PID 1), so a PID
check could delete a live runner's downloads. A process holds an exclusive `flock` on its folder's lock file
for as long as it lives; the kernel drops it when the process dies, however it dies. A folder whose lock can
be taken therefore belongs to nobody and is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "runner-"
LOCK_FILE = ".lock"
# Held while folders are created and swept, so a sweep never sees a folder whose owner has not locked it yet.
ROOT_LOCK_FILE = ".sweep.lock"


@contextlib.contextmanager
def claimed_work_dir(root: Path) -> Iterator[Path]:
    """A new download folder under `root`, locked for as long as the block runs, then removed.

    Folders of runners that are gone (killed ones leave theirs behind) are removed first.
    """
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ROOT_LOCK_FILE):
        _sweep(root)
        mine = root / f"{PREFIX}{uuid.uuid4().hex}"
        mine.mkdir()
        fd = _try_lock(mine / LOCK_FILE)
    if fd is None:
        raise RuntimeError(f"cannot lock the new download folder {mine}")
    try:
        yield mine
    finally:
        shutil.rmtree(mine, ignore_errors=True)
        os.close(fd)


def _sweep(root: Path) -> None:
    for folder in root.glob(f"{PREFIX}*"):
        if not folder.is_dir():
            continue
        fd = _try_lock(folder / LOCK_FILE)
        if fd is None:
            continue  # its runner is alive
        try:
            shutil.rmtree(folder, ignore_errors=True)
            log.info("download folder of a stopped runner removed", extra={"folder": str(folder)})
        finally:
            os.close(fd)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding the exclusive lock on `path` (created if missing); None when it is held,
    or cannot be opened (the folder went away meanwhile, or belongs to a runner running as another user)."""
    try:
        fd = _open(path)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _open(path: Path) -> int:
    # Read-only is enough for flock, and readable by all, so runners running as other users can test it too.
    return os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
