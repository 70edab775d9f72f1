"""Every requested run ends: attempts are capped, runs and table locks are time-limited, unreadable requests
fail their run, error texts never carry the credential, and staging left behind is swept at start-up."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from connect_events import RUNS_TOPIC, FileRules, RunRequested, TableSpec, decode, encode
from connect_runner.adapters.staging import drop_ended_staging
from connect_runner.adapters.tables import ensure_table
from connect_runner.domain.file_pattern import FilePattern
from connect_runner.domain.plan import resolve_by_header
from connect_runner.domain.redaction import WITHHELD
from connect_runner.domain.source_files import Checkpoint, FetchedFile, Progress, Source
from connect_runner.domain.statements import Staging, create_staging
from connect_runner.domain.unreadable import UnreadableRequest, identify
from connect_runner.handlers import fail_unreadable
from tests.integration.runner.runner_it import ANN, PEOPLE_HEADER, RunnerWorld, failed, succeeded
from tests.unit.runner.runner_builders import PEOPLE_MAPPING, location, people_table, run_request


class _Files:
    """A file source that never gets as far as a file: it hangs, raises, or must not be called at all."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.calls = 0

    async def fetch(
        self,
        source: Source,
        pattern: FilePattern,
        rules: FileRules,
        work_dir: Path,
        stem: str,
        progress: Progress,
        checkpoint: Checkpoint,
    ) -> FetchedFile:
        self.calls += 1
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        # Some library's message quoting what it was given, the credential included.
        credential = source.credential
        assert credential is not None
        raise ValueError(f"cannot use {credential!r} with secret {credential.secret!r}")


def _offline(world: RunnerWorld, table: TableSpec | None = None) -> RunRequested:
    """Run 1 of the world's job from a made-up server: for runs whose files never reach one."""
    return world.request(1, location("/x.csv", world.key_ref), table)


async def test_a_run_whose_attempts_all_stopped_midway_fails_without_loading(world: RunnerWorld) -> None:
    table = people_table(f"gaveup_{world.job_id}")
    request = _offline(world, table)
    # Three runners took the run and were killed (e.g. out of memory) midway, the last one while staging.
    for _ in range(3):
        crashed = await world.crashed_attempt(request)
    plan = resolve_by_header(PEOPLE_HEADER.strip().split(","), PEOPLE_MAPPING, table, "/x.csv")
    await world.pool.execute(create_staging(Staging(world.job_id, 1, crashed.number), plan))
    files = _Files("must not be called")

    event = failed(await world.execute(request, replace(world.deps, files=files)))

    assert (event.payload.code, event.payload.error) == (
        "INTERNAL",
        "gave up after 3 attempts: the runner stopped during each of them",
    )
    assert files.calls == 0
    assert await world.ledger_status(1) == "failed"
    assert not await world.staging(1)
    emitted = await world.events(1)
    assert [type(e).__name__ for e in emitted] == ["RunStarted"] * 4 + ["RunFailed"]
    assert await world.execute(request) == event


async def test_a_transfer_that_hangs_fails_at_the_run_time_limit(world: RunnerWorld) -> None:
    deps = replace(world.deps, files=_Files("hang"), run_timeout_s=0.3)

    event = failed(await world.execute(_offline(world), deps))

    assert (event.payload.code, event.payload.error) == (
        "CONNECTION_FAILED",
        "the run exceeded its time limit of 0.3 s",
    )


@pytest.fixture
async def locked_table(audience_pool: asyncpg.Pool, unique: str) -> Any:
    """A custom table another transaction is writing to (it holds ROW EXCLUSIVE) until the test releases it."""
    table = people_table(f"locked_{unique}")
    async with audience_pool.acquire() as conn:
        await ensure_table(conn, table)
    release = asyncio.Event()
    holding = asyncio.Event()

    async def hold() -> None:
        async with audience_pool.acquire() as conn, conn.transaction():
            await conn.execute(f'LOCK TABLE custom."{table.name}" IN ROW EXCLUSIVE MODE')
            holding.set()
            await release.wait()

    task = asyncio.create_task(hold())
    await holding.wait()
    yield table, release
    release.set()
    await task


async def test_a_target_locked_by_another_writer_fails_after_the_lock_timeout_and_later_loads(
    world: RunnerWorld, locked_table: Any
) -> None:
    table, release = locked_table
    path = world.put("people.csv", ANN)

    event = failed(await world.run(1, path, table, deps=replace(world.deps, lock_timeout_s=0.3)))

    assert (event.payload.code, event.payload.error) == (
        "LOAD_FAILED",
        "the target table stayed locked by another writer for 0.3 s",
    )
    release.set()
    done = succeeded(await world.run(2, path, table))
    assert done.payload.counts.inserted == 1
    assert [r["id"] for r in await world.rows(table)] == [1]


async def test_a_load_stuck_behind_a_lock_fails_at_the_run_time_limit(world: RunnerWorld, locked_table: Any) -> None:
    table, _release = locked_table
    path = world.put("people.csv", ANN)

    event = failed(await world.run(1, path, table, deps=replace(world.deps, run_timeout_s=3)))

    assert (event.payload.code, event.payload.error) == ("LOAD_FAILED", "the run exceeded its time limit of 3 s")
    assert await world.rows(table) == []


async def test_an_unexpected_error_quoting_the_credential_is_told_in_the_runners_words(
    world: RunnerWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="connect_runner")

    event = failed(await world.execute(_offline(world), replace(world.deps, files=_Files("raise"))))

    assert (event.payload.code, event.payload.error) == (
        "INTERNAL",
        f"an unexpected error in the runner stopped the run; its log has the details (run {world.job_id}.1)",
    )
    key_lines = [line for line in world.server.private_key.splitlines() if len(line) > 20]
    assert key_lines
    assert not [line for line in key_lines if line in event.model_dump_json()]
    # Operators get the exception's type and where it was raised; its message quoted the key, so not that.
    [logged] = [r for r in caplog.records if r.getMessage() == "run failed unexpectedly"]
    assert (logged.error_type, logged.detail) == ("ValueError", WITHHELD)
    assert any(" in fetch" in line for line in logged.traceback)
    assert not [line for line in key_lines if line in repr(logged.__dict__)]


def _unreadable(job_id: int, run_id: int) -> UnreadableRequest:
    data = json.loads(encode(run_request(job_id, run_id, source=location("/x.csv"))))
    data["schema_version"] = 2
    raw = json.dumps(data).encode()
    with pytest.raises(ValueError) as caught:
        decode(RUNS_TOPIC, raw)
    found = identify(raw, caught.value)
    assert found is not None
    return found


async def test_an_unreadable_request_fails_its_run_exactly_once(world: RunnerWorld) -> None:
    request = _unreadable(world.job_id, 1)

    event = failed(await fail_unreadable(request, world.deps))

    assert (event.payload.code, event.payload.error) == (
        "INTERNAL",
        "this runner cannot read the run request: schema_version: not a value this runner knows",
    )
    assert (event.aggregate_id, event.aggregate_version, event.causation_id) == (
        f"{world.job_id}.1",
        2,
        request.event_id,
    )
    assert await fail_unreadable(request, world.deps) == event
    assert await world.events(1) == [event]
    assert await world.ledger_status(1) == "failed"


async def test_the_start_up_sweep_drops_staging_of_ended_runs_only(world: RunnerWorld) -> None:
    job_id = world.job_id
    plan = resolve_by_header(PEOPLE_HEADER.strip().split(","), PEOPLE_MAPPING, people_table(), "/x.csv")
    for run_id in (1, 2):  # left behind: run 1 ended since, run 2 may still be running somewhere
        await world.pool.execute(create_staging(Staging(job_id, run_id, 1), plan))
    await fail_unreadable(_unreadable(job_id, 1), world.deps)

    assert await drop_ended_staging(world.pool) >= 2

    assert not await world.staging(1)
    assert await world.staging(2) == [f"s_{job_id}_2_1", f"s_{job_id}_2_1_rej"]
