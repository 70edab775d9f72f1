"""Import jobs that read from the hosted file server's tree (the runner's `CONNECT_FILES_ROOT`), run whole
against the real database: the file a pattern picks, its companions and archive, and the paths refused."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from connect_events import FileRules, HostedLocation, RunRequested
from connect_runner.adapters.sftp import SftpFiles
from connect_runner.adapters.sources import Sources
from tests.integration.runner.runner_it import ANN, PEOPLE_HEADER, RunnerWorld, failed, succeeded
from tests.unit.runner.runner_builders import run_request

pytestmark = pytest.mark.integration

TEMPORARY = ".upload-" + "a" * 32 + ".part"


def hosted_request(world: RunnerWorld, run_id: int, path: str, **settings: object) -> RunRequested:
    return run_request(world.job_id, run_id, source=HostedLocation(path=path), table=world.table(), **settings)  # type: ignore[arg-type]


async def test_a_hosted_job_loads_the_oldest_match_and_archives_it_with_its_companions(world: RunnerWorld) -> None:
    os.utime(world.files_root / world.host(f"upload/{TEMPORARY}", PEOPLE_HEADER + "9,Zed,,,,\n"), (1, 1))
    os.utime(world.files_root / world.host("upload/people_b.csv", PEOPLE_HEADER + "2,Bob,,,,\n"), (20, 20))
    os.utime(world.files_root / world.host("upload/people_a.csv", ANN), (10, 10))
    world.host("upload/people_a.csv.cnt", "1\n")
    world.host("upload/people_a.csv.ok", "")
    rules = FileRules(count_file="cnt", ready_file="ok", archive_folder="archive/people")

    event = succeeded(await world.execute(hosted_request(world, 1, "upload/people_*", files=rules)))

    assert event.payload.counts.inserted == 1
    assert event.payload.counts.bytes_transferred == len(ANN)
    assert await world.names(world.table()) == [(1, "Ann")]
    prefix = f"{world.job_id}.1_"
    archived = sorted(p.name for p in (world.files_root / "archive/people").iterdir())
    assert archived == [f"{prefix}people_a.csv", f"{prefix}people_a.csv.cnt", f"{prefix}people_a.csv.ok"]
    assert sorted(p.name for p in (world.files_root / "upload").iterdir()) == [TEMPORARY, "people_b.csv"]


async def test_a_path_through_a_symbolic_link_fails_the_run_and_writes_nothing(
    world: RunnerWorld, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "people.csv").write_text(ANN)
    (world.files_root / "upload").mkdir()
    (world.files_root / "upload/elsewhere").symlink_to(outside)

    event = failed(await world.execute(hosted_request(world, 1, "upload/elsewhere/people.csv")))

    assert (event.payload.code, event.payload.error) == (
        "LOAD_FAILED",
        "the hosted file server refuses the path 'upload/elsewhere/people.csv': "
        "the path goes through a symbolic link, which the file server does not follow",
    )
    assert await world.rejects(1) == []


async def test_a_runner_that_cannot_see_the_hosted_tree_fails_hosted_jobs_for_good(world: RunnerWorld) -> None:
    world.host("upload/people.csv", ANN)
    blind = dataclasses.replace(world.deps, files=Sources(SftpFiles(connect_timeout_s=10), None))

    event = failed(await world.execute(hosted_request(world, 1, "upload/people.csv"), blind))

    assert event.payload.code == "INTERNAL"
    assert "set CONNECT_FILES_ROOT" in event.payload.error
    assert (world.files_root / "upload/people.csv").exists()
