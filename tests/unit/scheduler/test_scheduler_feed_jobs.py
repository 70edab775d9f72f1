"""An *import analytics feed* job (spec §6) in the scheduler: its rules, all errors at once, and the partner rules
(scheduled, never run by hand, copied or grouped)."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest

from connect_events import (
    ColumnMapping,
    CopyJob,
    CopyJobPayload,
    CreateGroup,
    CreateGroupPayload,
    CreateJob,
    CreateJobPayload,
    Daily,
    GroupDefinition,
    JobCreated,
    RunJobNow,
    RunJobNowPayload,
    RunRequested,
)
from connect_scheduler.domain.fires import decide_due
from connect_scheduler.domain.groups import decide_create_group
from connect_scheduler.domain.jobs import decide_copy_job, decide_create_job, fold
from connect_scheduler.domain.rejection import Rejected
from connect_scheduler.domain.run_control import decide_run_job_now
from connect_scheduler.domain.slots import Due, Slot
from connect_scheduler.domain.targets import Profile, freeze
from connect_scheduler.domain.validation import validate_job
from tests.unit.scheduler.scheduler_builders import (
    T0,
    activated,
    causation,
    created,
    feed_definition,
    feed_table,
    mappings,
    members,
    meta,
    orders_pet,
    source,
)

JOB = 7


def errors(spec: Any = None, **overrides: Any) -> list[tuple[str, str]]:
    found = validate_job(feed_definition(**overrides), feed_table() if spec is None else spec)
    return [(e.field, e.message) for e in found]


def refused(call: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        call()
    return caught.value


class TestRules:
    def test_a_complete_feed_job_has_no_errors(self) -> None:
        assert errors() == []

    def test_every_problem_at_once_each_naming_its_field(self) -> None:
        found = errors(
            source=source(path="feeds/*"),
            report_suite="shop suite",
            mapping=(
                *mappings(("visit_num", "id"), ("post evar12", "email")),
                ColumnMapping(source="x", target="nope"),
            ),
            labels=("browser", "post_pagename", "visit_num"),
            limits={"max_rejected_percent": 120},
        )
        assert [field for field, _ in found] == [
            "settings.source.path",
            "settings.report_suite",
            "settings.mapping[2].target",
            "settings.mapping[1].source",
            "settings.labels[0]",
            "settings.labels[1]",
            "settings.labels[2]",
            "settings.limits.max_rejected_percent",
        ]
        messages = dict(found)
        assert messages["settings.source.path"] == "names a folder: `*` is not allowed"
        assert messages["settings.labels[0]"] == "map browser to load its names"
        assert messages["settings.labels[1]"].startswith("no lookup gives this column's names; these do: browser,")

    def test_the_folder_needs_no_file_name(self) -> None:
        assert errors(source=source(path="/incoming/")) == []

    def test_the_table_must_exist_and_its_key_be_mapped(self) -> None:
        missing = validate_job(feed_definition(), None)
        assert [(e.field, e.message) for e in missing] == [("settings.table", "no table named Customers")]
        assert errors(mapping=mappings(("post_evar12", "email"), ("browser", "email2"))) == [
            ("settings.mapping", "primary-key column id of table Customers is not mapped")
        ]

    def test_a_label_column_is_listed_once(self) -> None:
        assert errors(labels=("browser", "browser")) == [("settings.labels[1]", "browser is listed twice")]


class TestPartnerRules:
    def history(self) -> list[Any]:
        cmd = CreateJob(**meta(), payload=CreateJobPayload(definition=feed_definition()))
        [created] = decide_create_job(JOB, cmd, feed_table(), None, T0, causation(cmd))
        assert isinstance(created, JobCreated)
        return [created, activated(JOB, 2)]

    def test_it_runs_on_its_schedule(self) -> None:
        daily = Daily(time=time(6, 0))
        cmd = CreateJob(**meta(), payload=CreateJobPayload(definition=feed_definition(schedule=daily)))
        history = [*decide_create_job(JOB, cmd, feed_table(), None, T0, causation(cmd)), activated(JOB, 2)]
        at = T0 + timedelta(days=1)
        decision = decide_due(fold(history), Due(id=JOB, slot=Slot(at, at, None)), feed_table(), None, at)
        [requested] = [e for e in decision.events if isinstance(e, RunRequested)]
        assert requested.payload.trigger == "schedule" and requested.payload.table == feed_table()

    def test_it_cannot_be_run_now(self) -> None:
        cmd = RunJobNow(**meta(), payload=RunJobNowPayload(job_id=JOB))
        rejection = refused(
            lambda: decide_run_job_now(fold(self.history()), cmd, feed_table(), None, T0, causation(cmd))
        )
        assert (rejection.code, rejection.reason, rejection.message) == (
            "invalid_state",
            "PARTNER_JOB_NOT_RUNNABLE",
            f"job {JOB} is a partner job",
        )

    def test_it_cannot_be_copied(self) -> None:
        history = self.history()[:1]  # inactive: only the partner rule stands in the way
        cmd = CopyJob(**meta(), payload=CopyJobPayload(job_id=JOB, name="Copy of feed"))
        rejection = refused(lambda: decide_copy_job(fold(history), cmd, 8, feed_table(), None, T0, causation(cmd)))
        assert (rejection.code, rejection.reason) == ("invalid_state", "PARTNER_JOB_NOT_COPYABLE")

    def test_it_cannot_be_put_in_a_group(self) -> None:
        members = {1: fold([created(1), activated(1, 2)]), JOB: fold(self.history())}
        group = GroupDefinition(name="Morning", members=(1, JOB))
        cmd = CreateGroup(**meta(), payload=CreateGroupPayload(definition=group))
        rejection = refused(lambda: decide_create_group(1, cmd, members, {}, None, T0, causation(cmd)))
        assert rejection.reason == "PARTNER_JOB_NOT_RUNNABLE"
        assert [(e.field, e.message) for e in rejection.errors] == [("members[1]", f"job {JOB} is a partner job")]


def pet_profile() -> Profile:
    return Profile(members(), {"orders": orders_pet()})


def pet_errors(profile: Profile | None = None, **overrides: Any) -> list[tuple[str, str]]:
    fields: dict[str, Any] = {
        "table": "",
        "pet": "Orders",
        "mapping": mappings(("post_evar12", "CUSTOMER_ID_"), ("post_pagename", "LAST_ORDER")),
        "labels": (),
    }
    definition = feed_definition(**{**fields, **overrides})
    return [(e.field, e.message) for e in validate_job(definition, profile or pet_profile())]


class TestIntoAPet:
    def test_a_feed_into_a_pet_finds_profiles_by_the_match_column(self) -> None:
        assert pet_errors() == []
        definition = feed_definition(table="", pet="Orders", mapping=mappings(("post_evar12", "CUSTOMER_ID_")))
        frozen = freeze(JOB, definition, pet_profile())
        assert (frozen.list, frozen.pets, frozen.table) == (members(), (orders_pet(),), members().as_table())

    def test_every_problem_of_a_pet_target(self) -> None:
        assert pet_errors(Profile(None)) == [("settings.pet", "no PET named Orders")]
        assert pet_errors(mapping=mappings(("post_pagename", "LAST_ORDER"))) == [
            ("settings.match_column", "map a feed column to CUSTOMER_ID_ to find each hit's profile")
        ]
        assert pet_errors(mapping=mappings(("post_evar12", "CUSTOMER_ID_"), ("visit_num", "RIID_"))) == [
            ("settings.mapping[1].target", "RIID_ comes from the profile a hit finds")
        ]
        assert pet_errors(mapping=mappings(("post_evar12", "CUSTOMER_ID_"), ("visit_num", "NOPE"))) == [
            ("settings.mapping[1].target", "PET Orders has no column NOPE")
        ]
        assert pet_errors(table="Customers") == [("settings.table", "a feed loads a custom table or a PET, not both")]

    def test_a_missing_pet_refuses_the_run(self) -> None:
        definition = feed_definition(table="", pet="Orders", mapping=mappings(("post_evar12", "CUSTOMER_ID_")))
        with pytest.raises(Rejected) as caught:
            freeze(JOB, definition, Profile(members()))
        assert (caught.value.reason, caught.value.message) == (
            "PET_NOT_FOUND",
            f"PET Orders of job {JOB} does not exist",
        )

    def test_neither_a_table_nor_a_pet(self) -> None:
        assert errors(table="") == [("settings.table", "name the custom table or the PET to load")]
