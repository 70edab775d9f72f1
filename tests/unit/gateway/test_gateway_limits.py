"""Size limits: oversized fields, ids and bodies are refused up front, never as a misleading 503 later."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connect_events import encode
from connect_gateway import handlers
from connect_gateway.domain.limits import MAX_BODY_BYTES, MAX_COMMAND_BYTES
from tests.unit.gateway.gateway_fakes import World, job_body

MAPPING = [{"source": "a", "target": "B"}]
JSON = {"Content-Type": "application/json"}


def with_password(**changes: Any) -> dict[str, Any]:
    body = job_body(**changes)
    body["source"]["password"] = "s3cret!"
    return body


@pytest.mark.parametrize(
    ("section", "key", "value", "field"),
    [
        (None, "name", "n" * 201, "name"),
        (None, "description", "d" * 4001, "description"),
        (None, "mapping", MAPPING * 1001, "mapping"),
        (None, "mapping", [{"source": "a" * 201, "target": "B"}], "mapping[0].source"),
        (None, "mapping", [{"source": "a", "target": "B" * 201}], "mapping[0].target"),
        ("source", "host", "h" * 256, "source.host"),
        ("source", "user", "u" * 256, "source.user"),
        ("source", "path", "p" * 1025, "source.path"),
        ("source", "password", "p" * 1025, "source.password"),
        ("source", "host_key", "k" * 8193, "source.host_key"),
        ("target", "table", "T" * 64, "target.table"),
    ],
)
async def test_oversized_job_fields_are_named(
    world: World, section: str | None, key: str, value: Any, field: str
) -> None:
    body = with_password()
    (body if section is None else body[section])[key] = value
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert world.bus.sent == [] and world.credentials.stored == {}


async def test_an_oversized_private_key_is_named_without_echoing_it(world: World) -> None:
    body = job_body("-----BEGIN OPENSSH PRIVATE KEY-----" + "k" * 16384)
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "source.private_key"
    assert "kkkk" not in response.text and "16419" not in response.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "T" * 64}, "name"),
        ({"columns": [{"name": "C", "type": "integer"}] * 1001}, "columns"),
        ({"columns": [{"name": "C" * 64, "type": "integer"}]}, "columns[0].name"),
        ({"columns": [{"name": "C", "type": "text", "max_length": 2**31}]}, "columns[0].max_length"),
        ({"primary_key": ["C" * 64]}, "primary_key[0]"),
    ],
)
async def test_oversized_table_fields_are_named(world: World, change: dict[str, Any], field: str) -> None:
    body = {"name": "Stores", "columns": [{"name": "C", "type": "integer"}], "primary_key": ["C"], **change}
    response = await world.client.post("/api/v1/tables", json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert world.bus.sent == []


@pytest.mark.parametrize(
    ("method", "url", "field"),
    [
        ("GET", "/api/v1/jobs/100000000000000000000", "job_id"),
        ("POST", "/api/v1/jobs/9223372036854775808/activate", "job_id"),
        ("DELETE", "/api/v1/jobs/9223372036854775808", "job_id"),
        ("POST", "/api/v1/jobs/9223372036854775808/run", "job_id"),
        ("POST", "/api/v1/jobs/5/activate?expected_version=2147483648", "expected_version"),
        ("GET", "/api/v1/jobs?limit=1001", "limit"),
        ("GET", "/api/v1/runs?job_id=9223372036854775808", "job_id"),
        ("GET", "/api/v1/runs?limit=0", "limit"),
        ("GET", "/api/v1/runs/9223372036854775808.1", "run"),
        ("GET", "/api/v1/runs/1.2147483648/log", "run"),
    ],
)
async def test_ids_out_of_range_are_named(world: World, method: str, url: str, field: str) -> None:
    response = await world.client.request(method, url)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert world.bus.sent == []


async def test_the_largest_ids_are_merely_unknown(world: World) -> None:
    assert (await world.client.get("/api/v1/jobs/9223372036854775807")).status_code == 404
    assert (await world.client.get("/api/v1/runs/999999999999999999.999999999")).status_code == 404


async def test_an_expected_version_out_of_range_is_named(world: World) -> None:
    body = with_password(expected_version=2**31)
    del body["activate"]
    response = await world.client.put("/api/v1/jobs/7", json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["expected_version"]


def padded(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON, padded with whitespace to exactly `size` bytes."""
    data = json.dumps(body).encode()
    return data + b" " * (size - len(data))


async def test_a_body_over_the_limit_is_payload_too_large(world: World) -> None:
    response = await world.client.post(
        "/api/v1/jobs",
        content=padded(with_password(), MAX_BODY_BYTES + 1),
        headers=JSON,
    )
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "payload_too_large" and body["errors"] == []
    assert "1048576 bytes" in body["message"]
    assert world.bus.sent == [] and world.credentials.stored == {}


async def test_a_chunked_body_over_the_limit_is_payload_too_large(world: World) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "x", "description": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"d" * 65536
        yield b'"}'

    response = await world.client.post("/api/v1/jobs", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert world.bus.sent == []


async def test_a_body_at_the_limit_is_read(world: World) -> None:
    response = await world.client.post("/api/v1/jobs", content=padded(with_password(), MAX_BODY_BYTES), headers=JSON)
    assert response.status_code == 201, response.text


async def test_a_command_too_large_for_the_bus_is_refused_before_the_secret_is_stored(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Within the field limits no body makes a command over the bus's limit (about 0.9 MB at most), so the
    # limit is lowered to show the check still refuses before anything is stored.
    monkeypatch.setattr(handlers, "MAX_COMMAND_BYTES", 2000)
    mapping = [{"source": "€" * 200, "target": "C" * 63}] * 10
    response = await world.client.post("/api/v1/jobs", json=with_password(mapping=mapping))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert world.bus.sent == [] and world.credentials.stored == {}


async def test_the_largest_valid_request_fits_the_bus(world: World) -> None:
    mapping = [{"source": "😀" * 200, "target": "C" * 63}] * 1000
    body = with_password(mapping=mapping, description="😀" * 4000)
    body["source"] |= {"path": "😀" * 1024, "user": "😀" * 255}
    content = json.dumps(body, ensure_ascii=False).encode()
    assert len(content) <= MAX_BODY_BYTES
    response = await world.client.post("/api/v1/jobs", content=content, headers=JSON)
    assert response.status_code == 201, response.text
    assert len(encode(world.bus.sent[0])) < MAX_COMMAND_BYTES
