"""The header line of a file in the account's tree, for auto-mapping (a blocking call: run it in a thread).

Only the start of the file is read, decompressed (`.gz`, or a `.zip` of one file, by name as the runner
decides) and at most `MAX_HEADER_BYTES` of it, so a large or hostile file costs no more than that. The
decompressors' and the csv module's own texts are never passed on: each failure has our words.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from connect_events import CsvSettings
from connect_gateway.files.area import AreaError, open_file
from connect_runtime.compressed import ArchiveRefusedError, compression, single_entry

MAX_HEADER_BYTES = 1024 * 1024


class HeaderError(AreaError):
    """The file has no header line that can be read with the settings given."""


def read_header(root: Path, path: str, settings: CsvSettings) -> list[str]:
    """The names of the file's first record; raises `HeaderError` or the tree's errors (`area`)."""
    handle, _size = open_file(root, path)
    with handle:
        try:
            with _decompressed(handle, path) as stream:
                start = stream.read(MAX_HEADER_BYTES + 1)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError):
            kind = compression(path)
            if kind is None:
                raise  # the disk's own failure, not the file's
            raise HeaderError(f"{path} is not a readable {kind} file") from None
    return _first_record(start, path, settings)


@contextlib.contextmanager
def _decompressed(handle: BinaryIO, path: str) -> Iterator[io.BufferedIOBase | IO[bytes]]:
    kind = compression(path)
    if kind == "gzip":
        with gzip.GzipFile(fileobj=handle, mode="rb") as unzipped:
            yield unzipped
    elif kind == "zip":
        with zipfile.ZipFile(handle) as archive:
            try:
                found = single_entry(archive)
            except ArchiveRefusedError as exc:
                if exc.encrypted:
                    raise HeaderError(f"{path} is encrypted") from None
                raise HeaderError(f"{path} holds {exc.entries} files; a zip file must hold exactly one") from None
            with archive.open(found) as entry:
                yield entry
    else:
        yield handle


def _first_record(start: bytes, path: str, settings: CsvSettings) -> list[str]:
    """The first record of the file that begins with `start` (more follows when it is longer than the limit)."""
    cut = len(start) > MAX_HEADER_BYTES
    encoding = "utf-8-sig" if settings.encoding == "utf-8" else settings.encoding  # with or without a BOM
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(start[:MAX_HEADER_BYTES], final=not cut)
    lines = io.StringIO(text, newline="")
    try:
        record = next(_reader(lines, settings), None)
    except csv.Error:
        raise HeaderError(f"the header line of {path} cannot be read with these file settings") from None
    if record is None:
        raise HeaderError(f"{path} is empty")
    if cut and not lines.read(1):
        raise HeaderError(f"the header line of {path} is longer than {MAX_HEADER_BYTES} bytes")
    if any("\ufffd" in name for name in record):
        raise HeaderError(f"the header line of {path} is not {settings.encoding} text")
    return record


def _reader(lines: io.StringIO, settings: CsvSettings) -> Iterator[list[str]]:
    """As the runner reads the file; a name longer than the csv module's field limit (128 KiB in the gateway,
    which keeps the default) is an error."""
    if settings.qualifier:
        return csv.reader(lines, delimiter=settings.delimiter, quotechar=settings.qualifier, doublequote=True)
    return csv.reader(lines, delimiter=settings.delimiter, quoting=csv.QUOTE_NONE)
