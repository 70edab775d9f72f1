"""A delivery on disk, as the runner reads it after the download: every file checked against the manifest
before anything is read; then the lookups and the hits streamed out of their archives, every corruption a
transfer can cause refused in our words, naming the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connect_runner.adapters.feed_files import FeedFileError, hits, read_lookups, verify
from connect_runner.domain.feed_manifest import parse_manifest
from tests.feed_generator import BROWSERS, COLUMNS, corrupt, generate


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
