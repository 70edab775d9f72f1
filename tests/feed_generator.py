"""Analytics data feed deliveries in the documented format, for tests and benchmarks (no real feed can be
downloaded here): a lookup archive (`column_headers.tsv`, `browser.tsv`, `country.tsv`, `event.tsv`), data
archives (`.tar.gz` or `.zip`, one or more numbered parts, each holding a `hit_data.tsv`), and last the manifest
`<rsid>_<YYYY-MM-DD>[-HH].txt` with every file's MD5, size and record count, or a `.fin` marker instead.

Hits carry what real feeds do: escaped tabs, newlines and backslashes, Latin-1 characters, excluded hits and
data-source rows. `corrupt()` breaks a delivery in one of the ways a transfer does.

    .venv/bin/python -m tests.feed_generator OUT_DIR --rsid shop --day 2026-11-28 --hits 1000 --parts 2
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import random
import tarfile
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from connect_runner.domain.feed_hits import record_line

COLUMNS = (
    "hitid_high",
    "hitid_low",
    "visid_high",
    "visid_low",
    "date_time",
    "visit_num",
    "exclude_hit",
    "hit_source",
    "browser",
    "country",
    "post_evar12",
    "post_event_list",
    "post_pagename",
    "post_page_url",
    "accept_language",
)
BROWSERS = {"497": "Microsoft Internet Explorer 8", "1101": "Google Chrome 120.0", "1201": "Mozilla Firefox 121.0"}
COUNTRIES = {"1": "Deutschland", "2": "España", "3": "Côte d'Ivoire", "4": "United States"}
EVENTS = {"1": "Purchase", "2": "Product View", "200": "Instance of eVar12", "20100": "Custom Event 1"}
PAGES = ("Startseite", "Größentabelle", "Café\tMenü", "Line one\nline two", "C:\\shop\\cart", "Kasse")


@dataclass
class Generated:
    """What was written and what a correct import of it must count."""

    folder: Path
    marker: str
    lookup: str
    parts: list[str]
    total: int = 0
    excluded: int = 0
    data_sources: int = 0
    customers: set[str] = field(default_factory=set)

    @property
    def manifest(self) -> Path:
        return self.folder / self.marker


def period_name(rsid: str, day: date, hour: int | None) -> str:
    return f"{rsid}_{day.isoformat()}" + ("" if hour is None else f"-{hour:02d}")


def hit(rng: random.Random, number: int, day: date, hour: int | None) -> list[str]:
    moment = datetime(day.year, day.month, day.day, hour or 0) + timedelta(
        seconds=rng.randrange(3600 if hour is not None else 86400)
    )
    excluded = "0" if rng.random() > 0.05 else str(rng.randint(1, 10))
    source = rng.choice(("5", "7", "8", "9")) if rng.random() < 0.1 else "1"
    return [
        str(rng.getrandbits(60)),
        str(number),
        str(rng.getrandbits(60)),
        str(rng.getrandbits(60)),
        moment.strftime("%Y-%m-%d %H:%M:%S"),
        str(rng.randint(1, 40)),
        excluded,
        source,
        rng.choice(list(BROWSERS)),
        rng.choice(list(COUNTRIES)),
        f"C{rng.randint(1, 5000):06d}" if rng.random() < 0.7 else "",
        ",".join(sorted(rng.sample(list(EVENTS), rng.randint(0, 2)))),
        rng.choice(PAGES),
        f"https://shop.example.com/{rng.choice(('de', 'es', 'fr'))}/p/{number}",
        rng.choice(("de-DE", "es-ES,es;q=0.9", "fr-FR")),
    ]


def _archive(path: Path, members: dict[str, bytes], kind: str) -> None:
    if kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed,
        tarfile.open(fileobj=packed, mode="w") as tar,
    ):
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _lookup_members() -> dict[str, bytes]:
    def table(values: dict[str, str]) -> bytes:
        return b"".join(record_line([k, v]) for k, v in values.items())

    return {
        "column_headers.tsv": ("\t".join(COLUMNS) + "\n").encode("iso-8859-1"),
        "browser.tsv": table(BROWSERS),
        "country.tsv": table(COUNTRIES),
        "event.tsv": table(EVENTS),
    }


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def generate(
    folder: Path,
    rsid: str = "shop",
    day: date = date(2026, 11, 28),
    hour: int | None = None,
    hits: int = 100,
    parts: int = 1,
    archive: str = "tar.gz",
    marker: str = "txt",
    seed: int = 1,
) -> Generated:
    """Write one delivery into `folder` (the manifest or `.fin` last) and return what it holds."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    period = period_name(rsid, day, hour)
    suffix = "zip" if archive == "zip" else "tar.gz"
    lookup = f"{period}-lookup_data.{suffix}"
    _archive(folder / lookup, _lookup_members(), archive)
    made = Generated(folder, f"{period}.{marker}", lookup, [])
    counts: list[int] = []
    per_part = [hits // parts + (1 if i < hits % parts else 0) for i in range(parts)]
    number = 0
    for index, count in enumerate(per_part, start=1):
        rows = []
        for _ in range(count):
            number += 1
            row = hit(rng, number, day, hour)
            rows.append(record_line(row))
            made.excluded += row[6] != "0"
            made.data_sources += row[6] == "0" and row[7] in {"5", "7", "8", "9"}
            if row[6] == "0" and row[10]:
                made.customers.add(row[10])
        name = f"{index:02d}-{period}.{suffix}"
        _archive(folder / name, {"hit_data.tsv": b"".join(rows)}, archive)
        made.parts.append(name)
        counts.append(count)
    made.total = sum(counts)
    if marker == "fin":
        (folder / made.marker).write_text("")
        return made
    lines = [
        "Datafeed-Manifest-Version: 1.0",
        " Lookup-Files: 1",
        f" Data-Files: {parts}",
        f" Total-Records: {made.total}",
        "",
        f" Lookup-File: {lookup}",
        f" MD5-Digest: {md5_of(folder / lookup)}",
        f" File-Size: {(folder / lookup).stat().st_size}",
    ]
    for name, count in zip(made.parts, counts, strict=True):
        lines += ["", f" Data-File: {name}", f" MD5-Digest: {md5_of(folder / name)}"]
        lines += [f" File-Size: {(folder / name).stat().st_size}", f" Record-Count: {count}"]
    made.manifest.write_text("\n".join(lines) + "\n")
    return made


def corrupt(made: Generated, how: str) -> None:
    """Break a delivery: `md5` (a part's bytes changed, same size), `size` (a part grew), `missing_part`,
    `total` (the manifest's total off by one), `truncated` (a part cut short, manifest rewritten to match it)."""
    part = made.folder / made.parts[-1]
    if how == "md5":
        data = bytearray(part.read_bytes())
        data[len(data) // 2] ^= 0xFF
        part.write_bytes(bytes(data))
    elif how == "size":
        part.write_bytes(part.read_bytes() + b"\0")
    elif how == "missing_part":
        part.unlink()
    elif how == "total":
        text = made.manifest.read_text()
        made.manifest.write_text(text.replace(f"Total-Records: {made.total}", f"Total-Records: {made.total + 1}"))
    elif how == "truncated":
        old_md5, old_size = md5_of(part), part.stat().st_size
        part.write_bytes(part.read_bytes()[: old_size // 2])
        text = made.manifest.read_text().replace(old_md5, md5_of(part))
        made.manifest.write_text(text.replace(f"File-Size: {old_size}", f"File-Size: {part.stat().st_size}"))
    else:
        raise ValueError(f"unknown corruption {how!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rsid", default="shop")
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 11, 28))
    parser.add_argument("--hour", type=int, default=None)
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--parts", type=int, default=1)
    parser.add_argument("--archive", choices=("tar.gz", "zip"), default="tar.gz")
    parser.add_argument("--marker", choices=("txt", "fin"), default="txt")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    made = generate(
        args.out, args.rsid, args.day, args.hour, args.hits, args.parts, args.archive, args.marker, args.seed
    )
    print(f"{made.manifest}: {made.total} hits ({made.excluded} excluded, {made.data_sources} from data sources)")


if __name__ == "__main__":
    main()
