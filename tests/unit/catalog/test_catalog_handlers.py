"""The projection use case over an in-memory read model: each event applied once, terminal states final."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from connect_catalog.handlers import HANDLERS, PROJECTED_TOPICS, project_event
from connect_events import Event, ExportFile, HostedLocation, JobDefinition, TableExport
from tests.unit.catalog.catalog_builders import (
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
from tests.unit.catalog.catalog_fakes import InMemoryReadModel

KEY = (JOB_ID, RUN_ID)


async def feed(model: InMemoryReadModel, *events: Event) -> list[bool]:
    return [await project_event(model, event) for event in events]


def messages(model: InMemoryReadModel) -> list[str]:
    return [line.message for line in model.log]


async def test_every_projected_topic_has_a_handler() -> None:
    assert set(PROJECTED_TOPICS) == {
        "connect.jobs",
        "connect.tables",
        "connect.runs",
        "connect.groups",
        "connect.replies",
    }
    assert all(HANDLERS[topic] is project_event for topic in PROJECTED_TOPICS)


async def test_a_job_lifecycle_ends_deleted_with_the_latest_definition() -> None:
    model = InMemoryReadModel()
    await feed(model, job_created(), job_updated(version=2, name="Renamed"), job_activated(version=3),
               job_deleted(version=4))  # fmt: skip
    job = model.jobs[JOB_ID]
    assert (job["name"], job["state"], job["version"], job["deleted"], job["deleted_reason"]) == (
        "Renamed", "active", 4, True, "expired",
    )  # fmt: skip


async def test_a_duplicate_event_is_applied_once() -> None:
    model = InMemoryReadModel()
    requested = run_requested()
    assert await feed(model, requested, requested) == [True, False]
    assert messages(model) == ["Run requested (manual)"]


async def test_a_republished_sequence_changes_nothing_the_second_time() -> None:
    model = InMemoryReadModel()
    events = [job_created(), run_requested(), run_started(), run_succeeded()]
    await feed(model, *events)
    before = (dict(model.runs[KEY]), list(model.log))
    assert await feed(model, *events) == [False] * 4
    assert (model.runs[KEY], model.log) == before


async def test_late_progress_after_success_keeps_the_final_counts() -> None:
    model = InMemoryReadModel()
    await feed(model, run_requested(), run_started(), run_progressed(rows=3), run_succeeded(),
               run_progressed(rows=4))  # fmt: skip
    assert model.runs[KEY]["status"] == "succeeded"
    assert model.runs[KEY]["rows_read"] == 10


async def test_a_start_redelivered_after_success_does_not_reopen_the_run() -> None:
    model = InMemoryReadModel()
    await feed(model, run_requested(), run_started(attempt=1), run_succeeded(), run_started(attempt=2))
    assert model.runs[KEY]["status"] == "succeeded"
    assert messages(model) == [
        "Run requested (manual)",
        "Started attempt 1 on runner-a",
        "Succeeded: 10 rows read, 6 inserted, 2 updated, 1 unchanged, 1 rejected",
    ]


async def test_an_exports_run_ends_with_rows_and_bytes_written() -> None:
    model = InMemoryReadModel()
    requested = run_requested()
    settings = ExportFile(source=TableExport(table="Orders"), destination=HostedLocation(path="download/o.csv"))
    exported = requested.model_copy(
        update={
            "payload": requested.payload.model_copy(update={"definition": JobDefinition(name="E", settings=settings)})
        }
    )
    await feed(model, exported, run_started(), run_succeeded())
    assert messages(model)[-1] == "Succeeded: 10 rows written, 2048 bytes, 1 rejected"


async def test_duration_covers_the_attempt_that_finished() -> None:
    model = InMemoryReadModel()
    second = T0 + timedelta(minutes=10)
    await feed(model, run_requested(), run_started(attempt=1), run_started(attempt=2, started_at=second),
               run_failed(started_at=second))  # fmt: skip
    run = model.runs[KEY]
    assert (run["status"], run["attempt"], run["started_at"], run["duration_ms"]) == (
        "failed",
        2,
        second,
        90_250,
    )


async def test_last_run_id_does_not_depend_on_topic_order() -> None:
    runs_first, jobs_first = InMemoryReadModel(), InMemoryReadModel()
    created, requests = job_created(), [run_requested(run_id=1), run_requested(run_id=2)]
    await feed(runs_first, *requests, created)
    await feed(jobs_first, created, *requests)
    assert runs_first.jobs[JOB_ID]["last_run_id"] == jobs_first.jobs[JOB_ID]["last_run_id"] == 2


async def test_previous_run_does_not_depend_on_topic_order() -> None:
    runs_first, jobs_first = InMemoryReadModel(), InMemoryReadModel()
    fire = T0 + timedelta(hours=1)
    created, requests = job_created(), [run_requested(run_id=1), scheduled_run_requested(run_id=2, scheduled_for=fire)]
    await feed(runs_first, *requests, created)
    await feed(jobs_first, created, *requests)
    assert runs_first.jobs[JOB_ID]["previous_run_at"] == jobs_first.jobs[JOB_ID]["previous_run_at"] == fire


async def test_the_next_fire_is_the_newest_statement_whatever_the_topic_order() -> None:
    in_order, runs_first = InMemoryReadModel(), InMemoryReadModel()
    activated = job_activated(version=2, at=T0, next_run_at=T0 + timedelta(hours=1))
    fired = scheduled_run_requested(
        run_id=1, at=T0 + timedelta(hours=1), scheduled_for=T0 + timedelta(hours=1), next_run_at=T0 + timedelta(hours=2)
    )
    deactivated = job_deactivated(version=3, at=T0 + timedelta(hours=1, minutes=5))
    await feed(in_order, job_created(), activated, fired, deactivated)
    await feed(runs_first, fired, job_created(), activated, deactivated)
    assert in_order.next_runs[JOB_ID][0] is None and runs_first.next_runs[JOB_ID][0] is None
    later = InMemoryReadModel()
    await feed(later, job_created(), fired, activated)  # the activation is older than the fire: the fire stands
    assert later.next_runs[JOB_ID][0] == T0 + timedelta(hours=2)


async def test_a_job_history_lists_every_change_with_who_and_what() -> None:
    model = InMemoryReadModel()
    await feed(model, job_created(), job_updated(version=2, name="Renamed"), job_activated(version=3),
               job_deactivated(version=4), job_deleted(version=5, reason="user"))  # fmt: skip
    entries = [model.history[(JOB_ID, v)] for v in range(1, 6)]
    assert [(e.what, e.edit.by, e.reason) for e in entries] == [
        ("created", "alice", None), ("updated", "alice", None), ("activated", "alice", None),
        ("deactivated", "alice", None), ("deleted", "alice", "user"),
    ]  # fmt: skip
    assert entries[1].changed == ("description", "name")


async def test_a_skipped_fire_is_a_finished_run_that_never_starts() -> None:
    model = InMemoryReadModel()
    await feed(model, run_requested(run_id=1), run_started(run_id=1), run_skipped(run_id=2, running_run_id=1),
               run_started(run_id=2))  # fmt: skip
    assert model.runs[(JOB_ID, 2)]["status"] == "skipped"
    assert [line.message for line in model.log if line.run_id == 2] == [f"Skipped: run {JOB_ID}.1 was still running"]


async def test_a_stop_request_is_logged_and_changes_no_status() -> None:
    model = InMemoryReadModel()
    await feed(model, run_requested(), run_started(), run_stop_requested())
    assert model.runs[KEY]["status"] == "running"
    assert messages(model)[-1] == "Stop requested by alice"


async def test_a_stop_read_before_the_success_says_the_stop_came_too_late() -> None:
    model = InMemoryReadModel()
    await feed(model, run_requested(), run_started(), run_stop_requested(), run_succeeded())
    assert model.runs[KEY]["status"] == "succeeded"
    assert messages(model)[-3:] == [
        "Stop requested by alice",
        "Succeeded: 10 rows read, 6 inserted, 2 updated, 1 unchanged, 1 rejected",
        "The stop came after the load had committed; the run succeeded and its data stays.",
    ]


async def test_a_stop_read_after_the_success_says_it_changed_nothing() -> None:
    model = InMemoryReadModel()
    await feed(model, run_requested(), run_started(), run_succeeded(), run_stop_requested())
    assert messages(model)[-2:] == [
        "Succeeded: 10 rows read, 6 inserted, 2 updated, 1 unchanged, 1 rejected",
        "Stop requested by alice after the run had ended; nothing changed",
    ]


async def test_a_stop_that_took_effect_is_not_called_too_late() -> None:
    model = InMemoryReadModel()
    await feed(model, run_requested(), run_started(), run_stop_requested(), run_stopped())
    assert model.runs[KEY]["status"] == "stopped"
    assert messages(model)[-2:] == [
        "Stop requested by alice",
        "Stopped: 10 rows read, 6 inserted, 2 updated, 1 unchanged, 1 rejected",
    ]


async def test_tables_are_projected() -> None:
    model = InMemoryReadModel()
    await feed(model, table_defined("Orders"))
    assert list(model.tables) == ["Orders"]


async def test_a_command_keeps_its_first_outcome() -> None:
    model = InMemoryReadModel()
    reply = command_rejected()
    later = command_accepted(command_id=reply.payload.command_id).model_copy(update={"event_id": uuid4()})
    assert await feed(model, reply, reply, later) == [True, False, True]
    assert model.commands[reply.payload.command_id]["status"] == "rejected"


async def test_projected_runs_are_counted_by_job_type_and_status() -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    job_type = {"job_type": "import_custom_table"}
    before = (
        sample("connect_runs_requested_total", **job_type, trigger="manual"),
        sample("connect_runs_finished_total", **job_type, status="succeeded"),
        sample("connect_run_rows_total", **job_type),
        sample("connect_run_duration_seconds_count", **job_type, status="succeeded"),
    )
    model = InMemoryReadModel()
    requested = run_requested()
    await feed(model, requested, run_started(), run_succeeded(), requested)  # the repeated event counts once
    after = (
        sample("connect_runs_requested_total", **job_type, trigger="manual"),
        sample("connect_runs_finished_total", **job_type, status="succeeded"),
        sample("connect_run_rows_total", **job_type),
        sample("connect_run_duration_seconds_count", **job_type, status="succeeded"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 10, 1]
    assert sample("connect_events_projected_total", topic="connect.runs") >= 3


async def test_rejected_rows_are_counted_by_reason_as_runs_log_them() -> None:
    from prometheus_client import REGISTRY

    from connect_events import RunLogged, RunLoggedPayload, reject_details

    def sample(reason: str) -> float:
        labels = {"job_type": "import_custom_table", "reason": reason}
        return REGISTRY.get_sample_value("connect_run_rejects_by_reason_total", labels) or 0.0

    before = sample("INVALID_DATE"), sample("VALUE_TOO_LONG")
    details = {"rejected": 3, **reject_details(["INVALID_DATE", "VALUE_TOO_LONG", "INVALID_DATE"])}
    logged = run_logged("3 rows rejected: INVALID_DATE 2, VALUE_TOO_LONG 1")
    payload = RunLoggedPayload(**{**logged.payload.model_dump(), "stage": "validated", "details": details})
    validated = RunLogged(**{**logged.model_dump(exclude={"payload"}), "payload": payload})
    await feed(InMemoryReadModel(), run_requested(), run_started(), validated)
    assert (sample("INVALID_DATE") - before[0], sample("VALUE_TOO_LONG") - before[1]) == (2, 1)


def test_open_run_gauges_follow_the_read_model_and_fall_to_zero() -> None:
    from prometheus_client import REGISTRY

    from connect_catalog.metrics import OpenRuns, set_open_runs

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    set_open_runs([OpenRuns("export_file", "running", 2, 42.0), OpenRuns("export_file", "queued", 5, 3.0)])
    assert sample("connect_runs_running", job_type="export_file") == 2
    assert sample("connect_runs_queued", job_type="export_file") == 5
    assert sample("connect_run_oldest_running_seconds") == 42.0
    set_open_runs([])
    assert sample("connect_runs_running", job_type="export_file") == 0
    assert sample("connect_run_oldest_running_seconds") == 0
