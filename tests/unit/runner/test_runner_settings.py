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
