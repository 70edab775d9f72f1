"""Values no store or peer can use are refused by the request schema: 422 naming the field, in our words.

Hosts must be DNS names or IP literals; no string may hold NUL or unpaired surrogates (PostgreSQL and UTF-8
cannot hold them); single-line values (names, identifiers, user, path, header values) hold no control
characters either. Nothing is sent, vaulted or scanned for a refused request.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from connect_events.values import BLANK, CONTROL, HOST, IDENTIFIER_RULE, JOB_NAME_RULE, STORABLE
from tests.unit.gateway.gateway_fakes import World, accepted, job_body

BAD_HOSTS = ["a..b", ".", "a" * 64, "a\u0095", "a\u0000b", "-a.example.com", "[::1]", "999", "fe80::1%a b"]
GOOD_HOSTS = ["sftp.example.com", "sftp.example.com.", "localhost", "127.0.0.1", "::1", "fe80::1%eth0", "a" * 63]
TABLE = {"name": "Stores", "columns": [{"name": "ID", "type": "integer"}], "primary_key": ["ID"]}


async def send(client: httpx.AsyncClient, method: str, url: str, body: Any, **headers: str) -> httpx.Response:
    """`body` as JSON with every non-ASCII character escaped, so unpaired surrogates travel as `\\udXXX`."""
    content = json.dumps(body).encode()
    return await client.request(method, url, content=content, headers={"Content-Type": "application/json", **headers})


def job(password: str = "s3cret!", **source: Any) -> dict[str, Any]:
    body = job_body()
    body["source"] |= {"password": password, **source}
    return body


def update(**source: Any) -> dict[str, Any]:
    body = job(**source) | {"expected_version": 1}
    del body["activate"]
    return body


def set_path(body: dict[str, Any], path: str, value: str) -> dict[str, Any]:
    """`body` with the dotted `path` (`mapping.0.source`) set to `value`."""
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return body


def assert_refused(world: World, response: httpx.Response, field: str, message: str | None = None) -> None:
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "validation_failed"
    assert [e["field"] for e in error["errors"]] == [field], error
    if message is not None:
        assert error["errors"][0]["message"] == message
    assert world.bus.sent == [] and world.credentials.stored == {} and world.host_keys.asked == []


@pytest.mark.parametrize("host", BAD_HOSTS)
async def test_a_bad_host_is_refused_on_create_update_and_with_a_host_key(world: World, host: str) -> None:
    for method, url, body in [
        ("POST", "/api/v1/jobs", job(host=host)),
        ("PUT", "/api/v1/jobs/999999", update(host=host)),
        ("POST", "/api/v1/jobs", job(host=host, host_key="ssh-ed25519 AAAA")),
    ]:
        response = await send(world.client, method, url, body)
        assert_refused(world, response, "source.host")
        assert "idna" not in response.text and "codec" not in response.text


@pytest.mark.parametrize(
    ("host", "message"),
    [("a..b", HOST), ("a\u0000b", STORABLE), ("a\u0095", CONTROL), ("999", "is not a valid IPv4 address")],
)
async def test_a_bad_host_is_named_in_our_words(world: World, host: str, message: str) -> None:
    assert_refused(world, await send(world.client, "POST", "/api/v1/jobs", job(host=host)), "source.host", message)


@pytest.mark.parametrize("host", GOOD_HOSTS)
async def test_dns_names_and_ip_literals_are_scanned_and_sent_as_given(world: World, host: str) -> None:
    response = await send(world.client, "POST", "/api/v1/jobs", job(host=host))
    assert response.status_code == 201, response.text
    assert world.host_keys.asked == [(host, 2222)]
    assert world.bus.sent[0].payload.definition.settings.source.host == host  # type: ignore[attr-defined]


async def test_a_valid_update_of_an_unknown_job_is_not_found(world: World) -> None:
    world.bus.answer = lambda c: None  # would answer 202 if anything were sent
    body = update()
    del body["source"]["password"]
    response = await send(world.client, "PUT", "/api/v1/jobs/999999", body)
    assert response.status_code == 404
    assert world.bus.sent == []


JOB_STRINGS = [
    "name",
    "description",
    "source.host",
    "source.user",
    "source.path",
    "source.password",
    "source.private_key",
    "source.host_key",
    "target.table",
    "mapping.0.source",
    "mapping.0.target",
]


def field_of(path: str) -> str:
    """`mapping.0.source` -> `mapping[0].source`, as the API names fields."""
    return re.sub(r"\.(\d+)", r"[\1]", path)


@pytest.mark.parametrize("path", JOB_STRINGS)
@pytest.mark.parametrize("bad", ["a\u0000b", "a\ud800b"], ids=["nul", "surrogate"])
async def test_unstorable_job_strings_are_named(world: World, path: str, bad: str) -> None:
    for method, url, body in [("POST", "/api/v1/jobs", job()), ("PUT", "/api/v1/jobs/7", update())]:
        response = await send(world.client, method, url, set_path(body, path, bad))
        assert_refused(world, response, field_of(path))


@pytest.mark.parametrize("path", ["name", "columns.0.name", "primary_key.0"])
@pytest.mark.parametrize("bad", ["a\u0000b", "a\udc80b"], ids=["nul", "surrogate"])
async def test_unstorable_table_strings_are_named(world: World, path: str, bad: str) -> None:
    body = set_path(json.loads(json.dumps(TABLE)), path, bad)
    assert_refused(world, await send(world.client, "POST", "/api/v1/tables", body), field_of(path))


@pytest.mark.parametrize("path", ["name", "source.user", "source.path", "source.host_key", "mapping.0.source"])
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\u001bb", "a\u0085b"], ids=["lf", "cr", "esc", "nel"])
async def test_single_line_values_refuse_control_characters(world: World, path: str, bad: str) -> None:
    response = await send(world.client, "POST", "/api/v1/jobs", set_path(job(), path, bad))
    assert_refused(world, response, field_of(path), CONTROL)


@pytest.mark.parametrize("path", ["source.user", "source.path", "mapping.0.source"])
@pytest.mark.parametrize("bad", [" ", "\t", "a\u2028b"], ids=["space", "tab", "line-separator"])
async def test_user_path_and_source_column_must_say_something_on_one_line(world: World, path: str, bad: str) -> None:
    response = await send(world.client, "POST", "/api/v1/jobs", set_path(job(), path, bad))
    assert_refused(world, response, field_of(path), CONTROL if "\u2028" in bad else BLANK)


async def test_a_description_may_span_lines_but_not_hold_nul(world: World) -> None:
    text = "Line one\r\nline two\n\ttabbed"
    accepted = await send(world.client, "POST", "/api/v1/jobs", job() | {"description": text})
    assert accepted.status_code == 201
    assert world.bus.sent[0].payload.definition.description == text  # type: ignore[attr-defined]
    world.bus.sent.clear()
    world.credentials.stored.clear()
    world.host_keys.asked.clear()
    refused = await send(world.client, "POST", "/api/v1/jobs", job() | {"description": "a\u0000"})
    assert_refused(world, refused, "description", STORABLE)


async def test_a_refused_secret_is_not_echoed(world: World) -> None:
    response = await send(world.client, "POST", "/api/v1/jobs", job(password="hunter2\u0000"))
    assert_refused(world, response, "source.password", STORABLE)
    assert "hunter2" not in response.text


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Bad/name#1", JOB_NAME_RULE),
        ("Ünïcode", JOB_NAME_RULE),
        ("   ", "a job needs a name"),
        ("", "a job needs a name"),
        ("n" * 101, "must be at most 100 characters"),
    ],
)
async def test_the_job_name_rule_is_checked_at_the_gateway(world: World, name: str, message: str) -> None:
    response = await send(world.client, "POST", "/api/v1/jobs", job() | {"name": name})
    assert_refused(world, response, "name", message)


async def test_every_character_the_job_name_rule_allows_is_accepted(world: World) -> None:
    name = " Import [stores] {v2} = ok! - run_1 @home"
    response = await send(world.client, "POST", "/api/v1/jobs", job() | {"name": name})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("name", ["1abc", "a-b", "_a", "Städte", "a" * 64, ""])
async def test_table_and_column_names_follow_the_identifier_rule(world: World, name: str) -> None:
    for path in ["name", "columns.0.name", "primary_key.0"]:
        body = set_path(json.loads(json.dumps(TABLE)), path, name)
        response = await send(world.client, "POST", "/api/v1/tables", body)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field_of(path)]
    target = await send(world.client, "POST", "/api/v1/jobs", set_path(job(), "mapping.0.target", name))
    assert [e["field"] for e in target.json()["errors"]] == ["mapping[0].target"]
    assert world.bus.sent == []


async def test_the_identifier_rule_is_worded_like_the_schedulers(world: World) -> None:
    response = await send(world.client, "POST", "/api/v1/tables", TABLE | {"name": "a-b"})
    assert_refused(world, response, "name", IDENTIFIER_RULE)


async def test_an_empty_mapping_or_column_list_is_refused(world: World) -> None:
    assert_refused(world, await send(world.client, "POST", "/api/v1/jobs", job() | {"mapping": []}), "mapping")
    columns = await send(world.client, "POST", "/api/v1/tables", TABLE | {"columns": []})
    assert_refused(world, columns, "columns", "must not be empty")


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/jobs?q=%00", "q"),
        ("/api/v1/jobs?q=a%0Ab", "q"),
        ("/api/v1/jobs?q=%C2%85", "q"),
        ("/api/v1/tables/a%00b", "name"),
        ("/api/v1/tables/a-b", "name"),
        ("/api/v1/runs/1.2%00", "run"),
        ("/api/v1/runs/1.2%0A/log", "run"),
    ],
)
async def test_query_and_path_values_are_checked(world: World, url: str, field: str) -> None:
    response = await world.client.get(url)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_a_valid_table_name_is_merely_unknown(world: World) -> None:
    response = await world.client.get("/api/v1/tables/No_such_table")
    assert response.status_code == 404
    assert response.json()["message"] == "table No_such_table not found"


@pytest.mark.parametrize("header", ["Idempotency-Key"])
@pytest.mark.parametrize("value", [b"ann\x85", b"ann\x1b[31m", b"ann\x7f"], ids=["nel", "esc", "del"])
async def test_header_values_refuse_control_characters(world: World, header: str, value: bytes) -> None:
    response = await world.client.post("/api/v1/jobs/5/run", headers={header: value})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [header.lower()]
    assert world.bus.sent == []


async def test_a_plain_header_value_is_used_and_the_actor_header_is_not(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="5", run_id=1)
    response = await world.client.post(
        "/api/v1/jobs/5/run", headers={"X-Connect-User": "ann.b@example.com", "Idempotency-Key": "k-2025-01-02"}
    )
    assert response.status_code == 202
    assert world.bus.sent[0].payload.idempotency_key == "k-2025-01-02"
    assert world.bus.sent[0].actor == "ada"  # the token's user, whatever the header says
