"""Analytics data feed deliveries (spec §6): which deliveries of a folder are complete, and what their manifest
promises. Plain functions over names and text; the runner verifies the files against it.

A delivery of report suite `rsid` for a day (or an hour of it) is complete once its manifest exists:
`<rsid>_<YYYY-MM-DD>.txt` (hourly: `<rsid>_<YYYY-MM-DD>-<HH>.txt`), written last, or instead a `.fin` marker of
the same name, which carries no file list. A manifest is `key: value` lines (leading blanks tolerated, as in the
published examples): a header (`Datafeed-Manifest-Version`, `Lookup-Files`, `Data-Files`, `Total-Records`), then
one block per file starting at `Lookup-File:` or `Data-File:` with its `MD5-Digest`, `File-Size` and, for data
files, `Record-Count`. Unknown keys are kept out of the way (the format is Java's manifest format, which grows).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from pathlib import Path

MD5 = re.compile(r"[0-9a-fA-F]{32}")
LINE = re.compile(r"\s*([A-Za-z][A-Za-z0-9-]*)\s*:\s*(.*?)\s*")
FILE_NAME = re.compile(r"[^/\\\x00-\x1f]+")


class Granularity(Enum):
    DAILY = "daily"
    HOURLY = "hourly"


class ManifestError(ValueError):
    """A manifest that cannot be trusted: the message names the line or the field."""


@dataclass(frozen=True, order=True)
class Delivery:
    """One delivery of a report suite: its period (an hour is set for hourly feeds) and its completion file."""

    day: date
    hour: int | None
    rsid: str = field(compare=False)
    marker: str = field(compare=False)  # the manifest (.txt) or the .fin file that says the delivery is complete

    @property
    def key(self) -> str:
        """How the job remembers it: `<rsid>_<YYYY-MM-DD>` or `<rsid>_<YYYY-MM-DD>-<HH>`."""
        return f"{self.rsid}_{self.day.isoformat()}" + ("" if self.hour is None else f"-{self.hour:02d}")

    @property
    def has_manifest(self) -> bool:
        return self.marker.endswith(".txt")


@dataclass(frozen=True)
class FeedFile:
    """A file a manifest lists."""

    name: str
    md5: str  # lower case
    size: int
    records: int | None  # data files only


@dataclass(frozen=True)
class FetchedDelivery:
    """A delivery downloaded into `folder`: its manifest (None for a `.fin` one), its identity, its lookup
    archives and data parts (a `.fin` delivery's with their sizes on the server, no digest or record count), and
    whether it replaces a version the job processed before."""

    delivery: Delivery
    manifest: Manifest | None
    identity: str
    folder: Path
    lookups: tuple[str, ...]
    parts: tuple[FeedFile, ...]
    replaces: bool

    @property
    def files(self) -> tuple[str, ...]:
        """Every file of the delivery but its marker, lookups first."""
        return (*self.lookups, *(part.name for part in self.parts))


@dataclass(frozen=True)
class Manifest:
    version: str
    lookup_files: tuple[FeedFile, ...]
    data_files: tuple[FeedFile, ...]
    total_records: int


def ready_deliveries(names: list[str], rsid: str, granularity: Granularity) -> list[Delivery]:
    """The complete deliveries among a folder's file names, oldest first; a manifest wins over a `.fin` of the
    same period."""
    hour = r"-(?P<hour>\d{2})" if granularity is Granularity.HOURLY else ""
    pattern = re.compile(rf"{re.escape(rsid)}_(?P<day>\d{{4}}-\d{{2}}-\d{{2}}){hour}\.(?P<kind>txt|fin)")
    found: dict[tuple[date, int | None], Delivery] = {}
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        try:
            day = datetime.strptime(match["day"], "%Y-%m-%d").date()
        except ValueError:
            continue  # not a date: not a delivery of this feed
        hour_value = int(match["hour"]) if granularity is Granularity.HOURLY else None
        if hour_value is not None and hour_value > 23:
            continue
        period = (day, hour_value)
        if period in found and found[period].has_manifest:
            continue
        found[period] = Delivery(day, hour_value, rsid, name)
    return sorted(found.values())


def parse_manifest(text: str, name: str) -> Manifest:
    """The manifest `name`, every promise checked for consistency (counts, total); `ManifestError` otherwise."""
    header: dict[str, tuple[int, str]] = {}
    blocks: list[tuple[str, int, dict[str, tuple[int, str]]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        match = LINE.fullmatch(raw)
        if match is None:
            raise ManifestError(f"{name} line {number}: not a `key: value` line")
        key, value = match[1].lower(), match[2]
        if key in ("lookup-file", "data-file"):
            blocks.append((key, number, {"name": (number, value)}))
        elif blocks:
            blocks[-1][2].setdefault(key, (number, value))
        else:
            header.setdefault(key, (number, value))
    version = _required(header, "datafeed-manifest-version", name, "the header")[1]
    lookups = [_file(b, name) for kind, _, b in blocks if kind == "lookup-file"]
    data = [_file(b, name, data=True) for kind, _, b in blocks if kind == "data-file"]
    for key, files in (("lookup-files", lookups), ("data-files", data)):
        line, promised = _count(header, key, name)
        if promised != len(files):
            raise ManifestError(f"{name} line {line}: {_title(key)} says {promised}, the manifest lists {len(files)}")
    line, total = _count(header, "total-records", name)
    listed = sum(f.records or 0 for f in data)
    if total != listed:
        raise ManifestError(f"{name} line {line}: Total-Records says {total}, the data files hold {listed}")
    names = [f.name for f in (*lookups, *data)]
    if len(set(names)) != len(names):
        raise ManifestError(f"{name}: a file is listed twice")
    return Manifest(version, tuple(lookups), tuple(data), total)


def _title(key: str) -> str:
    return "-".join(part.capitalize() for part in key.split("-"))


def _required(fields: dict[str, tuple[int, str]], key: str, name: str, where: str) -> tuple[int, str]:
    if key not in fields or not fields[key][1]:
        raise ManifestError(f"{name}: {where} has no {_title(key)}")
    return fields[key]


def _count(fields: dict[str, tuple[int, str]], key: str, name: str) -> tuple[int, int]:
    line, value = _required(fields, key, name, "the header")
    if not value.isdigit():
        raise ManifestError(f"{name} line {line}: {_title(key)} is not a whole number")
    return line, int(value)


def _file(block: dict[str, tuple[int, str]], name: str, data: bool = False) -> FeedFile:
    line, file_name = block["name"]
    kind = "Data-File" if data else "Lookup-File"
    if not FILE_NAME.fullmatch(file_name) or file_name in (".", ".."):
        raise ManifestError(f"{name} line {line}: {kind} is not a plain file name")
    where = f"{kind} {file_name}"
    md5_line, digest = _required(block, "md5-digest", name, where)
    if not MD5.fullmatch(digest):
        raise ManifestError(f"{name} line {md5_line}: MD5-Digest of {file_name} is not 32 hexadecimal digits")
    size = _count_in(block, "file-size", name, where)
    records = _count_in(block, "record-count", name, where) if data else None
    return FeedFile(file_name, digest.lower(), size, records)


def _count_in(block: dict[str, tuple[int, str]], key: str, name: str, where: str) -> int:
    line, value = _required(block, key, name, where)
    if not value.isdigit():
        raise ManifestError(f"{name} line {line}: {_title(key)} of {where.split(' ', 1)[1]} is not a whole number")
    return int(value)


def fin_files(names: list[str], delivery: Delivery) -> tuple[list[str], list[str]]:
    """A `.fin` delivery's lookup archive(s) and data parts, found by their documented names (it lists none):
    `<period>-lookup_data.<tar.gz|zip>` and `<NN>-<period>.<tar.gz|zip>`, parts in their number's order."""
    period = re.escape(delivery.key)
    lookup = re.compile(rf"{period}-lookup_data\.(?:tar\.gz|zip)")
    part = re.compile(rf"(?P<number>\d+)-{period}\.(?:tar\.gz|zip)")
    lookups = sorted(n for n in names if lookup.fullmatch(n))
    parts = sorted((m for n in names if (m := part.fullmatch(n))), key=lambda m: (int(m["number"]), m.string))
    return lookups, [m.string for m in parts]


def identity(text: str) -> str:
    """What tells one version of a delivery from another: the SHA-256 of its manifest (or of a `.fin` delivery's
    file names and sizes), so a re-delivery with other digests is processed again."""
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
