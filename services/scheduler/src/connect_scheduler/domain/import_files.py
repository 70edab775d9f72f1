"""Where an import reads its file and what happens around it (spec §2, §4.1, §4.5): the source location, the
companion files and archive folder (`FileRules`), and the reject and volume limits (`Limits`).

One path rule serves both kinds of source: a single-line path whose last segment names a file, where `*`
(any run of characters) may appear only in that file name, as the runner matches only names; the date tokens
(`%YYYY%` …) may appear anywhere. A hosted path must also pass the hosted tree's own rule
(`connect_runtime.hosted_files.segments`), whose messages never quote the path.
"""

from __future__ import annotations

import posixpath
import re

from connect_events import FieldError, FileLocation, FileRules, HostedLocation, Limits, SftpLocation
from connect_events.values import control_problem, host_problem, storable_problem
from connect_runtime.hosted_files import PathRefusedError, segments

MAX_PORT = 65535
MAX_READY_TIMEOUT_S = 86400
EXTENSION = re.compile(r"[A-Za-z0-9_-]{1,16}")


def source_errors(source: FileLocation, field: str = "settings.source") -> list[FieldError]:
    """The location's own rules: an external server's address and pinned key, or a path in the hosted tree; the
    errors name the location's `field` (an export's `settings.destination`)."""
    if isinstance(source, HostedLocation):
        problem = _path_problem(source.path, hosted=True)
        return [] if problem is None else [FieldError(field=f"{field}.path", message=problem)]
    return _sftp_errors(source, field, _path_problem(source.path, hosted=False))


def folder_source_errors(source: SftpLocation, field: str = "settings.source") -> list[FieldError]:
    """An external server whose `path` is a folder (an analytics feed's): no `*`, no file name required."""
    problem = control_problem(source.path) or _required("path", source.path)
    if problem is None and "*" in source.path:
        problem = "names a folder: `*` is not allowed"
    return _sftp_errors(source, field, problem)


def _sftp_errors(source: SftpLocation, field: str, path_problem: str | None) -> list[FieldError]:
    """An external server's address, user and pinned key, with the `path_problem` its path rule found."""
    problems = [
        ("host", control_problem(source.host) or _required("host", source.host) or host_problem(source.host)),
        ("user", control_problem(source.user) or _required("user", source.user)),
        ("path", path_problem),
        ("port", None if 1 <= source.port <= MAX_PORT else f"must be 1 to {MAX_PORT}"),
        # The pinned key is data, not a single-line name: it only has to be storable.
        ("host_key", storable_problem(source.host_key)),
        ("host_key_fingerprint", storable_problem(source.host_key_fingerprint)),
    ]
    return [FieldError(field=f"{field}.{name}", message=problem) for name, problem in problems if problem]


def _required(field: str, value: str) -> str | None:
    return None if value.strip() else f"{field} is required"


def _path_problem(path: str, *, hosted: bool) -> str | None:
    if problem := control_problem(path) or _required("path", path):
        return problem
    if hosted:
        try:
            segments(path)
        except PathRefusedError as exc:
            return str(exc)
    folder, name = posixpath.split(path)
    if not name:
        return "must end with a file name, not a folder"
    if "*" in folder:
        return "`*` may appear in the file name only, not in its folders"
    return None


def file_rules_errors(rules: FileRules, source: FileLocation) -> list[FieldError]:
    """Companion-file extensions (1-16 letters, digits, `_` or `-`, not the same for both), a ready timeout of a
    second to a day, and an archive folder (a relative folder path) other than the one the file is read from:
    an archived file left there would be read again by a `*` pattern."""
    errors = companion_errors(rules.count_file, rules.ready_file)
    if not 1 <= rules.ready_timeout_s <= MAX_READY_TIMEOUT_S:
        message = f"between 1 and {MAX_READY_TIMEOUT_S} seconds"
        errors.append(FieldError(field="settings.files.ready_timeout_s", message=message))
    if rules.archive_folder is not None:
        problem = _archive_problem(rules.archive_folder, source)
        errors += [] if problem is None else [FieldError(field="settings.files.archive_folder", message=problem)]
    return errors


def companion_errors(count: str | None, ready: str | None) -> list[FieldError]:
    """The count and ready files' extensions (`settings.files`): 1-16 letters, digits, `_` or `-`, not the same
    for both."""
    errors: list[FieldError] = []
    for field, extension in (("count_file", count), ("ready_file", ready)):
        if extension is not None and not EXTENSION.fullmatch(extension):
            message = "give the extension only (no dot): 1 to 16 letters, digits, _ or -"
            errors.append(FieldError(field=f"settings.files.{field}", message=message))
    if count is not None and ready is not None and count.lower() == ready.lower():
        errors.append(FieldError(field="settings.files.ready_file", message="must differ from the count file's"))
    return errors


def _archive_problem(folder: str, source: FileLocation) -> str | None:
    if problem := control_problem(folder):
        return problem
    try:
        archive = segments(folder)
    except PathRefusedError as exc:
        return str(exc)
    if archive == _source_folder(source):
        return "must not be the folder the source file is read from"
    return None


def _source_folder(source: FileLocation) -> tuple[str, ...] | None:
    """The segments of the folder the source file is read from, relative like an archive folder; None when it
    cannot be compared (an absolute path on an external server)."""
    folder = posixpath.dirname(source.path)
    if folder.startswith("/"):
        return None
    return tuple(part for part in folder.split("/") if part not in ("", "."))


def limits_errors(limits: Limits) -> list[FieldError]:
    """Counts are 0 or more, the percentage 0 to 100, and the volume gates leave room for a file."""
    errors = [
        FieldError(field=f"settings.limits.{field}", message="must be 0 or more")
        for field, value in (
            ("max_rejected_rows", limits.max_rejected_rows),
            ("min_rows", limits.min_rows),
            ("max_rows", limits.max_rows),
        )
        if value is not None and value < 0
    ]
    percent = limits.max_rejected_percent
    if percent is not None and not 0 <= percent <= 100:  # also refuses NaN
        errors.append(FieldError(field="settings.limits.max_rejected_percent", message="between 0 and 100"))
    if limits.min_rows is not None and limits.max_rows is not None and limits.min_rows > limits.max_rows:
        errors.append(FieldError(field="settings.limits.min_rows", message="must not be more than max_rows"))
    return errors
