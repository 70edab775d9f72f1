"""The runs consumer spends no statement on events that move no run's status: progress and execution-log entries
(frequent while a run goes) and stop requests; a record that is not a run event still fails."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from connect_events import Event, encode
from connect_scheduler.entrypoints.runs import on_run_records
from tests.unit.scheduler.scheduler_builders import progressed, run_logged, run_requested, stop_requested

JOB = 7
USED = "the consumer used the database"


class NoDatabase:
    """A connection that fails the test on any use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{USED} ({name})")


async def consume(*events: Event) -> None:
    records = [SimpleNamespace(value=encode(event), offset=i, key=b"7") for i, event in enumerate(events)]
    await on_run_records(NoDatabase(), records)  # type: ignore[arg-type]


async def test_log_entries_progress_and_stop_requests_cost_no_statement() -> None:
    await consume(run_logged(JOB, 1, 3), progressed(JOB, 1, 4), run_logged(JOB, 1, 5), stop_requested(JOB, 1))


async def test_a_batch_with_a_status_change_among_them_reaches_the_database() -> None:
    with pytest.raises(AssertionError, match=USED):
        await consume(run_logged(JOB, 1, 3), run_requested(JOB, 2))


async def test_a_malformed_record_among_log_entries_still_fails() -> None:
    records = [SimpleNamespace(value=encode(run_logged(JOB, 1, 3)), offset=0), SimpleNamespace(value=b"{}", offset=1)]
    with pytest.raises(ValidationError):
        await on_run_records(NoDatabase(), records)  # type: ignore[arg-type]
