"""Companion files (spec §4.1): a count file and a ready file named after the data file plus `.` and their
extension (`customers.csv.gz` → `customers.csv.gz.cnt`), in the same folder."""

from __future__ import annotations

import posixpath
import re

from connect_events import FileRules
from connect_runner.domain.failures import RunFailure

# A row count is a few digits; anything longer is not one, and is not read further.
MAX_COUNT_FILE_BYTES = 64
_COUNT = re.compile(r"[0-9]+")


def companion(path: str, extension: str) -> str:
    """The companion of the data file at `path` with `extension` (given without a dot, as jobs save it)."""
    return f"{path}.{extension}"


def companions(path: str, rules: FileRules) -> tuple[str, ...]:
    """The companions the job asks for beside the data file at `path`: its count file, then its ready file."""
    return tuple(companion(path, ext) for ext in (rules.count_file, rules.ready_file) if ext is not None)


def is_companion(name: str, rules: FileRules) -> bool:
    """Whether a file name is a companion file of the job's kinds, which a `*` pattern never picks as data."""
    return any(name.endswith(f".{ext}") for ext in (rules.count_file, rules.ready_file) if ext is not None)


def row_count(data: bytes, path: str) -> int:
    """The number a count file holds: its text, trimmed, is a non-negative integer (a byte-order mark allowed)."""
    try:
        text = data.decode("utf-8-sig").strip() if len(data) <= MAX_COUNT_FILE_BYTES else ""
    except UnicodeDecodeError:
        text = ""
    if not _COUNT.fullmatch(text):
        raise RunFailure("COUNT_MISMATCH", f"the count file '{path}' does not hold a row count")
    return int(text)


def count_file_missing(path: str, data_path: str) -> RunFailure:
    """The failure of a job whose count file is not beside its data file."""
    return RunFailure("FILE_NOT_FOUND", f"no count file '{path}' beside '{data_path}'")


def ready_timeout(pattern_path: str, found: str | None, extension: str, timeout_s: int) -> RunFailure:
    """The failure of a run that waited `timeout_s` for its data file (`found`, None when none matched the
    pattern) and its ready file."""
    wait = duration(timeout_s)
    if found is None:
        return RunFailure(
            "READY_FILE_TIMEOUT",
            f"no file matching '{pattern_path}' with its ready file (.{extension}) appeared within {wait}",
        )
    ready = companion(found, extension)
    return RunFailure("READY_FILE_TIMEOUT", f"the ready file '{ready}' did not appear within {wait}")


def duration(seconds: int) -> str:
    """A wait in words: whole hours or minutes when it is one, else seconds."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def archived_name(folder: str, prefix: str, path: str) -> str:
    """Where an archived file goes: `folder`/`prefix` + its own name."""
    return posixpath.join(folder, prefix + posixpath.basename(path))
