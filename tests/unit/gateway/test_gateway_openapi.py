"""HTTP correctness: 405 with a full `Allow`, and an OpenAPI document that states what the server enforces."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from connect_events import values as rules
from connect_events.values import FILLED_LINE_PATTERN
from connect_gateway.domain.runs import run_key_problem
from connect_gateway.entrypoints.http.fields import HOSTED_PATH_PATTERN
from tests.unit.gateway.gateway_fakes import World

METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE")
EXAMPLE = {
    "{job_id}": "24",
    "{name}": "Stores",
    "{run}": "24.1",
    "{run_id}": "1",
    "{command_id}": "00000000-0000-0000-0000-000000000001",
}


@pytest.fixture
async def document(world: World) -> dict[str, Any]:
    response = await world.client.get("/openapi.json")
    document: dict[str, Any] = response.json()
    return document


def concrete(template: str) -> str:
    for parameter, value in EXAMPLE.items():
        template = template.replace(parameter, value)
    return template


async def test_options_on_a_job_lists_every_method_of_the_path(world: World) -> None:
    response = await world.client.options("/api/v1/jobs/24")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PUT"
    assert response.json() == {
        "code": "method_not_allowed",
        "message": "OPTIONS is not allowed here; this path takes DELETE, GET, PUT",
        "errors": [],
        "reason": None,
    }


def shadowed(document: dict[str, Any], template: str) -> set[str]:
    """Methods of a parameter path the literal `template` also matches (a request for that parameter's value,
    not a method the literal path lacks); none today: the batch delete is `/api/v1/jobs:delete` for that reason."""
    path = concrete(template)
    return {
        method.upper()
        for other, operations in document["paths"].items()
        if other != template and "{" in other and re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(other)), path)
        for method in operations
    }


async def test_every_undocumented_method_of_every_path_is_405_with_the_documented_allow(
    world: World, document: dict[str, Any]
) -> None:
    for template, operations in document["paths"].items():
        documented = {m.upper() for m in operations}
        for method in set(METHODS) - documented - shadowed(document, template):
            response = await world.client.request(method, concrete(template))
            assert response.status_code == 405, (method, template)
            assert set(response.headers["allow"].split(", ")) == documented, (method, template)
            if method != "HEAD":
                body = response.json()
                if template.startswith("/rest/api/"):  # the Responsys-compatible envelope
                    assert body["errorCode"] == "METHOD_NOT_ALLOWED", (method, template)
                else:
                    assert body["code"] == "method_not_allowed"
    assert world.bus.sent == []


async def test_a_405_outside_the_api_keeps_the_routes_own_allow(world: World) -> None:
    response = await world.client.post("/openapi.json")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET"}


async def test_every_operation_documents_the_errors_it_can_answer(document: dict[str, Any]) -> None:
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if template.startswith("/rest/api/"):  # the Responsys-compatible surface: its envelope, no 422
                for status in ("400", "401", "405", "413", "500", "503"):
                    schema = responses[status]["content"]["application/json"]["schema"]["$ref"]
                    assert schema.endswith("/CompatErrorOut"), (method, template, status)
                assert "422" not in responses and "Allow" in responses["405"]["headers"]
                if "{jobId}" in template:
                    assert "404" in responses, (method, template)
                continue
            operational = template in ("/healthz", "/readyz", "/metrics")  # no body, no command, no credentials
            for status in ("405", "413", "500") if operational else ("405", "413", "422", "500", "503"):
                assert responses[status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
            assert "Allow" in responses["405"]["headers"]
            if {"access", "files"} & set(operation.get("tags", [])):
                continue  # users, tokens, keys, login and files are the gateway's own: no 202 or 504
            if (method, template) == ("post", "/api/v1/jobs:delete"):
                continue  # 200 with one result per job: each job's refusal is inside it
            if method == "post" and template.endswith("/auto-mapping"):
                assert {"404", "409"} <= set(responses)  # a read with a body: no command, so no 202 or 504
                continue
            if (method, template) == ("post", "/api/v1/audiences/preview"):
                assert "422" in responses  # a read with a body: no command, so no 202 or 504
                continue
            if method != "get" or "{" in template:
                assert "404" in responses, (method, template)
            if method != "get":
                assert {"202", "409", "504"} <= set(responses), (method, template)


async def test_run_now_documents_both_of_its_202_bodies(document: dict[str, Any]) -> None:
    answer = document["paths"]["/api/v1/jobs/{job_id}/run"]["post"]["responses"]["202"]
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/RunNowOut")
    variants = document["components"]["schemas"]["RunNowOut"]["anyOf"]
    assert [v["$ref"].rsplit("/", 1)[1] for v in variants] == ["RunStartedOut", "PendingOut"]
    assert set(document["components"]["schemas"]["RunStartedOut"]["required"]) == {
        "job_id",
        "run_id",
        "run",
        "status_url",
    }


def schema_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def parameter(document: dict[str, Any], template: str, name: str) -> dict[str, Any]:
    operation = document["paths"][template]["get"]
    found: dict[str, Any] = next(p for p in operation["parameters"] if p["name"] == name)["schema"]
    return found


def string_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The string branch of an optional field's `anyOf`."""
    return next((s for s in schema.get("anyOf", []) if s.get("type") == "string"), schema)


async def test_the_rules_the_server_enforces_are_patterns_in_the_document(document: dict[str, Any]) -> None:
    job = schema_of(document, "JobIn")["properties"]
    assert job["name"]["pattern"] == rules.JOB_NAME_PATTERN and job["name"]["maxLength"] == 100
    assert job["mapping"]["minItems"] == 1
    identifiers = [
        schema_of(document, "TableIn")["properties"]["name"],
        schema_of(document, "TableIn")["properties"]["primary_key"]["items"],
        schema_of(document, "ColumnIn")["properties"]["name"],
        schema_of(document, "TargetIn")["properties"]["table"],
        schema_of(document, "MappingIn")["properties"]["target"],
        parameter(document, "/api/v1/tables/{name}", "name"),
    ]
    assert all(s["pattern"] == rules.IDENTIFIER_PATTERN for s in identifiers)
    assert parameter(document, "/api/v1/runs/{run}", "run")["pattern"] == r"^[1-9][0-9]{0,17}\.[1-9][0-9]{0,8}$"
    source = schema_of(document, "SourceIn")["properties"]
    assert source["host"]["pattern"] == rules.HOST_PATTERN and source["host"]["maxLength"] == 254
    for name in ("user", "path"):
        assert source[name]["pattern"] == FILLED_LINE_PATTERN
    assert string_schema(source["host_key"])["pattern"] == rules.NO_CONTROL_PATTERN
    assert string_schema(source["password"])["pattern"] == rules.STORABLE_PATTERN
    assert string_schema(parameter(document, "/api/v1/jobs", "q"))["pattern"] == rules.NO_CONTROL_PATTERN


def integer_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The integer branch of an optional field's `anyOf`."""
    return next((s for s in schema.get("anyOf", []) if s.get("type") == "integer"), schema)


async def test_the_ranges_of_a_table_definition_are_in_the_document(document: dict[str, Any]) -> None:
    table = schema_of(document, "TableIn")["properties"]
    assert table["columns"]["minItems"] == 1 and table["primary_key"]["minItems"] == 1
    column = schema_of(document, "ColumnIn")["properties"]
    ranges = {name: integer_schema(column[name]) for name in ("max_length", "precision", "scale")}
    assert (ranges["max_length"]["minimum"], ranges["max_length"]["maximum"]) == (1, 65535)
    assert (ranges["precision"]["minimum"], ranges["precision"]["maximum"]) == (1, 38)
    assert (ranges["scale"]["minimum"], ranges["scale"]["maximum"]) == (0, 38)
    assert schema_of(document, "MappingIn")["properties"]["source"]["minLength"] == 1


async def test_exactly_one_secret_on_create_and_not_both_on_update(document: dict[str, Any]) -> None:
    create = schema_of(document, "SourceIn")
    assert create["oneOf"] == [
        {"required": ["private_key"], "properties": {"private_key": {"type": "string"}}},
        {"required": ["password"], "properties": {"password": {"type": "string"}}},
    ]
    assert _variants(schema_of(document, "JobIn")["properties"]["source"]) == ["SourceIn", "HostedSourceIn"]
    update = schema_of(document, "SourceUpdateIn")
    assert update["not"] == {
        "required": ["private_key", "password"],
        "properties": {"private_key": {"type": "string"}, "password": {"type": "string"}},
    }
    assert _variants(schema_of(document, "JobUpdateIn")["properties"]["source"]) == ["SourceUpdateIn", "HostedSourceIn"]


def _variants(schema: dict[str, Any]) -> list[str]:
    return [variant["$ref"].rsplit("/", 1)[1] for variant in schema["oneOf"]]


async def test_a_hosted_source_has_a_kind_and_a_path_only(document: dict[str, Any]) -> None:
    hosted = schema_of(document, "HostedSourceIn")
    assert set(hosted["properties"]) == {"kind", "path"} and set(hosted["required"]) == {"kind", "path"}
    assert hosted["additionalProperties"] is False
    assert hosted["properties"]["path"]["pattern"] == HOSTED_PATH_PATTERN
    # Without `kind` a source is an external one, as before: the SFTP shapes do not require it.
    assert "kind" not in schema_of(document, "SourceIn").get("required", [])
    assert schema_of(document, "SourceIn")["properties"]["kind"]["default"] == "sftp"


SAMPLES = [
    "",
    " ",
    "Stores",
    "stores_2025",
    "1abc",
    "a-b",
    "a b",
    "Import [stores] {v2} = ok!",
    "Bad/name#1",
    "a..b",
    ".",
    "a" * 63,
    "a" * 64,
    "sftp.example.com.",
    "127.0.0.1",
    "::1",
    "fe80::1%eth0",
    "fe80::1%a b",
    "999",
    "a\u0095",
    "a\u0000b",
    "a\nb",
    "a\tb",
    "Städte",
    "1042.7",
    "0.1",
    "1.2.3",
    "9223372036854775807.2147483647",
]


@pytest.mark.parametrize(
    ("pattern", "problem", "max_length"),
    [
        (rules.JOB_NAME_PATTERN, rules.job_name_problem, 100),
        (rules.IDENTIFIER_PATTERN, rules.identifier_problem, 63),
        (rules.HOST_PATTERN, rules.host_problem, 254),
        (rules.NO_CONTROL_PATTERN, rules.control_problem, None),
        (r"^[1-9][0-9]{0,18}\.[1-9][0-9]{0,9}$", run_key_problem, None),
    ],
)
def test_the_gateway_accepts_only_what_the_documented_pattern_allows(
    pattern: str, problem: Callable[[str], str | None], max_length: int | None
) -> None:
    # The server may be stricter than a pattern can say (a host's label lengths, the largest ids) but never
    # looser, or a client following the document would be surprised the other way round.
    documented = re.compile(pattern)
    for sample in SAMPLES:
        if problem(sample) is None:
            assert documented.fullmatch(sample), sample
            assert max_length is None or len(sample) <= max_length, sample


@pytest.mark.parametrize(
    ("method", "url"), [("GET", "/api/v1/jobs/"), ("POST", "/api/v1/tables/"), ("GET", "/healthz/")]
)
async def test_a_trailing_slash_is_not_found_not_an_undocumented_redirect(world: World, method: str, url: str) -> None:
    response = await world.client.request(method, url)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("host", ["a..b", ".", "a" * 64, "a\u0095", "a\u0000b", "abc..", "-a", "[::1]"])
def test_the_documented_host_pattern_itself_refuses_the_hosts_of_the_issue(host: str) -> None:
    assert re.fullmatch(rules.HOST_PATTERN, host) is None


async def test_every_operation_but_health_metrics_and_login_documents_its_credentials(document: dict[str, Any]) -> None:
    open_operations = {
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("post", "/api/v1/auth/login"),
        ("post", "/rest/api/v1.3/auth/token"),  # a password login, or a refresh that reads its own token
    }
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method, template) in open_operations:
                assert "security" not in operation, (method, template)
                continue
            if template.startswith("/rest/api/"):  # the token as that API sends it, refusals in its envelope
                assert operation["security"] == [{"responsysToken": []}], (method, template)
                assert "401" in operation["responses"] and "Roles: " in operation["description"]
                continue
            assert operation["security"] == [{"token": []}, {"session": []}], (method, template)
            assert {"401", "403"} <= set(operation["responses"]), (method, template)
            assert "Roles: " in operation["description"], (method, template)
    assert set(document["components"]["securitySchemes"]) == {"token", "session", "responsysToken"}
    login = document["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert {"401", "429"} <= set(login) and "Retry-After" in login["429"]["headers"]


async def test_the_responsys_compatible_calls_have_their_own_tag_with_examples(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    tag = "Responsys-compatible API"
    assert "Authorization" in next(t["description"] for t in document["tags"] if t["name"] == tag)
    compat = {(m, p): op for p, ops in document["paths"].items() if p.startswith("/rest/api/") for m, op in ops.items()}
    assert len(compat) == 8
    for (method, path), operation in compat.items():
        assert operation["tags"] == [tag], (method, path)
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
        ref = (answer.get("items") or answer)["$ref"].rsplit("/", 1)[1]
        assert "example" in schemas[ref], (method, path, ref)
    assert "example" in schemas["CompatErrorOut"]
    assert schemas["TriggerIn"]["properties"]["jobIds"]["example"] == [1, 2, 3]
