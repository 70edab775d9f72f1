"""A job's retry policy and notifications over HTTP, its state after an edit, and its group on the All jobs tab."""

from __future__ import annotations

from dataclasses import replace

from connect_events import CreateJob, FieldError, Notifications, RetryPolicy
from tests.unit.gateway.gateway_fakes import World, accepted, job_body, stored_job
from tests.unit.gateway.test_gateway_job_edits import update_body

RETRY = {"attempts": 3, "initial_backoff_s": 30, "multiplier": 1.5}
NOTIFY = {"on_success": True, "on_failure": True, "emails": ["ops@example.com"], "webhook_url": "https://h.example/x"}


async def test_a_job_carries_its_retry_policy_and_notifications(world: World, user_private_key: str) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="42", state="active")
    body = job_body(user_private_key, retry=RETRY, notifications=NOTIFY)
    assert (await world.client.post("/api/v1/jobs", json=body)).status_code == 201
    [command] = world.bus.sent
    assert isinstance(command, CreateJob)
    definition = command.payload.definition
    assert definition.retry == RetryPolicy(attempts=3, initial_backoff_s=30, multiplier=1.5)
    assert definition.notifications == Notifications(
        on_success=True, on_failure=True, emails=("ops@example.com",), webhook_url="https://h.example/x"
    )


async def test_without_them_a_job_is_tried_once_and_tells_no_one(world: World, user_private_key: str) -> None:
    await world.client.post("/api/v1/jobs", json=job_body(user_private_key))
    definition = world.bus.sent[0].payload.definition  # type: ignore[attr-defined]
    assert (definition.retry, definition.notifications) == (RetryPolicy(), Notifications())


async def test_their_errors_come_back_on_their_fields(world: World, user_private_key: str) -> None:
    errors = (
        FieldError(field="retry.attempts", message="between 1 and 10 (the first included)"),
        FieldError(field="notifications.emails[0]", message="must be an email address such as name@example.com"),
    )
    world.bus.answer = lambda c: accepted(c, target_id="42", errors=errors, state="inactive")
    body = job_body(user_private_key, retry={**RETRY, "attempts": 11}, notifications={**NOTIFY, "emails": ["x"]})
    answer = await world.client.post("/api/v1/jobs", json=body)
    assert [e["field"] for e in answer.json()["errors"]] == ["retry.attempts", "notifications.emails[0]"]
    assert answer.json()["state"] == "inactive"


async def test_their_types_are_checked_before_anything_is_sent(world: World, user_private_key: str) -> None:
    body = job_body(user_private_key, retry={"attempts": "3"}, notifications={"emails": "ops@example.com"})
    answer = await world.client.post("/api/v1/jobs", json=body)
    assert answer.status_code == 422
    assert sorted(e["field"] for e in answer.json()["errors"]) == ["notifications.emails", "retry.attempts"]
    assert not world.bus.sent


async def test_an_edit_answers_the_state_the_scheduler_says(world: World) -> None:
    stored_job(world)
    world.bus.answer = lambda c: accepted(c, target_id="7", version=4, state="active")
    answer = await world.client.put("/api/v1/jobs/7", json=update_body())
    assert (answer.status_code, answer.json()["state"]) == (200, "active")


async def test_a_deleted_job_has_no_state(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="7", version=4, state="inactive")
    assert (await world.client.delete("/api/v1/jobs/7")).json()["state"] is None


async def test_a_job_shows_its_group_its_retry_policy_and_notifications(world: World) -> None:
    record = stored_job(world)
    world.reads.jobs[0] = replace(record, group_id=31)
    listed = (await world.client.get("/api/v1/jobs")).json()
    assert listed[0]["group"] == 31
    shown = (await world.client.get("/api/v1/jobs/7")).json()
    assert (shown["group"], shown["retry"]["attempts"], shown["notifications"]["emails"]) == (31, 1, [])
