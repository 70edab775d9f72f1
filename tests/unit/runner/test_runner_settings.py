"""The runner's limits are settings with safe defaults."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from connect_events import FileRules, HostedLocation
from connect_runner.adapters.sources import Sources
from connect_runner.bootstrap import runner_name, sources
from connect_runner.config import RunnerSettings
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import FilePattern
from connect_runner.domain.source_files import Source

KEY = {"CONNECT_VAULT_KEY": "k" * 44}


def test_limits_default_to_three_attempts_an_hour_and_a_minute() -> None:
    settings = RunnerSettings(**KEY)  # type: ignore[arg-type]
    assert (settings.max_attempts, settings.run_timeout_s, settings.lock_timeout_s) == (3, 3600.0, 60.0)


def test_limits_are_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNER_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("RUNNER_RUN_TIMEOUT_S", "120")
    monkeypatch.setenv("RUNNER_LOCK_TIMEOUT_S", "2.5")
    settings = RunnerSettings(**KEY)  # type: ignore[arg-type]
    assert (settings.max_attempts, settings.run_timeout_s, settings.lock_timeout_s) == (5, 120.0, 2.5)

    monkeypatch.setenv("RUNNER_MAX_ATTEMPTS", "0")
    with pytest.raises(ValidationError):
        RunnerSettings(**KEY)  # type: ignore[arg-type]


def test_the_runner_is_named_after_its_host_without_a_process_id(monkeypatch: pytest.MonkeyPatch) -> None:
    # Users read it in the run's log ("Started attempt 1 on <name>"); nothing needs it unique per process.
    monkeypatch.delenv("RUNNER_NAME", raising=False)
    assert runner_name(RunnerSettings(**KEY)) == socket.gethostname()  # type: ignore[arg-type]

    monkeypatch.setenv("RUNNER_NAME", "runner-a")
    assert runner_name(RunnerSettings(**KEY)) == "runner-a"  # type: ignore[arg-type]


def test_lost_runs_are_abandoned_after_ten_minutes_and_looked_for_every_half_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = RunnerSettings(**KEY)  # type: ignore[arg-type]
    assert (settings.abandon_after_s, settings.reap_interval_s) == (600.0, 30.0)

    monkeypatch.setenv("RUNNER_ABANDON_AFTER_S", "5")
    monkeypatch.setenv("RUNNER_REAP_INTERVAL_S", "0.5")
    settings = RunnerSettings(**KEY)  # type: ignore[arg-type]
    assert (settings.abandon_after_s, settings.reap_interval_s) == (5.0, 0.5)


def test_stop_requests_have_a_consumer_group_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNER_CONSUMER_GROUP", "runner-eu")
    assert RunnerSettings(**KEY).stops_consumer_group == "runner-eu-stops"  # type: ignore[arg-type]

    monkeypatch.setenv("RUNNER_STOPS_CONSUMER_GROUP", "stops")
    assert RunnerSettings(**KEY).stops_consumer_group == "stops"  # type: ignore[arg-type]


def test_due_retries_are_looked_for_every_second(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RunnerSettings(**KEY).retry_poll_s == 1.0  # type: ignore[arg-type]

    monkeypatch.setenv("RUNNER_RETRY_POLL_S", "0.2")
    assert RunnerSettings(**KEY).retry_poll_s == 0.2  # type: ignore[arg-type]
    monkeypatch.setenv("RUNNER_RETRY_POLL_S", "0")
    with pytest.raises(ValidationError):
        RunnerSettings(**KEY)  # type: ignore[arg-type]


def test_hosted_files_are_read_from_the_gateways_root_and_ready_files_looked_for_every_five_seconds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CONNECT_FILES_ROOT", raising=False)
    settings = RunnerSettings(**KEY)  # type: ignore[arg-type]
    assert (settings.files_root, settings.ready_poll_s) == (None, 5.0)

    monkeypatch.setenv("CONNECT_FILES_ROOT", str(tmp_path))
    monkeypatch.setenv("RUNNER_READY_POLL_S", "0.1")
    settings = RunnerSettings(**KEY)  # type: ignore[arg-type]
    assert (settings.files_root, settings.ready_poll_s) == (tmp_path, 0.1)
    monkeypatch.setenv("RUNNER_READY_POLL_S", "0")
    with pytest.raises(ValidationError):
        RunnerSettings(**KEY)  # type: ignore[arg-type]


async def test_a_runner_without_the_root_fails_hosted_jobs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hosted = Source(HostedLocation(path="upload/x.csv"), None)
    pattern = FilePattern(folder="upload", name="x.csv")
    (tmp_path / "upload").mkdir()
    (tmp_path / "upload/x.csv").write_text("id\n1\n")

    async def checkpoint() -> None:
        pass

    async def fetch(files: Sources) -> str:
        fetched = await files.fetch(hosted, pattern, FileRules(), tmp_path, "s", lambda _d, _t: None, checkpoint)
        return fetched.remote_path

    monkeypatch.delenv("CONNECT_FILES_ROOT", raising=False)
    with pytest.raises(RunFailure, match="CONNECT_FILES_ROOT"):
        await fetch(sources(RunnerSettings(**KEY)))  # type: ignore[arg-type]

    monkeypatch.setenv("CONNECT_FILES_ROOT", str(tmp_path))
    assert await fetch(sources(RunnerSettings(**KEY))) == "upload/x.csv"  # type: ignore[arg-type]
