"""Projection rules: given an event and the current rows, the read-model changes it causes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Literal

import pytest

from connect_catalog.domain.changes import (
    Edit,
    EndRun,
    InsertJob,
    InsertRun,
    LogLine,
    MarkJobDeleted,
    MarkRunStopRequested,
    RecordCommandOutcome,
    RecordHistory,
    RecordProgress,
    SetJobState,
    SetLastRun,
    SetNextRun,
    Span,
    StartAttempt,
    UpdateJobDefinition,
    UpsertTable,
)
from connect_catalog.domain.projection import project, subject_of
from connect_catalog.domain.runs import STOP_TOO_LATE, span
from connect_catalog.domain.views import JobView, RunView, Snapshot, Subject
from connect_events import TERMINAL, Daily, FieldError, JobDefinition, LogLevel, RunStatus, TableSpec
from tests.unit.catalog.catalog_builders import (
    COUNTS,
    JOB_ID,
    RUN_ID,
    T0,
    command_accepted,
    command_rejected,
    definition,
    job_activated,
    job_created,
    job_deactivated,
    job_deleted,
    job_updated,
    run_attempt_failed,
    run_failed,
    run_logged,
    run_progressed,
    run_requested,
    run_skipped,
    run_started,
    run_stop_requested,
    run_stopped,
    run_succeeded,
    scheduled_run_requested,
    table_defined,
)

NO_ROWS = Snapshot()
QUEUED = Snapshot(run=RunView(RunStatus.QUEUED, 0))
RUNNING = Snapshot(run=RunView(RunStatus.RUNNING, 1))
ENDED = [Snapshot(run=RunView(status, 1)) for status in sorted(TERMINAL)]
STORED = definition().model_dump(mode="json")  # the stored definition an edit is compared with
LATER = T0 + timedelta(days=1)

IMPORT = "import_custom_table"


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
        change, next_run, history = project(event, NO_ROWS)
        assert isinstance(change, InsertJob)
        assert (change.job_id, change.edit, change.copied_from) == (JOB_ID, Edit(1, T0, "alice"), None)
        fields = change.fields
        assert (fields.name, fields.job_type, fields.schedule_type) == (
            "Nightly orders",
            "import_custom_table",
            "on_demand",
        )
        assert JobDefinition.model_validate_json(fields.definition_json) == event.payload.definition
        assert json.loads(fields.errors_json) == []
        assert next_run == SetNextRun(JOB_ID, None, T0)
        assert history == RecordHistory(JOB_ID, Edit(1, T0, "alice"), "created")

    def test_a_draft_keeps_its_errors(self) -> None:
        errors = (FieldError(field="settings.table", message="no table named Nope"),)
        change = project(job_created(errors=errors), NO_ROWS)[0]
        assert isinstance(change, InsertJob)
        assert json.loads(change.fields.errors_json) == [{"field": "settings.table", "message": "no table named Nope"}]

    def test_a_copy_names_the_job_it_copies_in_its_row_and_its_history(self) -> None:
        change, _, history = project(job_created(copied_from=41), NO_ROWS)
        assert isinstance(change, InsertJob) and change.copied_from == 41
        assert history == RecordHistory(JOB_ID, Edit(1, T0, "alice"), "copied", copied_from=41)

    def test_an_existing_job_is_not_created_again(self) -> None:
        assert project(job_created(), Snapshot(job=JobView(1))) == ()


class TestJobUpdated:
    def test_replaces_definition_name_description_and_version(self) -> None:
        change = project(job_updated(version=2, name="Renamed"), Snapshot(job=JobView(1, STORED)))[0]
        assert isinstance(change, UpdateJobDefinition)
        assert (change.fields.name, change.fields.description, change.edit.version) == ("Renamed", "edited", 2)

    def test_history_names_the_fields_the_edit_changed(self) -> None:
        new = definition("Renamed").model_copy(update={"schedule": Daily(time=time(6, 30))})
        _, _, history = project(job_updated(version=2, new=new), Snapshot(job=JobView(1, STORED)))
        assert history == RecordHistory(JOB_ID, Edit(2, T0, "alice"), "updated", changed=("name", "schedule"))

    def test_says_the_next_fire_the_edit_gives(self) -> None:
        _, next_run, _ = project(job_updated(version=2, next_run_at=LATER), Snapshot(job=JobView(1, STORED)))
        assert next_run == SetNextRun(JOB_ID, LATER, T0)

    @pytest.mark.parametrize("current", [None, JobView(2), JobView(5)], ids=["unknown", "same", "newer"])
    def test_is_ignored_unless_it_moves_the_job_forward(self, current: JobView | None) -> None:
        assert project(job_updated(version=2), Snapshot(job=current)) == ()


class TestJobState:
    @pytest.mark.parametrize(
        ("event", "state", "what"),
        [(job_activated(version=2), "active", "activated"), (job_deactivated(version=2), "inactive", "deactivated")],
    )
    def test_sets_state_and_version_and_records_it(self, event: object, state: str, what: str) -> None:
        assert project(event, Snapshot(job=JobView(1))) == (  # type: ignore[arg-type]
            SetJobState(JOB_ID, state, Edit(2, T0, "alice")),  # type: ignore[arg-type]
            SetNextRun(JOB_ID, None, T0),
            RecordHistory(JOB_ID, Edit(2, T0, "alice"), what),  # type: ignore[arg-type]
        )

    def test_activation_says_the_next_fire(self) -> None:
        changes = project(job_activated(version=2, next_run_at=LATER), Snapshot(job=JobView(1)))
        assert SetNextRun(JOB_ID, LATER, T0) in changes

    def test_a_redelivered_older_state_change_is_ignored(self) -> None:
        assert project(job_deactivated(version=2), Snapshot(job=JobView(3))) == ()


class TestJobDeleted:
    @pytest.mark.parametrize("reason", ["user", "expired"])
    def test_marks_the_job_deleted_with_its_reason(self, reason: Literal["user", "expired"]) -> None:
        changes = project(job_deleted(version=4, reason=reason), Snapshot(job=JobView(3)))
        assert changes == (
            MarkJobDeleted(JOB_ID, reason, Edit(4, T0, "alice")),
            SetNextRun(JOB_ID, None, T0),
            RecordHistory(JOB_ID, Edit(4, T0, "alice"), "deleted", reason=reason),
        )


class TestTableDefined:
    def test_upserts_the_table_spec(self) -> None:
        (change,) = project(table_defined("Orders"), NO_ROWS)
        assert isinstance(change, UpsertTable)
        assert (change.name, change.at, change.by) == ("Orders", T0, "alice")
        assert TableSpec.model_validate_json(change.spec_json).primary_key == ("id",)


class TestRunRequested:
    def test_queues_the_run_moves_last_run_and_logs(self) -> None:
        assert project(run_requested(), NO_ROWS) == (
            InsertRun(JOB_ID, RUN_ID, "Nightly orders", "manual", T0, RunStatus.QUEUED, job_type=IMPORT),
            SetLastRun(JOB_ID, RUN_ID, T0),
            LogLine(JOB_ID, RUN_ID, T0, "INFO", "Run requested (manual)"),
        )

    def test_a_scheduled_fire_counts_from_its_fire_time_and_says_the_next_one(self) -> None:
        fire = T0 - timedelta(seconds=2)
        event = scheduled_run_requested(scheduled_for=fire, next_run_at=LATER)
        assert project(event, NO_ROWS) == (
            InsertRun(JOB_ID, RUN_ID, "Nightly orders", "schedule", T0, RunStatus.QUEUED, fire, job_type=IMPORT),
            SetLastRun(JOB_ID, RUN_ID, fire),
            LogLine(JOB_ID, RUN_ID, T0, "INFO", "Run requested (schedule)"),
            SetNextRun(JOB_ID, LATER, T0),
        )

    def test_a_member_run_names_its_group_run(self) -> None:
        change = project(scheduled_run_requested(group_run=(12, 3)), NO_ROWS)[0]
        assert isinstance(change, InsertRun) and (change.group_id, change.group_run_id) == (12, 3)

    def test_a_manual_run_leaves_the_next_fire_alone(self) -> None:
        assert not any(isinstance(c, SetNextRun) for c in project(run_requested(), NO_ROWS))

    @pytest.mark.parametrize(
        ("missed", "line"),
        [
            (1, "1 scheduled run was missed while the scheduler was down; this run stands for them"),
            (3, "3 scheduled runs were missed while the scheduler was down; this run stands for them"),
        ],
    )
    def test_a_recovery_fire_says_how_many_fires_were_missed(self, missed: int, line: str) -> None:
        changes = project(scheduled_run_requested(missed_fires=missed), NO_ROWS)
        assert LogLine(JOB_ID, RUN_ID, T0, "WARN", line) in changes

    @pytest.mark.parametrize("current", [QUEUED, RUNNING, *ENDED], ids=lambda s: s.run.status)
    def test_an_existing_run_is_not_requested_again(self, current: Snapshot) -> None:
        assert project(run_requested(), current) == ()

    def test_a_dry_run_is_marked_and_says_so_in_its_log(self) -> None:
        assert project(run_requested(dry_run=True), NO_ROWS) == (
            InsertRun(JOB_ID, RUN_ID, "Nightly orders", "manual", T0, RunStatus.QUEUED, dry_run=True, job_type=IMPORT),
            SetLastRun(JOB_ID, RUN_ID, T0),
            LogLine(JOB_ID, RUN_ID, T0, "INFO", "Dry run requested (manual)"),
        )


class TestRunSkipped:
    def test_records_a_skipped_run_naming_the_run_still_running(self) -> None:
        assert project(run_skipped(run_id=8, running_run_id=7, next_run_at=LATER), NO_ROWS) == (
            InsertRun(JOB_ID, 8, "Nightly orders", "schedule", T0, RunStatus.SKIPPED, T0),
            SetLastRun(JOB_ID, 8, T0),
            LogLine(JOB_ID, 8, T0, "WARN", f"Skipped: run {JOB_ID}.7 was still running"),
            SetNextRun(JOB_ID, LATER, T0),
        )

    @pytest.mark.parametrize("current", [QUEUED, RUNNING, *ENDED], ids=lambda s: s.run.status)
    def test_an_existing_run_is_not_skipped_again(self, current: Snapshot) -> None:
        assert project(run_skipped(), current) == ()

    @pytest.mark.parametrize(
        "event", [run_started(), run_progressed(), run_succeeded(), run_failed(), run_stopped()], ids=lambda e: e.type
    )
    def test_nothing_moves_a_skipped_run(self, event: object) -> None:
        skipped = Snapshot(run=RunView(RunStatus.SKIPPED, 0))
        assert project(event, skipped) == ()  # type: ignore[arg-type]


class TestRunStopRequested:
    @pytest.mark.parametrize("current", [QUEUED, RUNNING], ids=["queued", "running"])
    def test_is_kept_on_the_run_and_logs_who_asked(self, current: Snapshot) -> None:
        assert project(run_stop_requested(), current) == (
            MarkRunStopRequested(JOB_ID, RUN_ID),
            LogLine(JOB_ID, RUN_ID, T0, "INFO", "Stop requested by alice"),
        )

    @pytest.mark.parametrize("ended", ENDED, ids=lambda s: s.run.status)
    def test_after_the_end_says_it_changed_nothing(self, ended: Snapshot) -> None:
        line = "Stop requested by alice after the run had ended; nothing changed"
        assert project(run_stop_requested(), ended) == (LogLine(JOB_ID, RUN_ID, T0, "INFO", line),)

    def test_an_unknown_run_is_ignored(self) -> None:
        assert project(run_stop_requested(), NO_ROWS) == ()

    def test_names_its_run(self) -> None:
        assert subject_of(run_stop_requested()) == Subject(run=(JOB_ID, RUN_ID))


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


class TestRunLogged:
    @pytest.mark.parametrize("current", [QUEUED, RUNNING], ids=["queued", "running"])
    @pytest.mark.parametrize("level", ["INFO", "WARN", "ERROR"])
    def test_adds_the_entry_with_its_level_and_message(self, current: Snapshot, level: LogLevel) -> None:
        event = run_logged("3 rows rejected: 2 INVALID_DATE, 1 VALUE_TOO_LONG", level)
        line = LogLine(JOB_ID, RUN_ID, event.occurred_at, level, "3 rows rejected: 2 INVALID_DATE, 1 VALUE_TOO_LONG")
        assert project(event, current) == (line,)

    @pytest.mark.parametrize("ended", ENDED, ids=lambda s: s.run.status)
    def test_an_entry_after_the_end_is_kept(self, ended: Snapshot) -> None:
        """The runner archives the file after the run's end, and logs where to."""
        event = run_logged("Archived to archive/7.1_orders.csv")
        assert project(event, ended) == (LogLine(JOB_ID, RUN_ID, event.occurred_at, "INFO", event.payload.message),)

    def test_an_entry_of_an_unknown_run_is_ignored(self) -> None:
        assert project(run_logged(), NO_ROWS) == ()

    def test_an_unstorable_message_is_repaired_not_refused(self) -> None:
        [line] = project(run_logged("bad\x00byte"), RUNNING)
        assert isinstance(line, LogLine) and line.message == "bad\ufffdbyte"

    def test_names_its_run(self) -> None:
        assert subject_of(run_logged()) == Subject(run=(JOB_ID, RUN_ID))


class TestRunAttemptFailed:
    def test_logs_the_failure_and_when_the_next_attempt_comes(self) -> None:
        line = "Attempt 1 failed (CONNECTION_FAILED): connection refused; trying again at 2026-03-01T12:01:00+00:00"
        assert project(run_attempt_failed(), RUNNING) == (LogLine(JOB_ID, RUN_ID, T0, "WARN", line),)

    @pytest.mark.parametrize("current", [NO_ROWS, *ENDED], ids=lambda s: "unknown" if s.run is None else s.run.status)
    def test_changes_nothing_of_a_run_that_ended_or_is_unknown(self, current: Snapshot) -> None:
        assert project(run_attempt_failed(), current) == ()


class TestRunEnded:
    def test_success_records_final_counts_duration_and_a_log_line(self) -> None:
        change, line = project(run_succeeded(started_at=T0), RUNNING)
        times = Span(T0, T0 + timedelta(seconds=90, milliseconds=250), 90_250)
        assert change == EndRun(JOB_ID, RUN_ID, RunStatus.SUCCEEDED, COUNTS, times)
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

    def test_a_success_after_a_stop_request_says_the_stop_came_too_late(self) -> None:
        asked = Snapshot(run=RunView(RunStatus.RUNNING, 1, stop_requested=True))
        change, success, too_late = project(run_succeeded(), asked)
        assert isinstance(change, EndRun) and change.status is RunStatus.SUCCEEDED
        assert isinstance(success, LogLine) and success.message.startswith("Succeeded: 10 rows read")
        assert too_late == LogLine(JOB_ID, RUN_ID, T0, "WARN", STOP_TOO_LATE)
        assert STOP_TOO_LATE == "The stop came after the load had committed; the run succeeded and its data stays."

    @pytest.mark.parametrize("event", [run_failed(), run_stopped()], ids=["failed", "stopped"])
    def test_a_stop_request_adds_nothing_to_a_run_that_did_not_succeed(self, event: object) -> None:
        asked = Snapshot(run=RunView(RunStatus.RUNNING, 1, stop_requested=True))
        assert len(project(event, asked)) == 2  # type: ignore[arg-type]

    def test_stop_is_logged_as_a_warning_with_counts(self) -> None:
        change, line = project(run_stopped(), RUNNING)
        assert isinstance(change, EndRun) and change.status is RunStatus.STOPPED
        assert isinstance(line, LogLine) and line.level == "WARN" and line.message.startswith("Stopped: 10 rows read")

    @pytest.mark.parametrize("event", [run_failed(), run_stopped()], ids=["failed", "stopped"])
    def test_a_run_that_never_started_can_fail_or_stop(self, event: object) -> None:
        assert isinstance(project(event, QUEUED)[0], EndRun)  # type: ignore[arg-type]

    def test_a_run_that_never_started_cannot_succeed(self) -> None:
        assert project(run_succeeded(), QUEUED) == ()  # the shared table: queued -> succeeded is not a move

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

    def test_a_draft_saved_with_errors_keeps_them_with_its_acceptance(self) -> None:
        errors = (FieldError(field="schedule.time_zone", message="no time zone Mars/Olympus"),)
        event = command_accepted()
        event = event.model_copy(update={"payload": event.payload.model_copy(update={"errors": errors})})
        (change,) = project(event, NO_ROWS)
        assert isinstance(change, RecordCommandOutcome)
        assert json.loads(change.errors_json) == [
            {"field": "schedule.time_zone", "message": "no time zone Mars/Olympus"}
        ]

    def test_a_refusal_keeps_its_precise_reason(self) -> None:
        event = command_rejected()
        event = event.model_copy(update={"payload": event.payload.model_copy(update={"reason": "NAME_TAKEN"})})
        (change,) = project(event, NO_ROWS)
        assert isinstance(change, RecordCommandOutcome) and change.reason == "NAME_TAKEN"

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


class TestSpan:
    def test_is_in_whole_milliseconds(self) -> None:
        assert span(T0, T0 + timedelta(seconds=1, microseconds=999)).duration_ms == 1000

    def test_is_never_negative(self) -> None:
        assert span(T0, T0 - timedelta(seconds=1)).duration_ms == 0

    def test_mixes_naive_and_aware_times_as_utc(self) -> None:
        naive, end = datetime(2026, 3, 1, 12, 0), T0 + timedelta(seconds=2)
        assert span(naive, end) == Span(naive.replace(tzinfo=UTC), end, 2000)
