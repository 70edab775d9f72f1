"""Download folders under a shared root: a live runner's folder is never removed, a dead runner's is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from connect_runner.adapters.work_dir import LOCK_FILE, claimed_work_dir

CLAIM_AND_WAIT = """
import sys, time
from pathlib import Path
from connect_runner.adapters.work_dir import claimed_work_dir
with claimed_work_dir(Path(sys.argv[1])) as mine:
    (mine / "download.csv").write_text("partial")
    print(mine, flush=True)
    time.sleep(600)
"""


def test_folders_of_live_runners_stay_and_those_of_killed_ones_go(tmp_path: Path) -> None:
    # Another runner (another container: its PID may well equal one of ours) holds its folder.
    other = subprocess.Popen([sys.executable, "-c", CLAIM_AND_WAIT, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None
        theirs = Path(other.stdout.readline().strip())

        with claimed_work_dir(tmp_path) as mine:
            assert mine != theirs and mine.is_dir()
            assert (theirs / "download.csv").exists()
        assert not mine.exists()  # a runner that stops removes its own

        os.kill(other.pid, signal.SIGKILL)  # killed: no clean-up of its own
        other.wait()
        assert theirs.exists()
        with claimed_work_dir(tmp_path):
            assert not theirs.exists()
    finally:
        other.kill()
        other.wait()


def test_a_left_folder_without_any_holder_is_removed_and_other_names_are_left_alone(tmp_path: Path) -> None:
    left = tmp_path / "runner-0123456789abcdef"
    left.mkdir()
    (left / LOCK_FILE).touch()
    (left / "run-s_1_1_1.csv").write_text("x")
    unrelated = tmp_path / "12345"
    unrelated.mkdir()

    with claimed_work_dir(tmp_path) as mine:
        assert not left.exists()
        assert unrelated.exists()
        assert mine.parent == tmp_path
