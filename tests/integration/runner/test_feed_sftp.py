"""Analytics feed deliveries fetched from the real sshd: the oldest complete one not processed yet, with every
file its manifest lists; a delivery still arriving is left alone, a processed one skipped, a re-delivered
manifest taken again as a new version, and a `.fin` delivery found by its file names."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connect_runner.adapters.feed_files import verify
from connect_runner.adapters.sftp import SftpFiles
from connect_runner.domain.feed_manifest import Granularity
from connect_runner.domain.source_files import Source
from tests.feed_generator import generate
from tests.integration.runner.runner_it import RunnerWorld

pytestmark = pytest.mark.integration


async def source(world: RunnerWorld) -> Source:
    return Source(world.source("unused"), await world.vault.read(world.key_ref))


async def test_deliveries_are_taken_oldest_first_and_each_version_once(world: RunnerWorld, tmp_path: Path) -> None:
    folder = world.remote_dir / "feed"
    first = generate(folder, day=date(2026, 11, 27), hits=300, parts=2, seed=1)
    generate(folder, day=date(2026, 11, 28), hits=200, parts=1, seed=2)
    generate(folder / "later", day=date(2026, 11, 29), hits=10)  # elsewhere: not this folder's delivery
    (folder / "shop_2026-11-30-lookup_data.tar.gz").write_bytes(b"still arriving, no manifest yet")
    files, src, work = SftpFiles(), await source(world), tmp_path / "work"

    fetched = await files.fetch_delivery(src, str(folder), "shop", Granularity.DAILY, {}, work)
    assert fetched is not None and fetched.delivery.key == "shop_2026-11-27" and not fetched.replaces
    assert fetched.manifest is not None and fetched.manifest.total_records == 300
    assert fetched.files == (first.lookup, *first.parts)
    assert len(verify(fetched.folder, fetched.manifest)) == 3  # what came down is what the manifest promised

    processed = {fetched.delivery.key: fetched.identity}
    second = await files.fetch_delivery(src, str(folder), "shop", Granularity.DAILY, processed, work)
    assert second is not None and second.delivery.key == "shop_2026-11-28"
    processed[second.delivery.key] = second.identity
    assert await files.fetch_delivery(src, str(folder), "shop", Granularity.DAILY, processed, work) is None

    generate(folder, day=date(2026, 11, 27), hits=301, parts=2, seed=9)  # re-delivered: other files, new manifest
    again = await files.fetch_delivery(src, str(folder), "shop", Granularity.DAILY, processed, work)
    assert again is not None and again.delivery.key == "shop_2026-11-27" and again.replaces
    assert again.identity != fetched.identity and again.manifest is not None and again.manifest.total_records == 301


async def test_hourly_and_fin_deliveries(world: RunnerWorld, tmp_path: Path) -> None:
    folder = world.remote_dir / "hourly"
    made = generate(folder, hour=13, hits=40, parts=2, archive="zip", marker="fin")
    generate(folder, hour=9, hits=20)
    files, src, work = SftpFiles(), await source(world), tmp_path / "work"
    nine = await files.fetch_delivery(src, str(folder), "shop", Granularity.HOURLY, {}, work)
    assert nine is not None and nine.delivery.key == "shop_2026-11-28-09"
    done = {nine.delivery.key: nine.identity}
    one = await files.fetch_delivery(src, str(folder), "shop", Granularity.HOURLY, done, work)
    assert one is not None and one.manifest is None and one.delivery.marker == "shop_2026-11-28-13.fin"
    assert one.files == (made.lookup, *made.parts)
    assert all((one.folder / name).stat().st_size == (folder / name).stat().st_size for name in one.files)
