"""Every change maps to named SQL whose placeholders match its parameters."""

from __future__ import annotations

import re

import pytest

from connect_catalog.adapters.schema import catalog_ddl
from connect_catalog.adapters.store import statements
from connect_catalog.domain.changes import Change
from connect_catalog.domain.projection import project
from connect_catalog.domain.views import GroupRunView, GroupView, JobView, RunView, Snapshot
from connect_events import RunStatus
from tests.unit.catalog.catalog_builders import (
    TOTAL,
    command_accepted,
    command_rejected,
    job_activated,
    job_created,
    job_deleted,
    job_updated,
    list_column_added,
    list_defined,
    pet_column_added,
    pet_defined,
    run_attempt_failed,
    run_failed,
    run_progressed,
    run_requested,
    run_skipped,
    run_started,
    run_stop_requested,
    table_defined,
)
from tests.unit.catalog.group_builders import (
    group_created,
    group_deleted,
    group_run_ended,
    group_run_requested,
    group_stop_requested,
    group_updated,
    member_requested,
)

JOB = Snapshot(job=JobView(1))
QUEUED = Snapshot(run=RunView(RunStatus.QUEUED, 0))
GROUP = Snapshot(group=GroupView(1))
GROUP_RUN = Snapshot(group_run=GroupRunView(RunStatus.RUNNING, 1))


def all_changes() -> list[Change]:
    given = [
        (job_created(), Snapshot()), (job_updated(), JOB), (job_activated(), JOB), (job_deleted(), JOB),
        (table_defined(), Snapshot()), (run_requested(), Snapshot()), (run_started(), QUEUED),
        (run_progressed(), QUEUED), (run_failed(), QUEUED), (command_accepted(), Snapshot()),
        (command_rejected(), Snapshot()), (run_skipped(), Snapshot()), (run_stop_requested(), QUEUED),
        (run_attempt_failed(), Snapshot(run=RunView(RunStatus.RUNNING, 1))),
        (group_created(), Snapshot()), (group_updated(), GROUP), (group_deleted(), GROUP),
        (group_run_requested(), Snapshot()), (member_requested(0, 1, 2), GROUP_RUN),
        (group_stop_requested(2), GROUP_RUN), (group_run_ended(2), Snapshot()),
        (list_defined(), Snapshot()), (pet_defined(), Snapshot()), (list_column_added(TOTAL), Snapshot()),
        (pet_column_added(TOTAL), Snapshot()),
    ]  # fmt: skip
    return [change for event, current in given for change in project(event, current)]


@pytest.mark.parametrize("change", all_changes(), ids=lambda c: type(c).__name__)
def test_placeholders_match_parameters(change: Change) -> None:
    for sql, params in statements(change):
        placeholders = {int(n) for n in re.findall(r"\$(\d+)", sql)}
        assert placeholders == set(range(1, len(params) + 1))


def test_every_change_type_has_a_statement() -> None:
    kinds = {type(c) for c in all_changes()}
    assert len(kinds) == 28


def test_ddl_includes_offsets_and_read_models() -> None:
    ddl = catalog_ddl()
    tables = ("processed_events", "tables", "jobs", "job_next_runs", "job_history", "runs", "run_log", "commands")
    tables += ("lists", "pets")
    tables += ("groups", "group_members", "group_runs", "group_run_members", "group_run_log")
    for table in (*tables, "consumer_offsets"):
        assert f"CREATE TABLE IF NOT EXISTS {table} " in ddl
