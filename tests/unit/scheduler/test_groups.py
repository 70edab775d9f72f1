"""Given/when/then for group definitions: create, update, delete, the membership rules, and the job rules a group
imposes on its members."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest

from connect_events import (
    DeactivateJob,
    DeleteGroup,
    DeleteJob,
    Event,
    GroupCommandPayload,
    GroupCreated,
    GroupDeleted,
    GroupUpdated,
    JobCommandPayload,
    Notifications,
    UpdateGroup,
    UpdateGroupPayload,
    UpdateJob,
    UpdateJobPayload,
)
from connect_scheduler.domain import jobs
from connect_scheduler.domain.groups import (
    MAX_MEMBERS,
    GroupState,
    decide_create_group,
    decide_delete_group,
    decide_update_group,
    fold,
    group_name_taken_late,
    members_to_check,
)
from connect_scheduler.domain.jobs import JobState, UnexpectedEventError
from connect_scheduler.domain.rejection import Rejected
from tests.unit.scheduler.group_builders import (
    DAILY,
    GROUP,
    create_group,
    deleted_job,
    group_created,
    group_definition,
    group_deleted,
    group_run_requested,
    inactive_job,
    job,
    jobs_state,
    member_requested,
    scheduled_job,
)
from tests.unit.scheduler.scheduler_builders import ACTOR, T0, active_job, causation, customers, definition, meta

MEMBERS = jobs_state(1, 2, 3)


def when_created(
    cmd_definition: object = None,
    members: Mapping[int, JobState | None] = MEMBERS,
    groups_of: Mapping[int, int] | None = None,
    owner: int | None = None,
) -> list[Event]:
    cmd = create_group(cmd_definition)  # type: ignore[arg-type]
    return decide_create_group(GROUP, cmd, members, groups_of or {}, owner, T0, causation(cmd))


def refusal(call: object) -> Rejected:
    with pytest.raises(Rejected) as caught:
        call()  # type: ignore[operator]
    return caught.value


def fields(rejected: Rejected) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in rejected.errors]


class TestCreateGroup:
    def test_creates_the_group_under_the_given_id(self) -> None:
        cmd = create_group()

        [event] = decide_create_group(GROUP, cmd, MEMBERS, {}, None, T0, causation(cmd))

        assert isinstance(event, GroupCreated)
        assert (event.aggregate_type, event.aggregate_id, event.aggregate_version, event.partition_key) == (
            "group",
            "7",
            1,
            "7",
        )
        assert (event.event_id, event.causation_id, event.actor, event.occurred_at) == (
            causation(cmd).event_id(0),
            cmd.command_id,
            ACTOR,
            T0,
        )
        assert (event.payload.group_id, event.payload.definition, event.payload.next_run_at) == (
            GROUP,
            group_definition(),
            None,
        )

    def test_a_scheduled_group_gives_its_next_fire(self) -> None:
        [event] = when_created(group_definition(schedule=DAILY))
        assert isinstance(event, GroupCreated)
        assert event.payload.next_run_at == T0.replace(day=2, hour=5, minute=0)  # 06:00 in Paris, UTC+1 in March

    def test_its_members_keep_their_order(self) -> None:
        [event] = when_created(group_definition((3, 1, 2)))
        assert isinstance(event, GroupCreated)
        assert event.payload.definition.members == (3, 1, 2)

    def test_the_state_holds_the_definition_at_version_1(self) -> None:
        state = fold(when_created())
        assert state == GroupState(group_id=GROUP, definition=group_definition())


MEMBER_REFUSED = {
    "one member": ((1,), MEMBERS, {}, "GROUP_TOO_SMALL", [("members", "a group needs at least 2 different jobs")]),
    "no member": ((), MEMBERS, {}, "GROUP_TOO_SMALL", [("members", "a group needs at least 2 different jobs")]),
    "a job twice": (
        (1, 2, 1),
        MEMBERS,
        {},
        "GROUP_MEMBER_REPEATED",
        [("members[2]", "job 1 is listed twice (also as members[0])")],
    ),
    "the same job only": (
        (1, 1),
        MEMBERS,
        {},
        "GROUP_TOO_SMALL",
        [
            ("members", "a group needs at least 2 different jobs"),
            ("members[1]", "job 1 is listed twice (also as members[0])"),
        ],
    ),
    "a job that never existed": (
        (1, 9),
        {**MEMBERS, 9: None},
        {},
        "GROUP_MEMBER_NOT_FOUND",
        [("members[1]", "job 9 does not exist")],
    ),
    "a deleted job": (
        (1, 2),
        {1: job(1), 2: deleted_job(2)},
        {},
        "GROUP_MEMBER_NOT_FOUND",
        [("members[1]", "job 2 was deleted")],
    ),
    "an inactive job": (
        (1, 2),
        {1: inactive_job(1), 2: job(2)},
        {},
        "GROUP_MEMBER_INACTIVE",
        [("members[0]", "job 1 is inactive")],
    ),
    "a scheduled job": (
        (1, 2),
        {1: job(1), 2: scheduled_job(2)},
        {},
        "GROUP_MEMBER_NOT_ON_DEMAND",
        [("members[1]", "job 2 runs on a schedule; a member runs on demand only")],
    ),
    "a job in another group": (
        (1, 2),
        MEMBERS,
        {2: 4},
        "GROUP_MEMBER_IN_OTHER_GROUP",
        [("members[1]", "job 2 is already a member of group 4")],
    ),
}


@pytest.mark.parametrize(
    ("members", "states", "groups_of", "reason", "errors"), MEMBER_REFUSED.values(), ids=MEMBER_REFUSED.keys()
)
def test_a_member_rule_refuses_the_group(
    members: tuple[int, ...],
    states: Mapping[int, JobState | None],
    groups_of: Mapping[int, int],
    reason: str,
    errors: list[tuple[str, str]],
) -> None:
    rejected = refusal(lambda: when_created(group_definition(members), states, groups_of))
    assert (rejected.code, rejected.reason, fields(rejected)) == ("validation", reason, errors)


class TestRulesAtOnce:
    def test_every_error_is_returned_with_its_field(self) -> None:
        states = {1: inactive_job(1), 2: None, 3: scheduled_job(3), 4: job(4)}
        group = group_definition(
            (1, 2, 3, 4, 1),
            name="bad\nname",
            description="x" * 4001,
            expires_at=T0 - timedelta(days=1),
            notifications=Notifications(on_failure=True),
        )

        rejected = refusal(lambda: when_created(group, states, {4: 8}))

        assert rejected.message == "the group has 9 error(s)"
        assert [e.field for e in rejected.errors] == [
            "name",
            "members[0]",
            "members[1]",
            "members[2]",
            "members[3]",
            "members[4]",
            "description",
            "expires_at",
            "notifications",
        ]
        assert rejected.reason == "GROUP_MEMBER_INACTIVE"  # the first precise reason, not INVALID_VALUE

    def test_a_bad_schedule_names_its_fields(self) -> None:
        bad = DAILY.model_copy(update={"time_zone": "Mars/Olympus"})
        rejected = refusal(lambda: when_created(group_definition(schedule=bad)))
        assert (rejected.reason, fields(rejected)) == (
            "INVALID_VALUE",
            [("schedule.time_zone", "not a known IANA time zone")],
        )

    def test_too_many_members_is_one_error_and_no_job_is_looked_at(self) -> None:
        members = tuple(range(1, MAX_MEMBERS + 2))
        rejected = refusal(lambda: when_created(group_definition(members), {}))
        assert fields(rejected) == [("members", f"at most {MAX_MEMBERS} jobs")]
        assert members_to_check(group_definition(members)) == ()

    def test_the_jobs_to_look_at_are_the_distinct_members_in_order(self) -> None:
        assert members_to_check(group_definition((3, 1, 3, 2))) == (3, 1, 2)

    def test_a_partner_job_cannot_be_a_member(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(jobs, "PARTNER_KINDS", frozenset({"import_custom_table"}))
        rejected = refusal(lambda: when_created(group_definition((1, 2))))
        assert rejected.reason == "PARTNER_JOB_NOT_RUNNABLE"
        assert fields(rejected) == [("members[0]", "job 1 is a partner job"), ("members[1]", "job 2 is a partner job")]


class TestGroupNames:
    def test_a_name_held_by_another_group_is_taken(self) -> None:
        rejected = refusal(lambda: when_created(group_definition(name="Morning LOADS"), owner=3))
        assert (rejected.reason, fields(rejected)) == (
            "NAME_TAKEN",
            [("name", "a group named Morning LOADS already exists")],
        )

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("   ", "a group needs a name"),
            ("x" * 101, "must be at most 100 characters"),
            ("semi;colon", None),
            ("line\nbreak", "must not contain control characters (line breaks, NUL and the like)"),
        ],
    )
    def test_the_job_name_rule_applies(self, name: str, message: str | None) -> None:
        rejected = refusal(lambda: when_created(group_definition(name=name)))
        [(field, said)] = fields(rejected)
        assert (rejected.reason, field) == ("INVALID_VALUE", "name")
        assert message is None or said == message

    def test_a_late_claim_answers_like_a_taken_name(self) -> None:
        created = group_name_taken_late("Loads", None)
        updated = group_name_taken_late("Loads", 5)
        assert (created.reason, created.message, fields(created)) == (
            "NAME_TAKEN",
            "the group has 1 error(s)",
            [("name", "a group named Loads already exists")],
        )
        assert updated.message == "group 5 has 1 error(s)"


def update(expected_version: int, group: object = None, group_id: int = GROUP) -> UpdateGroup:
    payload = UpdateGroupPayload(
        group_id=group_id,
        expected_version=expected_version,
        definition=group or group_definition((2, 1)),  # type: ignore[arg-type]
    )
    return UpdateGroup(**meta(), payload=payload)


def when_updated(
    history: list[Event], cmd: UpdateGroup, groups_of: Mapping[int, int] | None = None, owner: int | None = None
) -> list[Event]:
    return decide_update_group(fold(history), cmd, MEMBERS, groups_of or {}, owner, T0, causation(cmd))


class TestUpdateGroup:
    def test_replaces_the_definition_and_counts_a_version(self) -> None:
        cmd = update(1)
        [event] = when_updated([group_created()], cmd, groups_of={1: GROUP, 2: GROUP})  # its own members stay
        assert isinstance(event, GroupUpdated)
        assert (event.aggregate_id, event.aggregate_version, event.event_id) == ("7", 2, causation(cmd).event_id(0))
        assert event.payload.definition.members == (2, 1)
        state = fold([group_created(), event])
        assert state is not None
        assert (state.version, state.definition.members) == (2, (2, 1))

    def test_keeping_its_own_name_is_fine(self) -> None:
        assert len(when_updated([group_created()], update(1), owner=GROUP)) == 1

    def test_a_stale_version_is_a_conflict(self) -> None:
        rejected = refusal(lambda: when_updated([group_created()], update(2)))
        assert (rejected.code, rejected.reason, rejected.message) == (
            "conflict",
            "STALE_VERSION",
            "group 7 is at version 1, not 2",
        )

    def test_the_rules_apply_as_on_create(self) -> None:
        rejected = refusal(lambda: when_updated([group_created()], update(1), groups_of={2: 3}))
        assert (rejected.message, rejected.reason) == ("group 7 has 1 error(s)", "GROUP_MEMBER_IN_OTHER_GROUP")

    def test_a_group_run_in_progress_does_not_stop_an_edit(self) -> None:
        assert len(when_updated([group_created(), group_run_requested(1)], update(1))) == 1

    @pytest.mark.parametrize(
        ("history", "message"),
        [([], "group 7 does not exist"), ([group_created(), group_deleted(2)], "group 7 was deleted")],
    )
    def test_a_missing_group_is_not_found(self, history: list[Event], message: str) -> None:
        rejected = refusal(lambda: when_updated(history, update(1)))
        assert (rejected.code, rejected.reason, rejected.message) == ("not_found", "GROUP_NOT_FOUND", message)


def delete(expected_version: int | None = None) -> DeleteGroup:
    return DeleteGroup(**meta(), payload=GroupCommandPayload(group_id=GROUP, expected_version=expected_version))


class TestDeleteGroup:
    def test_deletes_by_a_users_request(self) -> None:
        cmd = delete(1)
        [event] = decide_delete_group(fold([group_created()]), cmd, causation(cmd))
        assert isinstance(event, GroupDeleted)
        assert (event.aggregate_version, event.payload.group_id, event.payload.reason) == (2, GROUP, "user")
        state = fold([group_created(), event])
        assert state is not None and state.deleted

    def test_a_stale_version_is_a_conflict(self) -> None:
        cmd = delete(3)
        assert refusal(lambda: decide_delete_group(fold([group_created()]), cmd, causation(cmd))).reason == (
            "STALE_VERSION"
        )

    def test_a_deleted_group_cannot_be_deleted_again(self) -> None:
        cmd = delete()
        history = [group_created(), group_deleted(2)]
        assert refusal(lambda: decide_delete_group(fold(history), cmd, causation(cmd))).reason == "GROUP_NOT_FOUND"


class TestFold:
    def test_an_event_before_the_creation_is_refused(self) -> None:
        with pytest.raises(UnexpectedEventError):
            fold([group_run_requested(1)])

    def test_a_foreign_event_is_refused(self) -> None:
        with pytest.raises(UnexpectedEventError):
            fold([group_created(), *active_job(1)])

    def test_a_group_run_keeps_the_run_of_each_member_requested_in_order(self) -> None:
        history = [group_created(), group_run_requested(1), member_requested(1, 0, 1, 4, 2)]
        state = fold([*history, member_requested(1, 1, 2, 9, 3)])

        assert state is not None and state.run is not None
        assert (state.run.member_runs, state.run.position, state.run.member_run_id) == ((4, 9), 1, 9)

    def test_a_member_requested_out_of_order_is_refused(self) -> None:
        with pytest.raises(UnexpectedEventError):
            fold([group_created(), group_run_requested(1), member_requested(1, 1, 2, 9, 2)])


JOB = 5


class TestJobsInAGroup:
    def test_a_member_cannot_be_deleted(self) -> None:
        cmd = DeleteJob(**meta(), payload=JobCommandPayload(job_id=JOB))
        rejected = refusal(lambda: jobs.decide_delete_job(jobs.fold(active_job(JOB)), cmd, causation(cmd), GROUP))
        assert (rejected.code, rejected.reason, rejected.message) == (
            "invalid_state",
            "JOB_IN_GROUP",
            "job 5 is a member of group 7; remove it from the group to delete it",
        )

    def test_a_member_cannot_be_deactivated(self) -> None:
        cmd = DeactivateJob(**meta(), payload=JobCommandPayload(job_id=JOB))
        state = jobs.fold(active_job(JOB))
        rejected = refusal(lambda: jobs.decide_deactivate_job(state, cmd, causation(cmd), GROUP))
        assert (rejected.reason, rejected.message) == (
            "JOB_IN_GROUP",
            "job 5 is a member of group 7; remove it from the group to deactivate it",
        )

    def test_a_member_cannot_be_given_a_schedule(self) -> None:
        cmd = UpdateJob(**meta(), payload=UpdateJobPayload(job_id=JOB, expected_version=2, definition=definition()))
        scheduled = UpdateJob(
            **meta(),
            payload=UpdateJobPayload(job_id=JOB, expected_version=2, definition=definition(schedule=DAILY)),
        )
        state = jobs.fold(active_job(JOB))

        kept = jobs.decide_update_job(state, cmd, customers(), None, T0, causation(cmd), GROUP)
        rejected = refusal(
            lambda: jobs.decide_update_job(state, scheduled, customers(), None, T0, causation(scheduled), GROUP)
        )

        assert len(kept) == 1
        assert (rejected.reason, rejected.message) == (
            "JOB_IN_GROUP",
            "job 5 is a member of group 7; remove it from the group to give it a schedule",
        )

    def test_a_job_in_no_group_is_deleted_and_deactivated_as_before(self) -> None:
        state = jobs.fold(active_job(JOB))
        delete_job = DeleteJob(**meta(), payload=JobCommandPayload(job_id=JOB))
        deactivate = DeactivateJob(**meta(), payload=JobCommandPayload(job_id=JOB))
        assert len(jobs.decide_delete_job(state, delete_job, causation(delete_job), None)) == 1
        assert len(jobs.decide_deactivate_job(state, deactivate, causation(deactivate), None)) == 1
