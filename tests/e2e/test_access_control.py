"""Access control through the real stack: forged actors, ending sessions, revoked tokens, CSRF, brute force,
and no password or token anywhere after creation (events, logs, responses)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx

from connect_devstack.services import Services
from connect_events import IDENTITY_TOPIC
from tests.e2e.helpers import UserClient, create, create_user, table_body
from tests.kafka_records import read_topics
from tests.polling import until

RoleClient = Callable[[str], Awaitable[UserClient]]


@asynccontextmanager
async def browser(services: Services, username: str, password: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client holding a session cookie after logging in, and the login's CSRF token."""
    async with httpx.AsyncClient(base_url=services.gateway_url, timeout=30) as client:
        answer = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        assert "connect_session" in client.cookies
        yield client, answer.json()["csrf_token"]


async def test_a_forged_actor_header_changes_nothing(services: Services, role_client: RoleClient, unique: str) -> None:
    director = await role_client("data_director")
    forged = {"X-Connect-User": "mallory"}
    async with httpx.AsyncClient(base_url=services.gateway_url, timeout=30) as anonymous:
        refused = await anonymous.post("/api/v1/tables", json=table_body(f"forged_{unique}"), headers=forged)
    assert refused.status_code == 401

    director.client.headers.update(forged)
    await create(director.client, "/api/v1/tables", table_body(f"forged_{unique}"))
    table = (await director.client.get(f"/api/v1/tables/forged_{unique}")).json()
    assert table["defined_by"] == director.username


async def test_logout_ends_the_session_at_once(services: Services, api: httpx.AsyncClient) -> None:
    name, password = await create_user(api, "viewer")
    async with browser(services, name, password) as (client, csrf):
        assert (await client.get("/api/v1/jobs")).status_code == 200
        cookie = client.cookies["connect_session"]
        assert (await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})).status_code == 204
    async with httpx.AsyncClient(base_url=services.gateway_url, cookies={"connect_session": cookie}) as replay:
        assert (await replay.get("/api/v1/jobs")).status_code == 401


async def test_disabling_a_user_ends_sessions_and_tokens_at_once(
    services: Services, api: httpx.AsyncClient, role_client: RoleClient
) -> None:
    user = await role_client("operator")
    async with browser(services, user.username, user.password) as (client, _csrf):
        assert (await client.get("/api/v1/auth/session")).status_code == 200
        assert (await api.post(f"/api/v1/users/{user.username}/disable")).status_code == 200
        assert (await client.get("/api/v1/auth/session")).status_code == 401
    assert (await user.client.get("/api/v1/jobs")).status_code == 401
    again = await api.post("/api/v1/auth/login", json={"username": user.username, "password": user.password})
    assert again.status_code == 401


async def test_a_role_change_ends_sessions_and_tokens_act_with_the_new_role(
    services: Services, api: httpx.AsyncClient, role_client: RoleClient
) -> None:
    user = await role_client("operator")
    async with browser(services, user.username, user.password) as (client, _csrf):
        changed = await api.put(f"/api/v1/users/{user.username}/role", json={"role": "viewer"})
        assert changed.status_code == 200 and changed.json()["role"] == "viewer"
        assert (await client.get("/api/v1/jobs")).status_code == 401
    refused = await user.client.post("/api/v1/jobs/1/run")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


async def test_a_revoked_token_is_refused_on_the_next_call(role_client: RoleClient) -> None:
    user = await role_client("viewer")
    [token] = (await user.client.get("/api/v1/tokens")).json()
    assert (await user.client.get("/api/v1/jobs")).status_code == 200
    assert (await user.client.delete(f"/api/v1/tokens/{token['token_id']}")).status_code == 200
    assert (await user.client.get("/api/v1/jobs")).status_code == 401


async def test_a_change_with_the_cookie_needs_the_csrf_token(
    services: Services, api: httpx.AsyncClient, unique: str
) -> None:
    name, password = await create_user(api, "data_director")
    async with browser(services, name, password) as (client, csrf):
        without = await client.post("/api/v1/tables", json=table_body(f"csrf_{unique}"))
        assert without.status_code == 403 and without.json()["code"] == "csrf_failed"
        wrong = await client.post(
            "/api/v1/tables", json=table_body(f"csrf_{unique}"), headers={"X-CSRF-Token": "x" * 43}
        )
        assert wrong.status_code == 403
        assert (await client.get("/api/v1/tables")).status_code == 200  # reads need no token
        made = await client.post("/api/v1/tables", json=table_body(f"csrf_{unique}"), headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text


async def test_brute_force_is_slowed_and_answered_429(services: Services, api: httpx.AsyncClient) -> None:
    name, password = await create_user(api, "viewer")
    async with httpx.AsyncClient(base_url=services.gateway_url, timeout=30) as client:
        wrong = [
            await client.post("/api/v1/auth/login", json={"username": name, "password": "not-it-" * 3})
            for _ in range(5)
        ]
        assert [w.status_code for w in wrong] == [401] * 5
        unknown = await client.post("/api/v1/auth/login", json={"username": f"nobody-{name}", "password": "x" * 12})
        assert (unknown.status_code, unknown.json()) == (401, wrong[0].json())  # the same answer for both
        locked = await client.post("/api/v1/auth/login", json={"username": name, "password": "not-it-" * 3})
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
        # While locked even the right password is refused: the lock is what bounds the guessing rate.
        right = await client.post("/api/v1/auth/login", json={"username": name, "password": password})
        assert right.status_code == 429


async def test_passwords_and_tokens_appear_nowhere_after_creation(
    services: Services, api: httpx.AsyncClient, role_client: RoleClient, kafka_bootstrap: str
) -> None:
    user = await role_client("operator")
    async with browser(services, user.username, user.password) as (client, csrf):
        session = client.cookies["connect_session"]
        await client.get("/api/v1/auth/session")
    secrets = [user.password, user.token, session, csrf]
    secrets += [hashlib.sha256(s.encode()).hexdigest() for s in (user.token, session, csrf)]
    responses = [
        (await api.get("/api/v1/users")).text,
        (await api.get(f"/api/v1/users/{user.username}")).text,
        (await api.get("/api/v1/tokens?all=true")).text,
        (await user.client.get("/api/v1/tokens")).text,
        (await user.client.get("/api/v1/auth/session")).text,
    ]
    assert not [r for r in responses for s in secrets if s in r]

    async def issued_event_seen() -> bool:
        records = await read_topics(kafka_bootstrap, [IDENTITY_TOPIC])
        return any(b"token.issued" in r.value and user.username.encode() in r.value for r in records)

    await until(issued_event_seen, timeout_s=30)
    records = [r.value for r in await read_topics(kafka_bootstrap, [IDENTITY_TOPIC])]
    assert not [r for r in records for s in secrets if s.encode() in r]
    assert not [r for r in records if b"$argon2" in r]
    for name in ("gateway", "scheduler", "runner", "catalog"):
        text = services[name].log_file.read_text()
        assert not [s for s in secrets if s in text], f"the {name} log holds a secret"
