"""Login and password checks under the brute-force rules, and the docs setting, over the fakes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connect_events import Role
from connect_gateway.domain.identity.access import DocsAccess
from connect_gateway.entrypoints.http.app import create_app
from connect_gateway.ports import Deps
from tests.unit.gateway.gateway_fakes import PASSWORD, USERS, World

WRONG = {"username": "vera", "password": "not the password at all"}


async def test_a_burst_of_parallel_guesses_is_checked_no_more_than_the_free_attempts(world: World) -> None:
    async with world.client_as(None) as client:
        answers = await asyncio.gather(*(client.post("/api/v1/auth/login", json=WRONG) for _ in range(15)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * 5 + [429] * 10  # every attempt past the fifth refused unchecked


async def test_a_right_password_gives_its_attempt_back_to_the_address(world: World) -> None:
    async with world.client_as(None) as client:
        for _ in range(30):  # more than the address's free attempts, all of them right
            answer = await client.post("/api/v1/auth/login", json={"username": "vera", "password": PASSWORD})
            assert answer.status_code == 200, answer.text


async def test_guessing_the_current_password_is_throttled_like_a_login(world: World) -> None:
    body = {"password": "violet-harbour-tram-42", "current_password": "not the password at all"}
    async with world.client_as(Role.VIEWER) as vera:
        answers = [await vera.put(f"/api/v1/users/{USERS[Role.VIEWER]}/password", json=body) for _ in range(6)]
    assert [a.status_code for a in answers] == [422] * 5 + [429]
    assert answers[0].json()["errors"][0]["field"] == "current_password"
    assert "Retry-After" in answers[-1].headers


@pytest.mark.parametrize(
    ("setting", "anonymous", "viewer"),
    [(DocsAccess.PUBLIC, 200, 200), (DocsAccess.AUTHENTICATED, 401, 200), (DocsAccess.OFF, 404, 404)],
)
async def test_the_docs_follow_their_setting(world: World, setting: DocsAccess, anonymous: int, viewer: int) -> None:
    deps: Deps = world.app.state.deps
    app = create_app(deps, docs_access=setting)
    transport = httpx.ASGITransport(app=app)
    token = {"Authorization": f"Bearer {world.tokens[Role.VIEWER]}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        for path in ("/docs", "/openapi.json"):
            assert (await client.get(path)).status_code == anonymous, path
            assert (await client.get(path, headers=token)).status_code == viewer, path


async def test_both_throttled_operations_document_429(world: World) -> None:
    paths = world.app.openapi()["paths"]
    for operation in (paths["/api/v1/auth/login"]["post"], paths["/api/v1/users/{username}/password"]["put"]):
        assert "Retry-After" in operation["responses"]["429"]["headers"]
