"""Staging a clean file with PostgreSQL's own CSV COPY: the file's bytes go to the server as they are, and the
server parses them (several times faster than the `csv` module and binary COPY of Python values).

Only where that is exact (`copyable`, and `CopyCheck` on every chunk): the values a job reads its own way, files
without a qualifier and UTF-16 files are always parsed in Python. Whatever COPY refuses (a wrong field count, a
blank line, mixed line breaks, bytes invalid in the encoding, an unterminated quote) makes the caller parse the
whole file in Python instead, which rejects the rows concerned with their line numbers; nothing of the COPY
stays (it runs in one transaction with the table's creation). So a COPY only ever stages files without
reading rejects, and their records are numbered by position: the later second pass over the file maps the
numbers of rejected rows to lines (`raw_records`).
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO

import asyncpg

from connect_events import CsvSettings
from connect_runner.adapters.csv_source import open_binary
from connect_runner.adapters.file_failures import FIELD_SIZE_LIMIT, read_failure
from connect_runner.domain.copy_check import CopyCheck, CopyRefusedError
from connect_runner.domain.plan import LoadPlan
from connect_runner.domain.statements import STAGING_SCHEMA, Staging, affected_rows, create_copy_staging, trim_staged
from connect_runner.domain.value_formats import value_reader
from connect_runtime.db import Conn

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
# PostgreSQL's names of the encodings whose line breaks, delimiters and qualifier are single bytes nothing else
# contains (so `CopyCheck` can judge the bytes); UTF-16 is parsed in Python.
ENCODINGS = {"utf-8": "UTF8", "iso-8859-1": "LATIN1", "windows-1252": "WIN1252"}
_LINE_BREAK = re.compile(rb"\r\n?|\n")
# What a COPY can refuse on the data; anything else is a problem of the database, not of the file.
_REFUSALS = (
    asyncpg.BadCopyFileFormatError,
    asyncpg.CharacterNotInRepertoireError,
    asyncpg.UntranslatableCharacterError,
)

Progress = Callable[[int], None]  # lines sent so far


def copyable(settings: CsvSettings, plan: LoadPlan) -> bool:
    """Whether COPY can stage the file at all: a qualifier, an encoding `CopyCheck` can judge, values taken as
    written, one staging column per field, and two fields or more (COPY reads a blank line of a one-field file
    as a NULL value, the `csv` module skips it)."""
    return (
        bool(settings.qualifier)
        and settings.encoding in ENCODINGS
        and value_reader(plan, settings.decimal_separator) is None
        and plan.field_names is not None
        and plan.field_count >= 2
    )


async def copy_records(
    conn: Conn,
    staging: Staging,
    plan: LoadPlan,
    path: Path,
    settings: CsvSettings,
    name: str,
    data_line: int,
    progress: Progress,
) -> int | None:
    """Create the staging tables and COPY the records from `data_line` on into them (values trimmed, blank →
    NULL, as parsing in Python does); returns how many, or None when COPY would not read the file as the `csv`
    module does (then nothing is staged)."""
    names = plan.field_names
    assert names is not None and copyable(settings, plan), "only a copyable plan is copied"
    check = CopyCheck(settings.delimiter, settings.qualifier, settings.encoding, FIELD_SIZE_LIMIT)
    try:
        async with conn.transaction():
            await conn.execute(create_copy_staging(staging, names))
            status = await conn.copy_to_table(
                staging.rows_name,
                schema_name=STAGING_SCHEMA,
                source=_chunks(path, name, check, settings.encoding == "utf-8", data_line, progress),
                columns=list(names),
                format="csv",
                delimiter=settings.delimiter,
                quote=settings.qualifier,
                encoding=ENCODINGS[settings.encoding],
                force_null=[c.staging_name for c in plan.columns],  # "" too, like an empty unquoted value
                freeze=True,  # the table is new in this transaction: no later scan has to set hint bits
            )
    except (CopyRefusedError, *_REFUSALS) as exc:
        log.info("file parsed in Python: COPY would read it otherwise", extra={"file": name, "reason": str(exc)})
        return None
    if check.untrimmed:
        await conn.execute(trim_staged(staging, plan))
    return affected_rows(status)


async def _chunks(
    path: Path, name: str, check: CopyCheck, utf8: bool, data_line: int, progress: Progress
) -> AsyncIterator[bytes]:
    """The file's bytes from `data_line` on, each chunk checked (reading and checking off the event loop)."""
    stream = await asyncio.to_thread(open_binary, path, name)
    try:
        lines = 0
        chunk = await asyncio.to_thread(_first, stream, name, utf8, data_line - 1)
        while chunk:
            await asyncio.to_thread(check.feed, chunk)
            lines += chunk.count(b"\n")
            progress(lines)
            yield chunk
            chunk = await asyncio.to_thread(_read, stream, name)
        check.end()
    finally:
        stream.close()


def _first(stream: IO[bytes], name: str, utf8: bool, skip: int) -> bytes:
    """The first chunk of data: after a UTF-8 byte-order mark (the `csv` module never sees it either) and the
    `skip` lines before the data (the header, blank lines), which the `csv` module has read already."""
    buffer = _read(stream, name)
    if utf8 and buffer.startswith(codecs.BOM_UTF8):
        buffer = buffer[len(codecs.BOM_UTF8) :]
    while skip:
        ends = [m.end() for m, _ in zip(_LINE_BREAK.finditer(buffer), range(skip), strict=False)]
        if len(ends) == skip and ends[-1] < len(buffer):  # at the end, a CR might be followed by its LF
            return buffer[ends[-1] :]
        more = _read(stream, name)
        if not more:
            return buffer[ends[-1] :] if len(ends) == skip else b""
        buffer += more
    return buffer


def _read(stream: IO[bytes], name: str) -> bytes:
    try:
        return stream.read(CHUNK_BYTES)
    except Exception as exc:
        # The file itself is the problem: parsing in Python fails the run with the right words.
        if read_failure(exc, name) is None:
            raise
        raise CopyRefusedError("the file cannot be read") from exc
