"""Refusals in our own words: no pydantic or JSON-decoder text, never the submitted value, the field named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connect_events.values import STORABLE
from connect_gateway.entrypoints.http.wording import GENERIC, field_path, json_reason, sentence
from tests.unit.gateway.gateway_fakes import World, job_body

JSON = {"Content-Type": "application/json"}
LIBRARY_WORDS = ("Input should", "String should", "Field required", "Extra inputs", "Expecting", "JSON decode")

ONE_OF_JOB_TYPES = (
    "must be one of 'import_custom_table', 'import_profile_data', 'export_file', 'export_api' or"
    " 'import_analytics_feed'"
)


def job(**changes: Any) -> dict[str, Any]:
    body = job_body()
    body["source"]["password"] = "s3cret!"
    return body | changes


def with_source(**source: Any) -> dict[str, Any]:
    body = job()
    body["source"] |= source
    return body


def with_file(**file: Any) -> dict[str, Any]:
    body = job()
    body["file"] |= file
    return body


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (job(name="n" * 101), "name", "must be at most 100 characters"),
        (job(mapping=[{"source": "a", "target": "B"}] * 1001), "mapping", "must have at most 1000 items"),
        (with_source(port=0), "source.port", "must be at least 1"),
        (with_source(port=70000), "source.port", "must be at most 65535"),
        (with_source(port="twenty-two"), "source.port", "must be a whole number"),
        (with_source(port=22.5), "source.port", "must be a whole number"),
        (with_source(user=""), "source.user", "must not be empty"),
        (with_source(password=""), "source.password", "must not be empty"),
        (
            with_file(encoding="ascii"),
            "file.encoding",
            "must be one of 'utf-8', 'iso-8859-1', 'windows-1252' or 'utf-16'",
        ),
        (with_file(header="maybe"), "file.header", "must be true or false"),
        (job(source="sftp://x"), "source", "must be a JSON object"),
        (job(mapping="a=b"), "mapping", "must be a JSON array"),
        (job(name=5), "name", "must be a string"),
        (job(type="export"), "type", ONE_OF_JOB_TYPES),
        (with_source(colour="blue"), "source.colour", "is not a field of this request"),
    ],
)
async def test_field_errors_are_in_our_words(world: World, body: dict[str, Any], field: str, message: str) -> None:
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "validation_failed"
    assert error["errors"] == [{"field": field, "message": message}]
    assert error["message"] == f"invalid request: {field}: {message}"
    assert not any(words in response.text for words in LIBRARY_WORDS)


async def test_a_missing_field_is_required(world: World) -> None:
    body = job()
    del body["target"]
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.json()["errors"] == [{"field": "target", "message": "is required"}]


@pytest.mark.parametrize(
    ("url", "field", "message"),
    [
        ("/api/v1/commands/not-a-uuid", "command_id", "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000"),
        ("/api/v1/jobs?limit=abc", "limit", "must be a whole number"),
        ("/api/v1/jobs?limit=0", "limit", "must be at least 1"),
        (
            "/api/v1/runs?status=done",
            "status",
            "must be one of " + "'queued', 'running', 'succeeded', 'failed', 'stopped' or 'skipped'",
        ),
    ],
)
async def test_query_and_path_errors_are_in_our_words(world: World, url: str, field: str, message: str) -> None:
    response = await world.client.get(url)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": field, "message": message}]


async def test_an_unknown_fields_name_is_escaped_and_cut_short(world: World) -> None:
    body = with_source(**{"a\u0000b": 1, "k" * 1000: 3})
    response = await world.client.post("/api/v1/jobs", content=json.dumps(body).encode(), headers=JSON)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"source.a\\u0000b", "source." + "k" * 64 + "…"}


async def test_a_field_name_with_an_unpaired_surrogate_fails_its_object(world: World) -> None:
    body = with_source(**{"\ud800": 2})
    response = await world.client.post("/api/v1/jobs", content=json.dumps(body).encode(), headers=JSON)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "source", "message": STORABLE}]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"name": "x",}', "a field name in double quotes was expected"),
        (b'{"name" "x"}', "':' was expected after a field name"),
        (b'{"name": "x" "y"}', "',' or the end of the object or array was expected"),
        (b'{"name": "secret\x01value"}', "a string holds a raw control character (escape it, e.g. \\n)"),
        (b'{"name": "x\\q"}', "a string holds an invalid escape sequence"),
        (b'{"name": "x', "a string is not closed"),
        (b'{"name": 1} {}', "more follows after the JSON value"),
        (b'{"name": }', "a value was expected"),
    ],
)
async def test_broken_json_is_explained_in_our_words(world: World, content: bytes, reason: str) -> None:
    response = await world.client.post("/api/v1/jobs", content=content, headers=JSON)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "malformed_request"
    assert body["message"].endswith(f": {reason}")
    assert body["errors"] == [{"field": "body", "message": body["message"]}]
    assert "secret" not in response.text and "Expecting" not in response.text


async def test_a_body_that_is_not_utf8_is_malformed_not_400(world: World) -> None:
    response = await world.client.post(
        "/api/v1/jobs", content=b'{"name": "\xff\xfe", "type": "import_custom_table"}', headers=JSON
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "malformed_request"
    assert body["message"] == "the request body is not UTF-8 text (invalid byte at offset 10)"
    assert [e["field"] for e in body["errors"]] == ["body"]
    assert world.bus.sent == []


async def test_json_nested_beyond_reason_is_malformed(world: World) -> None:
    response = await world.client.post("/api/v1/tables", content=b"[" * 100_000 + b"]" * 100_000, headers=JSON)
    assert response.status_code == 422
    assert response.json()["code"] == "malformed_request"


def test_unmapped_error_types_get_a_generic_sentence() -> None:
    assert sentence({"type": "timezone_aware", "msg": "Input should have timezone info"}) == GENERIC
    assert sentence({"type": "string_too_long", "ctx": {}}) == GENERIC
    assert sentence({"type": "greater_than_equal"}) == GENERIC
    assert sentence({"type": "string_too_long", "ctx": {"max_length": 1}}) == "must be at most 1 character"


def test_field_paths_and_json_reasons() -> None:
    assert field_path(("body", "mapping", 2, "target")) == "mapping[2].target"
    assert field_path(("query", "q")) == "q"
    assert field_path(("body",)) == "body"
    assert json_reason("Invalid control character '\\x00' at") == (
        "a string holds a raw control character (escape it, e.g. \\n)"
    )
    assert json_reason("something new") == "not valid JSON"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (with_source(port="2222"), "source.port"),
        (with_source(port=True), "source.port"),
        (with_file(header=1), "file.header"),
        (with_file(header="true"), "file.header"),
        (job(activate="yes"), "activate"),
        (job(activate=0), "activate"),
    ],
)
async def test_values_are_taken_only_in_the_json_type_the_schema_states(
    world: World, body: dict[str, Any], field: str
) -> None:
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert world.bus.sent == []


async def test_strict_values_still_take_what_json_schema_calls_an_integer(world: World) -> None:
    response = await world.client.post("/api/v1/jobs", json=with_source(port=2222.0))
    assert response.status_code == 201, response.text
    assert world.bus.sent[0].payload.definition.settings.source.port == 2222  # type: ignore[attr-defined]
    table = {"name": "T", "columns": [{"name": "C", "type": "text", "max_length": False}], "primary_key": ["C"]}
    refused = await world.client.post("/api/v1/tables", json=table)
    assert [e["field"] for e in refused.json()["errors"]] == ["columns[0].max_length"]


async def test_an_unpaired_surrogate_in_a_field_name_is_named_as_such(world: World) -> None:
    body = b'{"name": "T", "\\ud800": 1, "columns": [], "primary_key": []}'
    response = await world.client.post("/api/v1/tables", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["code"] == "malformed_request"
    assert "unpaired surrogate" in response.json()["message"]
