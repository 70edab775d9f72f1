"""The runner's limits are settings with safe defaults."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from connect_runner.bootstrap import runner_name
from connect_runner.config import RunnerSettings

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
