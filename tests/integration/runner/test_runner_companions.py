"""Companion files and archiving on an external server (the real sshd): the ready-file wait, the count file, the
file's checksum, and moving or copying the file and its companions into an archive folder."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connect_events import FileRules
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import render
from connect_runner.domain.source_files import FetchedFile, Source
from tests.integration.runner.runner_it import RunnerWorld

pytestmark = pytest.mark.integration

DATA = b"id,name,score,active,born,seen\n1,Ann,,,,\n2,Bob,,,,\n"
RULES = FileRules(count_file="cnt", ready_file="ok", ready_timeout_s=60)


class Checkpoints:
    """A run's checkpoint: counts its calls, and at the n-th writes a file on the server (or raises)."""

    def __init__(self, world: RunnerWorld, at: dict[int, tuple[str, bytes]] | None = None) -> None:
        self.calls = 0
        self._world = world
        self._at = at or {}

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls in self._at:
            self._world.put(*self._at[self.calls])


async def source(world: RunnerWorld) -> Source:
    return Source(world.source("unused"), await world.vault.read(world.key_ref))


async def fetch(world: RunnerWorld, path: str, rules: FileRules, checkpoint: Checkpoints | None = None) -> FetchedFile:
    pattern = render(path, datetime(2025, 3, 14, tzinfo=UTC), "UTC")
    work = world.deps.work_dir
    checkpoint = checkpoint or Checkpoints(world)
    return await world.deps.files.fetch(await source(world), pattern, rules, work, "s", lambda _d, _t: None, checkpoint)


async def test_the_run_waits_for_the_ready_file_then_reads_the_count_file(world: RunnerWorld) -> None:
    os.utime(world.put("people_1.csv.cnt", b"2\n"), (1, 1))  # the oldest match of `people_*`, but no data file
    world.put("people_1.csv", DATA)
    checkpoints = Checkpoints(world, {3: ("people_1.csv.ok", b"")})

    fetched = await fetch(world, f"{world.remote_dir}/people_*", RULES, checkpoints)

    data = f"{world.remote_dir}/people_1.csv"
    assert checkpoints.calls == 3  # the fourth look found the ready file
    assert (fetched.remote_path, fetched.expected_rows) == (data, 2)
    assert fetched.companions == (f"{data}.cnt", f"{data}.ok")
    assert fetched.local_path.read_bytes() == DATA
    assert (fetched.size, fetched.sha256) == (len(DATA), hashlib.sha256(DATA).hexdigest())


async def test_a_ready_file_that_never_comes_times_out(world: RunnerWorld) -> None:
    world.put("people.csv", DATA)

    with pytest.raises(RunFailure) as exc:
        await fetch(world, f"{world.remote_dir}/people.csv", FileRules(ready_file="ok", ready_timeout_s=1))

    ready = f"{world.remote_dir}/people.csv.ok"
    assert (exc.value.code, exc.value.message) == (
        "READY_FILE_TIMEOUT",
        f"the ready file '{ready}' did not appear within 1 second",
    )


@pytest.mark.parametrize(
    ("count", "code", "message"),
    [
        (None, "FILE_NOT_FOUND", "no count file '{data}.cnt' beside '{data}'"),
        (b"two", "COUNT_MISMATCH", "the count file '{data}.cnt' does not hold a row count"),
        (b"9" * 100, "COUNT_MISMATCH", "the count file '{data}.cnt' does not hold a row count"),
    ],
)
async def test_a_count_file_missing_or_without_a_count_fails_before_the_download(
    world: RunnerWorld, count: bytes | None, code: str, message: str
) -> None:
    data = world.put("people.csv", DATA)
    if count is not None:
        world.put("people.csv.cnt", count)

    with pytest.raises(RunFailure) as exc:
        await fetch(world, data, FileRules(count_file="cnt"))

    assert (exc.value.code, exc.value.message) == (code, message.format(data=data))
    assert list(world.deps.work_dir.iterdir()) == []


async def fetched_with_companions(world: RunnerWorld, data: bytes = DATA) -> FetchedFile:
    world.put("people.csv", data)
    world.put("people.csv.cnt", b"2")
    world.put("people.csv.ok", b"")
    return await fetch(world, f"{world.remote_dir}/people.csv", RULES)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_archiving_moves_the_file_and_its_companions_replacing_older_archives(world: RunnerWorld) -> None:
    fetched = await fetched_with_companions(world)
    archive = f"{world.remote_dir}/archive/2025"
    folder = world.remote_dir / "archive/2025"

    moved = await world.deps.files.archive(await source(world), fetched, archive, "7.3_", move=True)

    assert moved == f"{archive}/7.3_people.csv"
    assert names(world.remote_dir) == ["archive"]  # made, with its sub-folder
    assert names(folder) == ["7.3_people.csv", "7.3_people.csv.cnt", "7.3_people.csv.ok"]
    assert (folder / "7.3_people.csv").read_bytes() == DATA

    again = await fetched_with_companions(world, b"id\n3\n")
    await world.deps.files.archive(await source(world), again, archive, "7.3_", move=True)
    assert (folder / "7.3_people.csv").read_bytes() == b"id\n3\n"


async def test_a_file_replaced_after_the_run_read_it_is_not_moved(world: RunnerWorld) -> None:
    fetched = await fetched_with_companions(world)
    (world.remote_dir / "people.csv").write_bytes(b"id\nthe next delivery\n")

    with pytest.raises(RunFailure) as exc:
        await world.deps.files.archive(await source(world), fetched, f"{world.remote_dir}/archive", "7.6_", move=True)

    assert exc.value.code == "LOAD_FAILED"
    assert exc.value.message == (
        f"'{fetched.remote_path}' changed after the run read it (a newer file of that name?); it is left in place"
    )
    assert names(world.remote_dir) == ["people.csv", "people.csv.cnt", "people.csv.ok"]


async def test_archiving_a_copy_uploads_the_runs_download_and_copies_the_companions(world: RunnerWorld) -> None:
    fetched = await fetched_with_companions(world)
    (world.remote_dir / "people.csv").write_bytes(b"id\nchanged since the run read it\n")

    copied = await world.deps.files.archive(
        await source(world), fetched, f"{world.remote_dir}/archive", "7.4_", move=False
    )

    assert copied == f"{world.remote_dir}/archive/7.4_people.csv"
    assert names(world.remote_dir) == ["archive", "people.csv", "people.csv.cnt", "people.csv.ok"]
    folder = world.remote_dir / "archive"
    assert names(folder) == ["7.4_people.csv", "7.4_people.csv.cnt", "7.4_people.csv.ok"]
    assert (folder / "7.4_people.csv").read_bytes() == DATA
    assert (folder / "7.4_people.csv.cnt").read_bytes() == b"2"


async def test_an_archive_folder_that_cannot_be_made_fails_in_our_words(world: RunnerWorld) -> None:
    fetched = await fetched_with_companions(world)
    world.put("blocked", b"a file, not a folder")
    folder = f"{world.remote_dir}/blocked/archive"

    with pytest.raises(RunFailure) as exc:
        await world.deps.files.archive(await source(world), fetched, folder, "7.5_", move=True)

    server = f"{world.server.user}@{world.server.host}:{world.server.port}"
    assert exc.value.code == "LOAD_FAILED"
    assert exc.value.message.startswith(f"cannot move '{fetched.remote_path}' to '{folder}' on {server}: ")
    assert names(world.remote_dir) == ["blocked", "people.csv", "people.csv.cnt", "people.csv.ok"]
