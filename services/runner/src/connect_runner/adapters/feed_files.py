"""A downloaded analytics data feed delivery on local disk (spec §6): every file checked against its manifest
before anything is read, then the lookup archive and the hits streamed out of their `.tar.gz` / `.zip` parts.

Nothing here is held whole in memory: digests are computed in blocks and `hit_data.tsv` is read from the
archive in chunks. Every failure is a `FeedFileError` in our words, naming the file.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from connect_runner.domain.feed_hits import ENCODING, HitDataError, HitReader, column_headers, split_fields
from connect_runner.domain.feed_manifest import FeedFile, Manifest

BLOCK = 1 << 20
HIT_DATA = "hit_data.tsv"
COLUMN_HEADERS = "column_headers.tsv"
ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError)


class FeedFileError(ValueError):
    """A delivery file that is missing, differs from its manifest, or cannot be read."""


def md5_and_size(path: Path) -> tuple[str, int]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with path.open("rb") as source:
        while block := source.read(BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def verify(folder: Path, manifest: Manifest) -> list[str]:
    """Check every listed file's presence, size and MD5; returns one log line per file checked."""
    checked: list[str] = []
    for listed in (*manifest.lookup_files, *manifest.data_files):
        path = folder / listed.name
        if not path.is_file():
            raise FeedFileError(f"{listed.name} is listed in the manifest but was not delivered")
        digest, size = md5_and_size(path)
        if size != listed.size:
            raise FeedFileError(f"{listed.name} has {size:,} bytes where the manifest says {listed.size:,}")
        if digest != listed.md5:
            raise FeedFileError(f"{listed.name} does not match its MD5 digest in the manifest")
        checked.append(f"verified {listed.name} ({size:,} bytes, MD5 {digest})")
    return checked


def member_chunks(path: Path, member: str) -> Iterator[bytes]:
    """The bytes of `member` inside the `.tar.gz` or `.zip` archive `path`, in blocks."""
    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as packed, packed.open(_zip_member(packed, member, path)) as unpacked:
                while block := unpacked.read(BLOCK):
                    yield block
            return
        with tarfile.open(path, mode="r|gz") as tar:  # a stream: one pass, no seeking
            for entry in tar:
                if entry.isfile() and Path(entry.name).name == member:
                    contents = tar.extractfile(entry)
                    assert contents is not None  # a regular file has contents
                    while block := contents.read(BLOCK):
                        yield block
                    return
    except ARCHIVE_ERRORS as exc:
        raise FeedFileError(f"{path.name} is truncated or not a readable archive") from exc
    raise FeedFileError(f"{path.name} holds no {member}")


def _zip_member(archive: zipfile.ZipFile, member: str, path: Path) -> str:
    for name in archive.namelist():
        if Path(name).name == member and not name.endswith("/"):
            return name
    raise FeedFileError(f"{path.name} holds no {member}")


@dataclass(frozen=True)
class Lookups:
    """The hit columns in order and the lookup tables (file stem → id → label), e.g. `browser` → `497` → name."""

    columns: list[str]
    tables: dict[str, dict[str, str]]


def read_lookups(path: Path) -> Lookups:
    """`column_headers.tsv` and every other `.tsv` table of the lookup archive."""
    members: dict[str, bytes] = {}
    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if name.endswith(".tsv"):
                        members[Path(name).name] = archive.read(name)
        else:
            with tarfile.open(path, mode="r|gz") as tar:
                for entry in tar:
                    source = tar.extractfile(entry) if entry.isfile() and entry.name.endswith(".tsv") else None
                    if source is not None:
                        members[Path(entry.name).name] = source.read()
    except ARCHIVE_ERRORS as exc:
        raise FeedFileError(f"{path.name} is truncated or not a readable archive") from exc
    if COLUMN_HEADERS not in members:
        raise FeedFileError(f"{path.name} holds no {COLUMN_HEADERS}")
    try:
        columns = column_headers(members.pop(COLUMN_HEADERS).decode(ENCODING), f"{path.name}: {COLUMN_HEADERS}")
    except HitDataError as exc:
        raise FeedFileError(str(exc)) from exc
    tables: dict[str, dict[str, str]] = {}
    for name, data in members.items():
        table: dict[str, str] = {}
        for line in data.decode(ENCODING).splitlines():
            fields = split_fields(line)
            if len(fields) >= 2 and fields[0]:
                table[fields[0]] = fields[1]
        tables[name.removesuffix(".tsv")] = table
    return Lookups(columns, tables)


def hits(folder: Path, part: FeedFile, columns: int, *, check_width: bool = True) -> Iterator[tuple[int, list[str]]]:
    """Every hit of one data part with its line number; the part's record count checked at its end. Without
    `check_width` a hit of another width is yielded too, for the caller to reject alone."""
    reader = HitReader(columns, f"{part.name}: {HIT_DATA}", check_width=check_width)
    try:
        for chunk in member_chunks(folder / part.name, HIT_DATA):
            yield from reader.feed(chunk)
        yield from reader.end()
    except HitDataError as exc:
        raise FeedFileError(str(exc)) from exc
    if part.records is not None and reader.records != part.records:
        raise FeedFileError(f"{part.name} holds {reader.records:,} hits where the manifest says {part.records:,}")
