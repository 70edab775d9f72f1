"""Source files: companion-file rules, the hosted tree as a source (on a temporary folder), and the choice of
source by the location's kind."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connect_events import FileRules, HostedLocation
from connect_runner.adapters.hosted import HostedFiles
from connect_runner.adapters.sources import Sources
from connect_runner.domain.companions import (
    archived_name,
    companions,
    duration,
    is_companion,
    ready_timeout,
    row_count,
)
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import FilePattern, render
from connect_runner.domain.source_files import FetchedFile, Source
from tests.unit.runner.runner_builders import location

HOSTED = Source(HostedLocation(path="upload/x.csv"), None)
NO_RULES = FileRules()
TEMPORARY = ".upload-" + "0" * 32 + ".part"


class Stopped(Exception):
    """What a checkpoint raises once the run is asked to stop."""


class Checkpoints:
    """A checkpoint that counts its calls and runs `on_call(n)` at the n-th."""

    def __init__(self, on_call: dict[int, object] | None = None) -> None:
        self.calls = 0
        self._on_call = on_call or {}

    async def __call__(self) -> None:
        self.calls += 1
        action = self._on_call.get(self.calls)
        if isinstance(action, BaseException):
            raise action
        if callable(action):
            action()


class Tree:
    """An account root under a temporary folder, with a work folder beside it."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "account"
        self.work = tmp_path / "work"
        (self.root / "upload").mkdir(parents=True)
        self.work.mkdir()
        self.files = HostedFiles(self.root, ready_poll_s=0.01)
        self.progress: list[tuple[int, int | None]] = []

    def put(self, path: str, content: bytes = b"id\n1\n", mtime: float | None = None) -> Path:
        file = self.root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(content)
        if mtime is not None:
            os.utime(file, (mtime, mtime))
        return file

    async def fetch(self, path: str, rules: FileRules = NO_RULES, checkpoint: Checkpoints | None = None) -> FetchedFile:
        pattern = render(path, datetime(2025, 3, 14, tzinfo=UTC), "UTC")
        return await self.files.fetch(
            HOSTED, pattern, rules, self.work, "s_1_2", self._report, checkpoint or Checkpoints()
        )

    def _report(self, done: int, total: int | None) -> None:
        self.progress.append((done, total))


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def failure(exc: pytest.ExceptionInfo[RunFailure]) -> tuple[str, str]:
    return exc.value.code, exc.value.message


def test_companions_are_named_after_the_data_file_count_first() -> None:
    rules = FileRules(count_file="cnt", ready_file="ready")
    assert companions("upload/a.csv.gz", rules) == ("upload/a.csv.gz.cnt", "upload/a.csv.gz.ready")
    assert companions("a.csv", FileRules(ready_file="ok")) == ("a.csv.ok",)
    assert companions("a.csv", NO_RULES) == ()
    assert is_companion("a.csv.cnt", rules) and is_companion("a.csv.ready", rules)
    assert not is_companion("a.csv", rules) and not is_companion("a.cnt.csv", rules)
    assert not is_companion("a.csv.cnt", NO_RULES)
    assert archived_name("archive/", "7.3_", "upload/a.csv") == "archive/7.3_a.csv"


@pytest.mark.parametrize(
    ("data", "rows"), [(b"42", 42), (b" 1000 \r\n", 1000), (b"0\n", 0), (b"\xef\xbb\xbf17\n", 17), (b"007", 7)]
)
def test_a_count_file_holds_a_non_negative_integer(data: bytes, rows: int) -> None:
    assert row_count(data, "a.csv.cnt") == rows


@pytest.mark.parametrize(
    "data", [b"", b"  \n", b"-1", b"12 rows", b"1,000", b"1.0", b"\xff\xfe1\x00", b"1" * 65, "٣".encode()]
)
def test_anything_else_is_not_a_row_count(data: bytes) -> None:
    with pytest.raises(RunFailure) as exc:
        row_count(data, "upload/a.csv.cnt")
    assert failure(exc) == ("COUNT_MISMATCH", "the count file 'upload/a.csv.cnt' does not hold a row count")


def test_ready_timeouts_name_the_ready_file_and_the_wait() -> None:
    assert ready_timeout("up/a.csv", "up/a.csv", "ok", 3600).message == (
        "the ready file 'up/a.csv.ok' did not appear within 1 hour"
    )
    assert ready_timeout("up/a_*.csv", None, "ok", 90).message == (
        "no file matching 'up/a_*.csv' with its ready file (.ok) appeared within 90 seconds"
    )
    assert ready_timeout("a", None, "ok", 1).code == "READY_FILE_TIMEOUT"
    assert [duration(s) for s in (1, 59, 60, 120, 7200, 3660)] == [
        "1 second",
        "59 seconds",
        "1 minute",
        "2 minutes",
        "2 hours",
        "61 minutes",
    ]


async def test_a_hosted_file_is_copied_into_the_work_folder_and_hashed(tree: Tree) -> None:
    content = b"id,name\n" + b"1,Ann\n" * 300_000  # more than one copy chunk
    tree.put("upload/x.csv.gz", content)

    fetched = await tree.fetch("upload/x.csv.gz")

    assert fetched.remote_path == "upload/x.csv.gz"
    assert fetched.local_path == tree.work / "s_1_2.gz"
    assert fetched.local_path.read_bytes() == content
    assert (fetched.size, fetched.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert (fetched.expected_rows, fetched.companions) == (None, ())
    assert tree.progress[-1] == (len(content), len(content)) and len(tree.progress) > 2
    assert (tree.root / "upload/x.csv.gz").exists()  # read, not taken


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("upload/../../etc/passwd", "the path may not contain empty, '.' or '..' segments"),
        ("/etc/passwd", "the path must be relative to the account's root, not start with '/'"),
        ("upload/lnk/x.csv", "the path goes through a symbolic link, which the file server does not follow"),
        ("upload/lnk/*.csv", "the path goes through a symbolic link, which the file server does not follow"),
        ("upload/secret.csv", "the path goes through a symbolic link, which the file server does not follow"),
    ],
)
async def test_paths_that_could_leave_the_root_are_refused(tree: Tree, tmp_path: Path, path: str, reason: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.csv").write_text("id\n1\n")
    (tree.root / "upload/lnk").symlink_to(outside)
    (tree.root / "upload/secret.csv").symlink_to(outside / "x.csv")

    with pytest.raises(RunFailure) as exc:
        await tree.fetch(path)

    assert failure(exc) == ("LOAD_FAILED", f"the hosted file server refuses the path '{path}': {reason}")
    assert list(tree.work.iterdir()) == []


async def test_a_pattern_takes_the_oldest_regular_file_skipping_hidden_ones_and_companions(tree: Tree) -> None:
    tree.put(f"upload/{TEMPORARY}", mtime=1)  # an upload in progress
    tree.put("upload/.x_hidden.csv", mtime=2)
    tree.put("upload/x_a.csv.cnt", b"1", mtime=3)
    (tree.root / "upload/x_dir.csv").mkdir()
    os.utime(tree.root / "upload/x_dir.csv", (4, 4))
    (tree.root / "upload/x_link.csv").symlink_to(tree.put("download/x_old.csv", mtime=5))
    tree.put("upload/x_b.csv", b"id\n2\n", mtime=20)
    tree.put("upload/x_a.csv", b"id\n1\n", mtime=10)
    tree.put("upload/y_a.csv", mtime=6)

    fetched = await tree.fetch("upload/x_*", FileRules(count_file="cnt"))

    assert (fetched.remote_path, fetched.local_path.read_bytes()) == ("upload/x_a.csv", b"id\n1\n")
    assert (fetched.expected_rows, fetched.companions) == (1, ("upload/x_a.csv.cnt",))


@pytest.mark.parametrize("path", ["upload/x_*.csv", "upload/none.csv", "nofolder/x_*.csv", "upload/sub"])
async def test_no_match_fails_as_file_not_found(tree: Tree, path: str) -> None:
    tree.put(f"upload/{TEMPORARY}")
    tree.put("upload/x_a.csv.part")
    (tree.root / "upload/sub").mkdir()

    with pytest.raises(RunFailure) as exc:
        await tree.fetch(path)

    assert failure(exc) == ("FILE_NOT_FOUND", f"no file matching '{path}'")


async def test_a_file_at_the_root_and_date_tokens(tree: Tree) -> None:
    tree.put("x_20250314.csv")
    assert (await tree.fetch("x_%YYYY%%MM%%DD%.csv")).remote_path == "x_20250314.csv"
    assert (await tree.fetch("x_*.csv")).remote_path == "x_20250314.csv"


async def test_the_count_file_must_be_there_and_hold_a_count(tree: Tree) -> None:
    tree.put("upload/x.csv")
    rules = FileRules(count_file="cnt")
    with pytest.raises(RunFailure) as exc:
        await tree.fetch("upload/x.csv", rules)
    assert failure(exc) == ("FILE_NOT_FOUND", "no count file 'upload/x.csv.cnt' beside 'upload/x.csv'")

    tree.put("upload/x.csv.cnt", b"one")
    with pytest.raises(RunFailure) as exc:
        await tree.fetch("upload/x.csv", rules)
    assert exc.value.code == "COUNT_MISMATCH"

    tree.put("upload/x.csv.cnt", b"12\n")
    assert (await tree.fetch("upload/x.csv", rules)).expected_rows == 12


async def test_the_run_waits_for_the_data_file_and_its_ready_file_looking_between_checkpoints(tree: Tree) -> None:
    rules = FileRules(ready_file="ok", count_file="cnt", ready_timeout_s=60)
    checkpoints = Checkpoints(
        {
            2: lambda: tree.put("upload/x_1.csv", mtime=1),
            4: lambda: tree.put("upload/x_1.csv.cnt", b"1"),
            5: lambda: tree.put("upload/x_1.csv.ok", b""),
        }
    )

    fetched = await tree.fetch("upload/x_*.csv", rules, checkpoints)

    assert checkpoints.calls == 5  # one look after each, the sixth found both
    assert (fetched.remote_path, fetched.expected_rows) == ("upload/x_1.csv", 1)
    assert fetched.companions == ("upload/x_1.csv.cnt", "upload/x_1.csv.ok")


async def test_waiting_for_the_ready_file_times_out_or_stops(tree: Tree) -> None:
    with pytest.raises(RunFailure) as exc:
        await tree.fetch("upload/x.csv", FileRules(ready_file="ok", ready_timeout_s=0))
    assert failure(exc) == (
        "READY_FILE_TIMEOUT",
        "no file matching 'upload/x.csv' with its ready file (.ok) appeared within 0 seconds",
    )

    tree.put("upload/x.csv")
    checkpoints = Checkpoints({3: Stopped()})
    with pytest.raises(Stopped):
        await tree.fetch("upload/x.csv", FileRules(ready_file="ok", ready_timeout_s=60), checkpoints)
    assert list(tree.work.iterdir()) == []


async def fetched_with_companions(tree: Tree, data: bytes = b"id\n1\n") -> FetchedFile:
    tree.put("upload/x.csv", data)
    tree.put("upload/x.csv.cnt", b"1")
    tree.put("upload/x.csv.ok", b"")
    return await tree.fetch("upload/x.csv", FileRules(count_file="cnt", ready_file="ok"))


async def test_archiving_moves_the_file_and_its_companions_into_a_new_folder(tree: Tree) -> None:
    fetched = await fetched_with_companions(tree)
    tree.put("archive/2025/7.3_x.csv", b"an older archive")

    moved = await tree.files.archive(HOSTED, fetched, "archive/2025/03", "7.3_", move=True)

    assert moved == "archive/2025/03/7.3_x.csv"
    assert sorted(p.name for p in (tree.root / "upload").iterdir()) == []
    folder = tree.root / "archive/2025/03"
    assert sorted(p.name for p in folder.iterdir()) == ["7.3_x.csv", "7.3_x.csv.cnt", "7.3_x.csv.ok"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / "7.3_x.csv").read_bytes() == b"id\n1\n"

    # An existing archive of the same name is replaced.
    again = await fetched_with_companions(tree, b"id\n2\n")
    await tree.files.archive(HOSTED, again, "archive/2025/03", "7.3_", move=True)
    assert (folder / "7.3_x.csv").read_bytes() == b"id\n2\n"


async def test_a_file_replaced_after_the_run_read_it_is_not_moved(tree: Tree) -> None:
    fetched = await fetched_with_companions(tree)
    tree.put("upload/x.csv.new", b"id\n9\n")
    os.rename(tree.root / "upload/x.csv.new", tree.root / "upload/x.csv")  # a new delivery, same name

    with pytest.raises(RunFailure) as exc:
        await tree.files.archive(HOSTED, fetched, "archive", "7.5_", move=True)

    assert failure(exc) == (
        "LOAD_FAILED",
        "'upload/x.csv' changed after the run read it (a newer file of that name?); it is left in place",
    )
    assert sorted(p.name for p in (tree.root / "upload").iterdir()) == ["x.csv", "x.csv.cnt", "x.csv.ok"]
    assert not (tree.root / "archive").exists()


async def test_a_copy_archives_what_the_run_read_and_never_follows_a_link(tree: Tree, tmp_path: Path) -> None:
    fetched = await fetched_with_companions(tree)
    (tmp_path / "secret").write_bytes(b"not for the archive")
    (tree.root / "upload/x.csv").unlink()
    (tree.root / "upload/x.csv").symlink_to(tmp_path / "secret")

    await tree.files.archive(HOSTED, fetched, "archive", "7.6_", move=False)

    assert (tree.root / "archive/7.6_x.csv").read_bytes() == b"id\n1\n"
    with pytest.raises(RunFailure) as exc:
        await tree.fetch("upload/x.csv")
    assert exc.value.code in ("FILE_NOT_FOUND", "LOAD_FAILED")


async def test_archiving_a_copy_leaves_the_file_for_the_next_run(tree: Tree) -> None:
    fetched = await fetched_with_companions(tree)

    copied = await tree.files.archive(HOSTED, fetched, "archive", "7.4_", move=False)

    assert copied == "archive/7.4_x.csv"
    assert sorted(p.name for p in (tree.root / "upload").iterdir()) == ["x.csv", "x.csv.cnt", "x.csv.ok"]
    assert sorted(p.name for p in (tree.root / "archive").iterdir()) == ["7.4_x.csv", "7.4_x.csv.cnt", "7.4_x.csv.ok"]


async def test_archive_problems_fail_in_our_words_and_move_nothing(tree: Tree, tmp_path: Path) -> None:
    fetched = await fetched_with_companions(tree)
    (tree.root / "archive").symlink_to(tmp_path)

    with pytest.raises(RunFailure) as exc:
        await tree.files.archive(HOSTED, fetched, "archive/x", "7.5_", move=True)
    assert failure(exc) == (
        "LOAD_FAILED",
        "the hosted file server refuses the path 'archive/x': "
        "the path goes through a symbolic link, which the file server does not follow",
    )

    tree.put("old/7.5_x.csv/inside")  # a folder where the archived file would go
    with pytest.raises(RunFailure) as exc:
        await tree.files.archive(HOSTED, fetched, "old", "7.5_", move=True)
    assert failure(exc) == (
        "LOAD_FAILED",
        "cannot move 'upload/x.csv' to 'old' on the hosted file server: a file or folder of that name is in the way",
    )
    assert (tree.root / "upload/x.csv").exists()


class Recorder:
    """A fetcher that says which kind of source it was asked for."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[str] = []

    async def fetch(self, source: Source, *args: object) -> FetchedFile:
        self.calls.append(f"fetch {source.location.kind}")
        return FetchedFile(Path("/w/f.csv"), self.name, 1, "00")

    async def archive(self, source: Source, fetched: FetchedFile, folder: str, prefix: str, *, move: bool) -> str:
        self.calls.append(f"archive {source.location.kind} {move}")
        return self.name


async def test_sources_read_each_kind_from_its_own_fetcher() -> None:
    sftp, hosted = Recorder("sftp"), Recorder("hosted")
    sources = Sources(sftp, hosted)
    external = Source(location("/in/x.csv"), None)
    pattern = FilePattern(folder="in", name="x.csv")
    fetched = FetchedFile(Path("/w/f.csv"), "in/x.csv", 1, "00")

    for source in (external, HOSTED):
        await sources.fetch(source, pattern, NO_RULES, Path("/w"), "s", lambda _d, _t: None, Checkpoints())
        await sources.archive(source, fetched, "archive", "p_", move=True)

    assert (sftp.calls, hosted.calls) == (["fetch sftp", "archive sftp True"], ["fetch hosted", "archive hosted True"])


async def test_a_runner_without_the_files_root_fails_hosted_jobs_naming_the_setting() -> None:
    sources = Sources(Recorder("sftp"), None)
    pattern = FilePattern(folder="upload", name="x.csv")

    with pytest.raises(RunFailure) as exc:
        await sources.fetch(HOSTED, pattern, NO_RULES, Path("/w"), "s", lambda _d, _t: None, Checkpoints())

    assert exc.value.code == "INTERNAL" and not exc.value.transient
    assert "CONNECT_FILES_ROOT" in exc.value.message
