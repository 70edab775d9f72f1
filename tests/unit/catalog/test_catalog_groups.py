"""Group projection rules: the group row and its members, the job's group, group runs, their members and logs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connect_catalog.domain.changes import EndGroupRun, InsertGroupRun, SetGroupMembers
from connect_catalog.domain.groups import group_status_after
from connect_catalog.domain.projection import project, subject_of
from connect_catalog.domain.views import GroupRunView, GroupView, Snapshot, Subject
from connect_catalog.handlers import project_event
from connect_events import TERMINAL, Event, RunStatus
from tests.unit.catalog.catalog_builders import T0
from tests.unit.catalog.catalog_fakes import InMemoryReadModel
from tests.unit.catalog.group_builders import (
    DAILY,
    GROUP_ID,
    GROUP_RUN_ID,
    MEMBERS,
    group_created,
    group_deleted,
    group_run_ended,
    group_run_requested,
    group_stop_requested,
    group_updated,
    member_requested,
)

KEY = (GROUP_ID, GROUP_RUN_ID)
HOUR = timedelta(hours=1)


async def feed(model: InMemoryReadModel, *events: Event) -> None:
    for event in events:
        await project_event(model, event)


def log(model: InMemoryReadModel) -> list[str]:
    return [f"{line.level} {line.message}" for line in model.group_log if (line.group_id, line.run_id) == KEY]


def test_group_events_name_their_group_and_group_run_events_their_group_run() -> None:
    assert subject_of(group_created()) == Subject(group_id=GROUP_ID)
    assert subject_of(member_requested(0, 9, 2)) == Subject(group_run=KEY)
    assert Subject(group_run=KEY).job is None  # no job lock for group events


async def test_a_group_keeps_its_definition_members_in_order_and_next_run() -> None:
    model = InMemoryReadModel()
    await feed(model, group_created(members=(1043, 1042), schedule=DAILY, next_run_at=T0 + HOUR))
    group = model.groups[GROUP_ID]
    assert (group["name"], group["schedule_type"], group["next_run_at"], group["version"]) == (
        "Nightly chain", "daily", T0 + HOUR, 1,
    )  # fmt: skip
    assert model.members_of(GROUP_ID) == [1043, 1042]
    assert (model.group_of(1042), model.group_of(1043), model.group_of(1)) == (GROUP_ID, GROUP_ID, None)


async def test_an_edit_replaces_the_members_and_a_deletion_frees_them() -> None:
    model = InMemoryReadModel()
    await feed(model, group_created(), group_updated(version=2, members=(1042, 1044)))
    assert (model.members_of(GROUP_ID), model.group_of(1043), model.groups[GROUP_ID]["name"]) == (
        [1042, 1044], None, "Renamed",
    )  # fmt: skip
    await feed(model, group_deleted(version=3, reason="expired"))
    group = model.groups[GROUP_ID]
    assert (group["deleted"], group["deleted_reason"], model.members_of(GROUP_ID)) == (True, "expired", [])


async def test_a_job_moved_between_groups_ends_in_the_later_one_whichever_group_is_read_first() -> None:
    # Group 31 released job 1043 at T0+1h; group 32 claimed it at T0+2h. Different partitions: any order.
    released = group_updated(version=2, members=(1042, 1044), at=T0 + HOUR)
    claimed = group_created(group_id=32, members=(1043, 1045), at=T0 + 2 * HOUR)
    for order in ((group_created(), released, claimed), (claimed, group_created(), released)):
        model = InMemoryReadModel()
        await feed(model, *order)
        assert model.group_of(1043) == 32


def test_an_old_or_repeated_group_event_changes_nothing() -> None:
    assert project(group_created(), Snapshot(group=GroupView(1))) == ()
    assert project(group_updated(version=2), Snapshot(group=GroupView(2))) == ()
    assert project(group_updated(version=2), Snapshot()) == ()
    assert isinstance(project(group_updated(version=3), Snapshot(group=GroupView(2)))[1], SetGroupMembers)


async def test_a_group_run_links_its_member_runs_in_order_and_ends_succeeded() -> None:
    model = InMemoryReadModel()
    await feed(
        model, group_created(), group_run_requested(), member_requested(0, 7, 2), member_requested(1, 3, 3),
        group_run_ended(4),
    )  # fmt: skip
    run = model.group_runs[KEY]
    assert (run["status"], run["trigger"], run["members"], run["duration_ms"]) == (
        "succeeded", "manual", MEMBERS, 300_000,
    )  # fmt: skip
    assert [model.group_run_members[(*KEY, p)] for p in (0, 1)] == [(1042, 7), (1043, 3)]
    assert log(model) == [
        "INFO Group run requested (manual); members 1042, 1043",
        "INFO Member 1 started as run 1042.7",
        "INFO Member 2 started as run 1043.3",
        "INFO Succeeded: every member succeeded",
    ]
    assert (model.groups[GROUP_ID]["last_run_id"], model.groups[GROUP_ID]["previous_run_at"]) == (GROUP_RUN_ID, T0)


async def test_a_failed_member_fails_the_group_run_naming_it() -> None:
    model = InMemoryReadModel()
    ended = group_run_ended(3, RunStatus.FAILED, failed=(1042, 7), error="no file matching x")
    await feed(model, group_created(), group_run_requested(), member_requested(0, 7, 2), ended)
    run = model.group_runs[KEY]
    assert (run["status"], run["failed_job_id"], run["failed_run_id"], run["error"]) == (
        "failed", 1042, 7, "no file matching x",
    )  # fmt: skip
    assert log(model)[-1] == "ERROR Failed at 1042.7: no file matching x; the rest did not start"


async def test_a_member_that_could_not_start_is_named_by_its_job() -> None:
    model = InMemoryReadModel()
    ended = group_run_ended(2, RunStatus.FAILED, failed=(1042, None), error="member 1 could not start: inactive")
    await feed(model, group_created(), group_run_requested(), ended)
    assert log(model)[-1] == "ERROR Failed at job 1042: member 1 could not start: inactive; the rest did not start"


async def test_a_stop_request_is_logged_with_who_asked_and_the_run_ends_stopped() -> None:
    model = InMemoryReadModel()
    ended = group_run_ended(4, RunStatus.STOPPED, failed=(1042, 7))
    await feed(model, group_created(), group_run_requested(), member_requested(0, 7, 2), group_stop_requested(3), ended)
    assert (model.group_runs[KEY]["status"], model.group_runs[KEY]["stop_requested"]) == ("stopped", True)
    assert log(model)[-2:] == ["INFO Stop requested by otto", "WARN Stopped at 1042.7; the rest did not start"]


async def test_a_scheduled_group_run_says_the_next_fire_and_missed_ones() -> None:
    model = InMemoryReadModel()
    fire = group_run_requested(scheduled_for=T0 - HOUR, next_run_at=T0 + HOUR, missed_fires=2)
    await feed(model, group_created(schedule=DAILY, next_run_at=T0 - HOUR), fire)
    group = model.groups[GROUP_ID]
    assert (group["previous_run_at"], group["next_run_at"], model.group_runs[KEY]["trigger"]) == (
        T0 - HOUR, T0 + HOUR, "schedule",
    )  # fmt: skip
    assert log(model)[-1].startswith("WARN 2 scheduled runs were missed")


async def test_a_skipped_group_run_is_born_ended_under_the_groups_name() -> None:
    model = InMemoryReadModel()
    skipped = group_run_ended(1, RunStatus.SKIPPED, error="group run 31.3 was still running", started_at=T0 + HOUR)
    await feed(model, group_created(), skipped)
    run = model.group_runs[KEY]
    assert (run["status"], run["group_name"], run["scheduled_for"], run["members"]) == (
        "skipped", "Nightly chain", T0 + HOUR, (),
    )  # fmt: skip
    assert log(model) == ["WARN Skipped: group run 31.3 was still running"]
    assert model.groups[GROUP_ID]["last_run_id"] == GROUP_RUN_ID


async def test_a_skipped_fire_moves_the_groups_next_run_on() -> None:
    model = InMemoryReadModel()
    skipped = group_run_ended(1, RunStatus.SKIPPED, started_at=T0, next_run_at=T0 + HOUR)
    await feed(model, group_created(schedule=DAILY, next_run_at=T0), skipped)
    group = model.groups[GROUP_ID]
    assert (group["previous_run_at"], group["next_run_at"]) == (T0, T0 + HOUR)


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_an_ended_status_is_final(status: RunStatus) -> None:
    ended = Snapshot(group_run=GroupRunView(status, 3))
    late_end = group_run_ended(9, RunStatus.SUCCEEDED)
    assert project(late_end, ended) == ()
    assert project(member_requested(1, 3, 9), ended) == ()
    assert project(group_stop_requested(9), ended) == ()
    assert group_status_after(GroupRunView(status, 3), late_end) is None


def test_a_repeated_group_run_event_changes_nothing() -> None:
    running = Snapshot(group_run=GroupRunView(RunStatus.RUNNING, 2))
    assert project(group_run_requested(), running) == ()
    assert project(member_requested(0, 7, 2), running) == ()
    [end, _line] = project(group_run_ended(3, RunStatus.FAILED), running)
    assert isinstance(end, EndGroupRun) and end.status is RunStatus.FAILED


def test_a_group_run_is_running_from_its_request() -> None:
    [row, *_] = project(group_run_requested(), Snapshot())
    assert isinstance(row, InsertGroupRun) and row.status is RunStatus.RUNNING
