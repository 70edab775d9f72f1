"""Projection rules: given an event and the current rows, the read-model changes it causes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from connect_catalog.domain.changes import (
    EndRun,
    InsertJob,
    InsertRun,
    LogLine,
    MarkJobDeleted,
    RecordCommandOutcome,
    RecordProgress,
    SetJobState,
    SetLastRun,
    StartAttempt,
    UpdateJobDefinition,
    UpsertTable,
)
from connect_catalog.domain.projection import project, subject_of
from connect_catalog.domain.runs import duration_ms
from connect_catalog.domain.views import JobView, RunStatus, RunView, Snapshot, Subject
from connect_events import JobDefinition, TableSpec
from tests.unit.catalog.catalog_builders import (
    COUNTS,
    JOB_ID,
    RUN_ID,
    T0,
    command_accepted,
    command_rejected,
    job_activated,
    job_created,
    job_deactivated,
    job_deleted,
    job_updated,
    run_failed,
    run_progressed,
    run_requested,
    run_started,
    run_stopped,
    run_succeeded,
    table_defined,
)

NO_ROWS = Snapshot()
QUEUED = Snapshot(run=RunView(RunStatus.QUEUED, 0))
RUNNING = Snapshot(run=RunView(RunStatus.RUNNING, 1))
ENDED = [Snapshot(run=RunView(status, 1)) for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED)]


class TestSubject:
    def test_job_events_name_their_job(self) -> None:
        assert subject_of(job_activated()) == Subject(job_id=JOB_ID)

    def test_run_events_name_their_run(self) -> None:
        assert subject_of(run_progressed()) == Subject(run=(JOB_ID, RUN_ID))

    def test_table_events_need_no_rows(self) -> None:
        assert subject_of(table_defined()) == Subject()

    def test_replies_need_no_rows(self) -> None:
        assert subject_of(command_accepted()) == subject_of(command_rejected()) == Subject()

    @pytest.mark.parametrize(
        ("event", "job"),
        [(job_activated(), JOB_ID), (run_progressed(), JOB_ID), (table_defined(), None), (command_accepted(), None)],
        ids=["job", "run", "table", "reply"],
    )
    def test_names_the_job_whose_rows_job_and_run_events_touch(self, event: object, job: int | None) -> None:
        # Job and run events of one job are serialised on it, whichever topic they came from.
        assert subject_of(event).job == job  # type: ignore[arg-type]


class TestJobCreated:
    def test_inserts_the_job_from_its_definition(self) -> None:
        event = job_created(name="Nightly orders")
        (change,) = project(event, NO_ROWS)
        assert isinstance(change, InsertJob)
        assert (change.job_id, change.version, change.at, change.by) == (JOB_ID, 1, T0, "alice")
        fields = change.fields
        assert (fields.name, fields.job_type, fields.schedule_type) == (
            "Nightly orders",
            "import_custom_table",
            "on_demand",
        )
        assert JobDefinition.model_validate_json(fields.definition_json) == event.payload.definition

    def test_an_existing_job_is_not_created_again(self) -> None:
        assert project(job_created(), Snapshot(job=JobView(1))) == ()


class TestJobUpdated:
    def test_replaces_definition_name_description_and_version(self) -> None:
        (change,) = project(job_updated(version=2, name="Renamed"), Snapshot(job=JobView(1)))
        assert isinstance(change, UpdateJobDefinition)
        assert (change.fields.name, change.fields.description, change.version) == ("Renamed", "edited", 2)

    @pytest.mark.parametrize("current", [None, JobView(2), JobView(5)], ids=["unknown", "same", "newer"])
    def test_is_ignored_unless_it_moves_the_job_forward(self, current: JobView | None) -> None:
        assert project(job_updated(version=2), Snapshot(job=current)) == ()


class TestJobState:
    @pytest.mark.parametrize(
        ("event", "state"), [(job_activated(version=2), "active"), (job_deactivated(version=2), "inactive")]
    )
    def test_sets_state_and_version(self, event: object, state: str) -> None:
        assert project(event, Snapshot(job=JobView(1))) == (  # type: ignore[arg-type]
            SetJobState(JOB_ID, state, 2, T0, "alice"),  # type: ignore[arg-type]
        )

    def test_a_redelivered_older_state_change_is_ignored(self) -> None:
        assert project(job_deactivated(version=2), Snapshot(job=JobView(3))) == ()


class TestJobDeleted:
    def test_marks_the_job_deleted_with_its_reason(self) -> None:
        changes = project(job_deleted(version=4), Snapshot(job=JobView(3)))
        assert changes == (MarkJobDeleted(JOB_ID, "expired", 4, T0, "alice"),)


class TestTableDefined:
    def test_upserts_the_table_spec(self) -> None:
        (change,) = project(table_defined("Orders"), NO_ROWS)
        assert isinstance(change, UpsertTable)
        assert (change.name, change.at, change.by) == ("Orders", T0, "alice")
        assert TableSpec.model_validate_json(change.spec_json).primary_key == ("id",)


class TestRunRequested:
    def test_queues_the_run_moves_last_run_and_logs(self) -> None:
        assert project(run_requested(), NO_ROWS) == (
            InsertRun(JOB_ID, RUN_ID, "Nightly orders", "manual", T0),
            SetLastRun(JOB_ID, RUN_ID),
            LogLine(JOB_ID, RUN_ID, T0, "INFO", "Run requested (manual)"),
        )

    def test_an_existing_run_is_not_requested_again(self) -> None:
        assert project(run_requested(), RUNNING) == ()


class TestRunStarted:
    def test_starts_the_attempt_and_logs_the_runner(self) -> None:
        at = T0 + timedelta(seconds=3)
        assert project(run_started(attempt=1, started_at=at), QUEUED) == (
            StartAttempt(JOB_ID, RUN_ID, 1, "runner-a", at),
            LogLine(JOB_ID, RUN_ID, at, "INFO", "Started attempt 1 on runner-a"),
        )

    def test_a_later_attempt_replaces_the_start_time(self) -> None:
        at = T0 + timedelta(minutes=5)
        change = project(run_started(attempt=2, started_at=at), RUNNING)[0]
        assert change == StartAttempt(JOB_ID, RUN_ID, 2, "runner-a", at)

    @pytest.mark.parametrize("attempt", [0, 1], ids=["older", "same"])
    def test_an_older_or_repeated_attempt_is_ignored(self, attempt: int) -> None:
        assert project(run_started(attempt=attempt), RUNNING) == ()

    @pytest.mark.parametrize("ended", ENDED, ids=lambda s: s.run.status)
    def test_a_start_after_the_end_is_ignored(self, ended: Snapshot) -> None:
        assert project(run_started(attempt=2), ended) == ()

    def test_an_unknown_run_is_ignored(self) -> None:
        assert project(run_started(), NO_ROWS) == ()

    def test_a_start_time_without_zone_is_utc(self) -> None:
        naive = datetime(2026, 3, 1, 12, 0)
        change = project(run_started(started_at=naive), QUEUED)[0]
        assert isinstance(change, StartAttempt)
        assert change.started_at == naive.replace(tzinfo=UTC)


class TestRunProgressed:
    @pytest.mark.parametrize("current", [QUEUED, RUNNING], ids=["queued", "running"])
    def test_records_live_counters(self, current: Snapshot) -> None:
        assert project(run_progressed(rows=5), current) == (RecordProgress(JOB_ID, RUN_ID, 5, 500, 2048, "load"),)

    @pytest.mark.parametrize("ended", ENDED, ids=lambda s: s.run.status)
    def test_late_progress_after_the_end_is_ignored(self, ended: Snapshot) -> None:
        assert project(run_progressed(), ended) == ()


class TestRunEnded:
    def test_success_records_final_counts_duration_and_a_log_line(self) -> None:
        change, line = project(run_succeeded(started_at=T0), RUNNING)
        assert change == EndRun(
            JOB_ID,
            RUN_ID,
            RunStatus.SUCCEEDED,
            COUNTS,
            T0,
            T0 + timedelta(seconds=90, milliseconds=250),
            90_250,
        )
        assert line == LogLine(
            JOB_ID,
            RUN_ID,
            T0,
            "INFO",
            "Succeeded: 10 rows read, 6 inserted, 2 updated, 1 unchanged, 1 rejected",
        )

    def test_failure_records_the_error_at_level_error(self) -> None:
        change, line = project(run_failed(), RUNNING)
        assert isinstance(change, EndRun)
        assert (change.status, change.error_code, change.error) == (
            RunStatus.FAILED, "FILE_NOT_FOUND", "no file matching x",
        )  # fmt: skip
        assert (line.level, line.message) == ("ERROR", "Failed (FILE_NOT_FOUND): no file matching x")  # type: ignore[union-attr]

    def test_stop_is_logged_as_a_warning_with_counts(self) -> None:
        change, line = project(run_stopped(), RUNNING)
        assert isinstance(change, EndRun) and change.status is RunStatus.STOPPED
        assert isinstance(line, LogLine) and line.level == "WARN" and line.message.startswith("Stopped: 10 rows read")

    def test_a_run_that_never_started_can_end(self) -> None:
        assert isinstance(project(run_failed(), QUEUED)[0], EndRun)

    @pytest.mark.parametrize("event", [run_succeeded(), run_failed(), run_stopped()], ids=["ok", "failed", "stopped"])
    @pytest.mark.parametrize("ended", ENDED, ids=lambda s: s.run.status)
    def test_a_second_terminal_event_is_ignored(self, event: object, ended: Snapshot) -> None:
        assert project(event, ended) == ()  # type: ignore[arg-type]

    def test_an_unknown_run_is_ignored(self) -> None:
        assert project(run_succeeded(), NO_ROWS) == ()


class TestReplies:
    def test_an_accepted_command_records_its_target_and_run(self) -> None:
        event = command_accepted(job_id=JOB_ID, run_id=RUN_ID)
        assert project(event, NO_ROWS) == (
            RecordCommandOutcome(
                command_id=event.payload.command_id,
                command_type="job.run_now",
                status="accepted",
                replied_at=T0,
                target_type="job",
                target_id=str(JOB_ID),
                target_version=2,
                run_id=RUN_ID,
            ),
        )

    def test_a_rejected_command_records_its_code_message_and_every_field_error(self) -> None:
        event = command_rejected()
        (change,) = project(event, NO_ROWS)
        assert isinstance(change, RecordCommandOutcome)
        assert (change.command_id, change.command_type, change.status, change.replied_at) == (
            event.payload.command_id, "job.create", "rejected", T0,
        )  # fmt: skip
        assert (change.code, change.message) == ("validation", "the job has 2 error(s)")
        assert (change.target_type, change.target_id, change.target_version, change.run_id) == (None,) * 4
        assert json.loads(change.errors_json) == [
            {"field": "name", "message": "a job named X already exists"},
            {"field": "settings.table", "message": "no table named Nope"},
        ]

    def test_an_accepted_command_has_no_errors(self) -> None:
        (change,) = project(command_accepted(), NO_ROWS)
        assert isinstance(change, RecordCommandOutcome)
        assert (change.code, change.message, json.loads(change.errors_json)) == (None, None, [])


class TestDuration:
    def test_is_in_whole_milliseconds(self) -> None:
        assert duration_ms(T0, T0 + timedelta(seconds=1, microseconds=999)) == 1000

    def test_is_never_negative(self) -> None:
        assert duration_ms(T0, T0 - timedelta(seconds=1)) == 0

    def test_mixes_naive_and_aware_times_as_utc(self) -> None:
        assert duration_ms(datetime(2026, 3, 1, 12, 0), T0 + timedelta(seconds=2)) == 2000
