"""What can make a downloaded file unreadable as a whole, in the runner's own words.

These are structural problems (a damaged archive, a file cut short, a value past the size limit) that leave
no sensible way to go on reading records, so they fail the run with `FILE_INVALID`: the file itself is the
problem, so it is archived rather than left for the next run (`FILE_PROBLEMS`). A bad row is not one of them:
a NUL byte or bytes that are not valid in the file's encoding reject that row only (see `csv_source`).

The exceptions' own text (zipfile, gzip, zlib, the csv module) is never passed on: each kind maps to a fixed
sentence naming the file as the job names it, and the line the reader had reached.
"""

from __future__ import annotations

import csv
import lzma
import zipfile
import zlib

from connect_runner.domain.failures import RunFailure

FIELD_SIZE_LIMIT = 16 * 1024 * 1024  # characters; the csv module's default (128 Ki) would fail long text values
COMPRESSED_SUFFIXES = (".gz", ".zip")


def empty_failure(label: str) -> RunFailure:
    """A file that should start with a header row holds nothing at all."""
    return RunFailure("FILE_INVALID", f"'{label}' is empty: no header row")


def archive_failure(label: str, entries: int) -> RunFailure:
    """A zip archive must hold exactly one file."""
    return RunFailure("FILE_INVALID", f"'{label}' holds {entries} files; expected exactly one")


def encrypted_failure(label: str) -> RunFailure:
    """Encrypted zip entries cannot be read: the runner has no password for them."""
    return RunFailure("FILE_INVALID", f"'{label}' is encrypted; the runner reads only unencrypted archives")


def read_failure(exc: BaseException, label: str, line: int | None = None) -> RunFailure | None:
    """The failure a reading error means, or None when it is not a problem of the file (a bug: re-raise it)."""
    near = f" near line {line}" if line else ""
    compressed = label.lower().endswith(COMPRESSED_SUFFIXES)
    if isinstance(exc, zipfile.BadZipFile | zipfile.LargeZipFile):
        return RunFailure("FILE_INVALID", f"'{label}' is not a readable zip archive (damaged, or not a zip file)")
    if isinstance(exc, NotImplementedError) and label.lower().endswith(".zip"):
        return RunFailure("FILE_INVALID", f"'{label}' is compressed with a method the runner cannot read")
    if isinstance(exc, EOFError):
        return RunFailure("FILE_INVALID", f"'{label}' ends before its compressed data does (it was cut short)")
    if isinstance(exc, zlib.error | lzma.LZMAError) or (isinstance(exc, OSError) and compressed):
        return RunFailure("FILE_INVALID", f"'{label}' is not a readable compressed file (damaged, or not compressed)")
    if isinstance(exc, OSError):
        return RunFailure("INTERNAL", f"the runner could not read its downloaded copy of '{label}'")
    if isinstance(exc, csv.Error):
        return RunFailure("FILE_INVALID", _csv_sentence(exc, label, near))
    if isinstance(exc, UnicodeError):
        return RunFailure("FILE_INVALID", f"'{label}' cannot be decoded{near}")
    return None


def _csv_sentence(exc: csv.Error, label: str, near: str) -> str:
    # With the settings the runner uses (non-strict, lines split by the reader's own rules) the csv module
    # raises only for a field past the size limit; its words are looked at to tell, never passed on.
    if "field limit" in str(exc):
        limit = csv.field_size_limit()  # called without a value, it only tells the one in force
        return f"a value in '{label}'{near} is longer than the limit of {limit:,} characters"
    return f"'{label}' cannot be read as CSV{near}"
