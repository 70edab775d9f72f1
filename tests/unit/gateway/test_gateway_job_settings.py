"""A job's retry policy and notifications over HTTP (a webhook URL whole only for those who may edit it), its
state after an edit, and its group on the All jobs tab."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from connect_events import CreateJob, FieldError, GroupDefinition, Notifications, OnDemand, RetryPolicy, Role
from connect_gateway.domain.webhooks import shown_webhook_url
from tests.unit.gateway.gateway_fakes import World, accepted, job_body, stored_job
from tests.unit.gateway.test_gateway_groups import stored_group
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


HOOK = "https://bot:pw@Hooks.Example.com:8443/services/T00/B00/s3cr3t?token=abc"
WEBHOOK_NOTIFY = Notifications(on_failure=True, emails=("ops@example.com",), webhook_url=HOOK)


def job_with_webhook(world: World) -> None:
    record = stored_job(world)
    definition = record.definition.model_copy(update={"notifications": WEBHOOK_NOTIFY})
    world.reads.jobs[-1] = replace(record, definition=definition)


def group_with_webhook(world: World) -> None:
    definition = GroupDefinition(name="Chain", members=(1042, 1043), schedule=OnDemand(), notifications=WEBHOOK_NOTIFY)
    stored_group(world, definition=definition)


READS = [("/api/v1/jobs/7", job_with_webhook), ("/api/v1/groups/31", group_with_webhook)]


@pytest.mark.parametrize(("url", "given"), READS, ids=["job", "group"])
@pytest.mark.parametrize("role", [Role.DATA_DIRECTOR, Role.ADMIN], ids=lambda r: r.value)
async def test_those_who_edit_notifications_see_the_whole_webhook_url(
    world: World, url: str, given: Callable[[World], None], role: Role
) -> None:
    given(world)
    async with world.client_as(role) as client:
        notifications = (await client.get(url)).json()["notifications"]
    assert (notifications["webhook_url"], notifications["emails"]) == (HOOK, ["ops@example.com"])


@pytest.mark.parametrize(("url", "given"), READS, ids=["job", "group"])
@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR], ids=lambda r: r.value)
async def test_others_see_only_the_webhooks_scheme_and_host(
    world: World, url: str, given: Callable[[World], None], role: Role
) -> None:
    given(world)
    async with world.client_as(role) as client:
        answer = await client.get(url)
    assert answer.status_code == 200
    assert answer.json()["notifications"]["webhook_url"] == "https://hooks.example.com/…"
    assert "s3cr3t" not in answer.text and "abc" not in answer.text and "pw" not in answer.text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (None, None),
        ("http://[2001:db8::1]:8080/x?k=v", "http://[2001:db8::1]/…"),
        ("http://[::1/x", "…"),
        ("not a url/with-a-secret", "…"),
        ("https:///path-only", "…"),
    ],
    ids=["none", "ipv6", "broken ipv6", "no scheme", "no host"],
)
def test_a_webhook_url_without_a_readable_host_shows_nothing_of_it(url: str | None, shown: str | None) -> None:
    assert shown_webhook_url(url, Role.VIEWER) == shown


def test_the_openapi_document_says_who_sees_the_webhook_url(world: World) -> None:
    schema = world.app.openapi()["components"]["schemas"]["NotificationsOut"]["properties"]["webhook_url"]
    assert "data directors and admins" in schema["description"]
    assert "`https://hooks.example.com/…`" in schema["description"]
