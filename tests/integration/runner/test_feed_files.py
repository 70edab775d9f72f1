"""A delivery on disk, as the runner reads it after the download: every file checked against the manifest
before anything is read; then the lookups and the hits streamed out of their archives, every corruption a
transfer can cause refused in our words, naming the file."""

from __future__ import annotations

import io
import re
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from connect_events import ColumnMapping, ColumnSpec, ColumnType, TableSpec
from connect_runner.adapters.feed_files import FeedFileError, hits, read_lookups, verify
from connect_runner.adapters.feed_source import FeedSource
from connect_runner.domain.feed_hits import HitFilter, HitReader, record_line
from connect_runner.domain.feed_manifest import Granularity, parse_manifest, ready_deliveries
from tests.feed_generator import BROWSERS, COLUMNS, corrupt, generate, md5_of


@pytest.mark.parametrize(("archive", "parts"), [("tar.gz", 1), ("tar.gz", 3), ("zip", 2)])
def test_a_whole_delivery_is_verified_and_read(tmp_path: Path, archive: str, parts: int) -> None:
    made = generate(tmp_path, hits=3000, parts=parts, archive=archive)
    manifest = parse_manifest(made.manifest.read_text(), made.marker)
    log = verify(tmp_path, manifest)
    assert len(log) == 1 + parts and all(line.startswith("verified ") for line in log)
    lookups = read_lookups(tmp_path / manifest.lookup_files[0].name)
    assert lookups.columns == list(COLUMNS)
    assert lookups.tables["browser"] == BROWSERS and set(lookups.tables) == {"browser", "country", "event"}
    read = [h for part in manifest.data_files for _, h in hits(tmp_path, part, len(lookups.columns))]
    assert len(read) == made.total == 3000
    assert all(len(h) == len(COLUMNS) for h in read)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("md5", "02-shop_2026-11-28.tar.gz does not match its MD5 digest in the manifest"),
        ("size", "02-shop_2026-11-28.tar.gz has "),
        ("missing_part", "02-shop_2026-11-28.tar.gz is listed in the manifest but was not delivered"),
    ],
)
def test_a_file_that_differs_from_its_manifest_is_refused_before_reading(
    tmp_path: Path, how: str, message: str
) -> None:
    made = generate(tmp_path, hits=500, parts=2)
    corrupt(made, how)
    with pytest.raises(FeedFileError) as refused:
        verify(tmp_path, parse_manifest(made.manifest.read_text(), made.marker))
    assert str(refused.value).startswith(message)


def test_a_truncated_part_matching_its_manifest_fails_while_reading(tmp_path: Path) -> None:
    made = generate(tmp_path, hits=4000, parts=2)
    corrupt(made, "truncated")
    manifest = parse_manifest(made.manifest.read_text(), made.marker)
    verify(tmp_path, manifest)  # the manifest was rewritten to match: only reading finds it
    with pytest.raises(
        FeedFileError, match=re.escape("02-shop_2026-11-28.tar.gz is truncated or not a readable archive")
    ):
        for part in manifest.data_files:
            list(hits(tmp_path, part, len(COLUMNS)))


def test_a_part_holding_other_than_its_record_count_is_refused(tmp_path: Path) -> None:
    made = generate(tmp_path, hits=100, parts=1)
    manifest = parse_manifest(
        made.manifest.read_text()
        .replace("Record-Count: 100", "Record-Count: 99")
        .replace("Total-Records: 100", "Total-Records: 99"),
        made.marker,
    )
    with pytest.raises(
        FeedFileError, match=re.escape("01-shop_2026-11-28.tar.gz holds 100 hits where the manifest says 99")
    ):
        list(hits(tmp_path, manifest.data_files[0], len(COLUMNS)))


def test_a_total_that_does_not_add_up_is_refused_with_the_manifest(tmp_path: Path) -> None:
    made = generate(tmp_path, hits=100, parts=2)
    corrupt(made, "total")
    with pytest.raises(ValueError, match="Total-Records says 101, the data files hold 100"):
        parse_manifest(made.manifest.read_text(), made.marker)


HITS_TABLE = TableSpec(
    name="hits",
    columns=(
        ColumnSpec(name="HIT_ID", type=ColumnType.TEXT, max_length=40),
        ColumnSpec(name="CUSTOMER_ID", type=ColumnType.TEXT, max_length=20),
        ColumnSpec(name="PAGE", type=ColumnType.TEXT, max_length=200),
        ColumnSpec(name="BROWSER", type=ColumnType.TEXT, max_length=100),
        ColumnSpec(name="EVENTS", type=ColumnType.TEXT, max_length=200),
    ),
    primary_key=("HIT_ID",),
)
HITS_MAPPING = (
    ColumnMapping(source="hitid_low", target="HIT_ID"),
    ColumnMapping(source="post_evar12", target="CUSTOMER_ID"),
    ColumnMapping(source="post_pagename", target="PAGE"),
    ColumnMapping(source="browser", target="BROWSER"),
    ColumnMapping(source="post_event_list", target="EVENTS"),
)


def feed_source(folder: Path, made_marker: str, drop_sources: bool) -> FeedSource:
    manifest = parse_manifest((folder / made_marker).read_text(), made_marker)
    verify(folder, manifest)
    lookups = read_lookups(folder / manifest.lookup_files[0].name)
    labels = {"browser": "browser", "post_event_list": "event"}
    return FeedSource(folder, manifest.data_files, lookups, HitFilter(drop_sources), labels, made_marker)


@pytest.mark.parametrize("drop_sources", [False, True])
def test_the_hits_become_staged_records_filtered_and_labelled(tmp_path: Path, drop_sources: bool) -> None:
    made = generate(tmp_path, hits=12_000, parts=3)
    source = feed_source(tmp_path, made.marker, drop_sources)
    plan = source.plan(HITS_MAPPING, HITS_TABLE)
    records = [r for batch in source.batches(plan) for r in batch]
    filtered = made.excluded + (made.data_sources if drop_sources else 0)
    assert source.rows_read == made.total == 12_000
    assert source.filtered == Counter(
        {"EXCLUDED_HIT": made.excluded, **({"DATA_SOURCE_HIT": made.data_sources} if drop_sources else {})}
    )
    assert len(records) + sum(source.filtered.values()) + len(source.rejects) == made.total  # reconciles
    assert len(records) == made.total - filtered and source.rejects == []
    assert [start for _, start in source.part_starts] == [1, 4001, 8001]
    numbers = [r[0] for r in records]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    by_id = {r[1]: r for r in records}
    assert {r[4] for r in records} <= set(BROWSERS.values())  # ids replaced by the lookup's labels
    assert any("Purchase" in (r[5] or "").split(",") for r in records)  # event ids too, in their lists
    assert {r[3] for r in records} >= {"Café\tMenü", "Line one\nline two", "C:\\shop\\cart"}
    assert {r[2] for r in by_id.values() if r[2]} <= made.customers


def test_a_hit_of_the_wrong_width_is_rejected_alone(tmp_path: Path) -> None:
    made = generate(tmp_path, hits=10, parts=1)
    part = tmp_path / made.parts[0]
    with tarfile.open(part, "r:gz") as archive:
        data = archive.extractfile("hit_data.tsv").read()  # type: ignore[union-attr]
    records = [fields for _, fields in HitReader(len(COLUMNS), "hit_data.tsv").feed(data)]
    records[4] = ["only", "two"]  # the fifth hit
    data = b"".join(record_line(r) for r in records)
    with tarfile.open(part, "w:gz") as archive:
        info = tarfile.TarInfo("hit_data.tsv")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    text = made.manifest.read_text()
    old = [line for line in text.splitlines() if "MD5-Digest" in line][1].split(": ")[1]
    old_size = [line for line in text.splitlines() if "File-Size" in line][1].split(": ")[1]
    made.manifest.write_text(
        text.replace(old, md5_of(part)).replace(f"File-Size: {old_size}", f"File-Size: {part.stat().st_size}")
    )
    source = feed_source(tmp_path, made.marker, False)
    records = [r for batch in source.batches(source.plan(HITS_MAPPING, HITS_TABLE)) for r in batch]
    assert source.rejects == [(5, "WRONG_FIELD_COUNT")]
    assert len(records) + len(source.rejects) + sum(source.filtered.values()) == 10


SAMPLES = Path(__file__).resolve().parents[2] / "data" / "feed"


def read_delivery(folder: Path, manifest_name: str) -> tuple[list[str], list[list[str]]]:
    """Every hit of a delivery, as the runner reads it: manifest, verification, lookups, parts."""
    manifest = parse_manifest((folder / manifest_name).read_text(), manifest_name)
    verify(folder, manifest)
    columns = read_lookups(folder / manifest.lookup_files[0].name).columns
    read = [h for part in manifest.data_files for _, h in hits(folder, part, len(columns))]
    assert len(read) == manifest.total_records
    return columns, read


@pytest.mark.parametrize(
    ("parts", "archive", "hour"), [(1, "tar.gz", None), (3, "tar.gz", None), (2, "zip", 7), (1, "zip", None)]
)
def test_generated_deliveries_read_back_hit_for_hit(tmp_path: Path, parts: int, archive: str, hour: int | None) -> None:
    made = generate(tmp_path, hits=500, parts=parts, archive=archive, hour=hour, seed=parts)
    columns, read = read_delivery(tmp_path, made.marker)
    assert len(read) == made.total == 500 and len(made.parts) == parts
    rows = [dict(zip(columns, h, strict=True)) for h in read]
    reasons = [HitFilter(drop_data_sources=True).reason(r["exclude_hit"], r["hit_source"]) for r in rows]
    assert (reasons.count("EXCLUDED_HIT"), reasons.count("DATA_SOURCE_HIT")) == (made.excluded, made.data_sources)
    assert made.excluded > 0 and made.data_sources > 0
    pages = {r["post_pagename"] for r in rows}
    assert {"Café\tMenü", "Line one\nline two", "C:\\shop\\cart", "Größentabelle"} <= pages  # escapes, Latin-1


def test_the_checked_in_samples_are_whole_deliveries() -> None:
    names = sorted(p.name for p in (SAMPLES / "daily").iterdir())
    assert [d.key for d in ready_deliveries(names, "shop", Granularity.DAILY)] == ["shop_2026-11-28"]
    assert len(read_delivery(SAMPLES / "daily", "shop_2026-11-28.txt")[1]) == 60
    assert len(read_delivery(SAMPLES / "hourly", "shop_2026-11-28-13.txt")[1]) == 30
