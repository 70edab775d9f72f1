"""The requests the schemathesis run against the real stack failed on, replayed byte for byte."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.gateway.gateway_fakes import World, accepted, job_body

JSON = {"Content-Type": "application/json"}


async def test_a_search_with_nul_is_refused_not_unavailable(world: World) -> None:
    response = await world.client.get(
        "/api/v1/jobs?offset=1002&limit=940&q=%C3%94%C2%97%C3%AF%C3%BAz%F2%BA%AD%B5%F0%A2%85%BBx%C3%A9%00&state=active"
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["q"]


@pytest.mark.parametrize(
    ("url", "allow"),
    [("/api/v1/jobs", "GET, POST"), ("/api/v1/jobs/89", "DELETE, GET, PUT"), ("/api/v1/tables", "GET, POST")],
)
async def test_options_answers_405_allowing_every_documented_method(world: World, url: str, allow: str) -> None:
    response = await world.client.request("OPTIONS", url, headers=JSON, content=b"{}")
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["code"] == "method_not_allowed"


async def test_activate_given_as_a_number_is_refused(world: World) -> None:
    body: dict[str, Any] = job_body(activate=0)
    body["source"]["password"] = "fuzz"
    response = await world.client.post("/api/v1/jobs", content=json.dumps(body).encode(), headers=JSON)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["activate"]
    assert world.bus.sent == []


@pytest.mark.parametrize(
    ("method", "url", "content"),
    [("POST", "/api/v1/jobs", b"H\x84\xc4-y4\x13;\xa1\xb9\xea"), ("PUT", "/api/v1/jobs/182", b"\xa5")],
)
async def test_a_body_that_is_not_utf8_is_a_documented_422(world: World, method: str, url: str, content: bytes) -> None:
    response = await world.client.request(method, url, content=content, headers=JSON)
    assert response.status_code == 422
    assert response.json()["code"] == "malformed_request"
    assert [e["field"] for e in response.json()["errors"]] == ["body"]


async def test_run_now_202_matches_its_documented_schema(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="73", version=4, run_id=2)
    response = await world.client.post("/api/v1/jobs/73/run")
    assert response.status_code == 202
    document = (await world.client.get("/openapi.json")).json()
    schema = document["paths"]["/api/v1/jobs/{job_id}/run"]["post"]["responses"]["202"]["content"]["application/json"]
    variants = document["components"]["schemas"][schema["schema"]["$ref"].rsplit("/", 1)[1]]["anyOf"]
    started = document["components"]["schemas"][variants[0]["$ref"].rsplit("/", 1)[1]]
    assert set(response.json()) == set(started["required"])
