"""One error shape for everything, FastAPI's own request validation included."""

from __future__ import annotations

from typing import Any

from connect_gateway.ports import CommandNotSentError, CommandSendTimeoutError
from tests.unit.gateway.gateway_fakes import World, job_body


def assert_error_shape(body: dict[str, Any]) -> None:
    assert set(body) == {"code", "message", "errors", "reason"}
    assert all(set(e) == {"field", "message"} for e in body["errors"])


async def test_invalid_json_is_malformed_request_naming_the_position(world: World) -> None:
    response = await world.client.post(
        "/api/v1/jobs", content=b'{\n  "name": "x",\n  "type": }', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert_error_shape(body)
    assert body["code"] == "malformed_request"
    assert "line 3 column 11" in body["message"]
    assert body["errors"] == [{"field": "body", "message": body["message"]}]
    assert world.bus.sent == []


async def test_a_body_that_is_not_an_object_is_malformed(world: World) -> None:
    response = await world.client.post("/api/v1/tables", json=[1, 2])
    assert response.status_code == 422
    assert response.json()["code"] == "malformed_request"


async def test_missing_body_is_malformed(world: World) -> None:
    response = await world.client.post("/api/v1/tables")
    assert response.status_code == 422
    assert response.json()["code"] == "malformed_request"


async def test_missing_and_mistyped_fields_are_named_by_dotted_path(world: World, user_private_key: str) -> None:
    body = job_body(user_private_key)
    del body["source"]["host"]
    body["source"]["port"] = "twenty-two"
    body["mapping"][1] = {"source": "city"}
    body["source"]["colour"] = "blue"

    response = await world.client.post("/api/v1/jobs", json=body)

    assert response.status_code == 422
    error = response.json()
    assert_error_shape(error)
    assert error["code"] == "validation_failed"
    fields = {e["field"]: e["message"] for e in error["errors"]}
    assert set(fields) == {"source.host", "source.port", "mapping[1].target", "source.colour"}
    assert fields["source.host"] == "is required"
    assert fields["source.port"] == "must be a whole number"
    assert fields["source.colour"] == "is not a field of this request"
    assert "source.port" in error["message"]
    assert user_private_key not in response.text and "twenty-two" not in response.text
    assert world.credentials.stored == {} and world.bus.sent == []


async def test_a_wrong_secret_type_never_echoes_the_other_secret(world: World) -> None:
    body = job_body()
    body["source"]["password"] = 12345
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["source.password"]
    assert "12345" not in response.text


async def test_bad_query_and_path_parameters(world: World) -> None:
    state = await world.client.get("/api/v1/jobs?state=sleeping")
    assert state.status_code == 422
    assert [e["field"] for e in state.json()["errors"]] == ["state"]
    job = await world.client.get("/api/v1/jobs/abc")
    assert [e["field"] for e in job.json()["errors"]] == ["job_id"]
    run = await world.client.get("/api/v1/runs/12")
    assert run.status_code == 422
    assert run.json()["errors"] == [{"field": "run", "message": "expected JobID.RunID, e.g. 1042.7"}]


async def test_unknown_route_and_method(world: World) -> None:
    missing = await world.client.get("/api/v1/nothing")
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "message": "no such resource", "errors": [], "reason": None}
    wrong = await world.client.patch("/api/v1/jobs")
    assert wrong.status_code == 405
    assert_error_shape(wrong.json())


async def test_bus_down_is_unavailable_and_drops_the_credential(world: World, user_private_key: str) -> None:
    world.bus.failure = CommandNotSentError("KafkaConnectionError")
    response = await world.client.post("/api/v1/jobs", json=job_body(user_private_key))
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert world.credentials.stored == {} and len(world.credentials.deleted) == 1


async def test_unconfirmed_send_is_a_timeout_and_keeps_the_credential(world: World, user_private_key: str) -> None:
    world.bus.failure = CommandSendTimeoutError("x")
    response = await world.client.post("/api/v1/jobs", json=job_body(user_private_key))
    assert response.status_code == 504
    assert response.json()["code"] == "timeout"
    assert len(world.credentials.stored) == 1


async def test_openapi_documents_the_error_shape(world: World) -> None:
    response = await world.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    create = document["paths"]["/api/v1/jobs"]["post"]["responses"]
    assert create["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert {"201", "202", "404", "409", "413", "503", "504"} <= set(create)
    assert create["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/PendingOut")
    assert "status_url" in document["components"]["schemas"]["PendingOut"]["required"]
    assert "/api/v1/commands/{command_id}" in document["paths"]
    private_key = document["components"]["schemas"]["SourceIn"]["properties"]["private_key"]
    assert private_key["writeOnly"] is True
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert (await world.client.get("/docs")).status_code == 200
