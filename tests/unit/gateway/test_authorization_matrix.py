"""Every route of the OpenAPI document × {anonymous, viewer, operator, data director, admin}.

Built from the access table and the served routes: a route without a rule fails `create_app`, and a route
without a request recipe here fails this test, so no endpoint ships without its rule being exercised.
Allowed callers must get a 2xx (each recipe sets up what its request needs), others 401 or 403.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from connect_events import AudienceSpec, ColumnRef, ColumnSpec, ColumnType, Role, TableSpec
from connect_gateway.domain.identity.access import DOCS_ROUTES, ROUTES, Access, DocsAccess, document_path, rules
from connect_gateway.domain.rejects import RejectRecord
from connect_gateway.entrypoints.http.app import create_app
from connect_gateway.files.ports import HostedDeps
from connect_gateway.files.registry import register_key
from connect_gateway.ports import Principal
from connect_gateway.read_models import AudienceRecord, CommandRecord, HistoryRecord, LogLine, TableRecord
from tests.unit.gateway.gateway_fakes import NOW, PASSWORD, USERS, World, accepted, job_body, stored_job
from tests.unit.gateway.test_gateway_groups import group_body, stored_group, stored_group_run
from tests.unit.gateway.test_gateway_job_edits import update_body
from tests.unit.gateway.test_gateway_lists import LIST, PET, stored_list, stored_pet
from tests.unit.gateway.test_gateway_tables_and_reads import TABLE, run
from tests.unit.gateway.test_ssh_keys_store import public_line

PRINCIPALS: tuple[Role | None, ...] = (None, Role.VIEWER, Role.OPERATOR, Role.DATA_DIRECTOR, Role.ADMIN)


@dataclass(frozen=True)
class Call:
    """One request: method, URL and optional JSON body (or form fields)."""

    method: str
    url: str
    json: Any = None
    form: dict[str, str] | None = None


Recipe = Callable[[World, Role | None], Awaitable[Call]]


async def _own_token_id(world: World, role: Role | None) -> str:
    name = USERS[role or Role.VIEWER]
    return (await world.identity.list_tokens(name))[0].token_id


def _fixed(method: str, url: str, body: Any = None) -> Recipe:
    async def recipe(_world: World, _role: Role | None) -> Call:
        return Call(method, url, body)

    return recipe


def _fixed_form(method: str, url: str, form: dict[str, str]) -> Recipe:
    async def recipe(_world: World, _role: Role | None) -> Call:
        return Call(method, url, form=form)

    return recipe


def _with_job(method: str, url: str, body: Any = None) -> Recipe:
    async def recipe(world: World, _role: Role | None) -> Call:
        stored_job(world)
        return Call(method, url, body)

    return recipe


def _store_table(world: World) -> None:
    spec = TableSpec(name="Stores", columns=(ColumnSpec(name="ID", type=ColumnType.INTEGER),), primary_key=("ID",))
    world.reads.tables.append(TableRecord(spec=spec, defined_at=NOW, defined_by="ann"))


async def _table(world: World, _role: Role | None) -> Call:
    _store_table(world)
    return Call("GET", "/api/v1/tables/stores")


async def _auto_mapping(world: World, _role: Role | None) -> Call:
    _store_table(world)
    (_hosted(world).root / "upload" / "stores.csv").write_bytes(b"id,city\n1,Utrecht\n")
    return Call("POST", "/api/v1/tables/stores/auto-mapping", {"hosted_path": "upload/stores.csv"})


def _with_list(method: str, url: str, body: Any = None) -> Recipe:
    async def recipe(world: World, _role: Role | None) -> Call:
        stored_list(world)
        stored_pet(world)
        world.bus.answer = lambda c: accepted(c, target_id="Customers", target_type="list")
        return Call(method, url, body)

    return recipe


async def _list_auto_mapping(world: World, _role: Role | None) -> Call:
    stored_list(world)
    return Call("POST", "/api/v1/lists/Customers/auto-mapping", {"header": ["email_address_"]})


AUDIENCE = {"name": "Gold", "list_name": "Customers", "columns": [{"column": "EMAIL_ADDRESS_"}]}


def _with_audience(method: str, url: str, body: Any = None) -> Recipe:
    async def recipe(world: World, _role: Role | None) -> Call:
        stored_list(world)
        spec = AudienceSpec(name="Gold", list_name="Customers", columns=(ColumnRef(column="EMAIL_ADDRESS_"),))
        world.reads.audiences.append(AudienceRecord(spec, 1, NOW, "ann"))
        world.bus.answer = lambda c: accepted(c, target_id="Gold", target_type="audience")
        return Call(method, url, body)

    return recipe


async def _run(world: World, _role: Role | None) -> Call:
    world.reads.runs.append(run(4, 2, "succeeded", 0))
    return Call("GET", "/api/v1/runs/4.2")


async def _log(world: World, _role: Role | None) -> Call:
    world.reads.runs.append(run(4, 2, "succeeded", 0))
    world.reads.logs[(4, 2)] = [LogLine(at=NOW, level="INFO", message="file found")]
    return Call("GET", "/api/v1/runs/4.2/log")


async def _rejects(world: World, _role: Role | None) -> Call:
    world.reads.runs.append(run(4, 2, "succeeded", 0))
    world.rejects.rows[(4, 2)] = [RejectRecord(3, "INVALID_NUMBER", "x,y")]
    return Call("GET", "/api/v1/runs/4.2/rejects.csv")


async def _command(world: World, _role: Role | None) -> Call:
    command_id = uuid4()
    world.reads.commands[command_id] = CommandRecord(
        command_id=command_id,
        command_type="job.run_now",
        replied_at=NOW,
        status="accepted",
        target_type="job",
        target_id="5",
        target_version=2,
        run_id=3,
        code=None,
        message=None,
        errors=(),
    )
    return Call("GET", f"/api/v1/commands/{command_id}")


async def _run_now(world: World, _role: Role | None) -> Call:
    world.bus.answer = lambda c: accepted(c, target_id="5", version=4, run_id=12)
    return Call("POST", "/api/v1/jobs/5/run")


async def _dry_run(world: World, _role: Role | None) -> Call:
    world.bus.answer = lambda c: accepted(c, target_id="5", version=4, run_id=13)
    return Call("POST", "/api/v1/jobs/5/dry-run")


async def _copy(world: World, _role: Role | None) -> Call:
    world.bus.answer = lambda c: accepted(c, target_id="8")
    return Call("POST", "/api/v1/jobs/7/copy", {"name": "Import stores 2"})


async def _stop(world: World, _role: Role | None) -> Call:
    world.reads.runs.append(run(7, 2, "running", 0))
    return Call("POST", "/api/v1/jobs/7/runs/2/stop")


async def _history(world: World, _role: Role | None) -> Call:
    world.reads.history[7] = [HistoryRecord(version=1, at=NOW, by="ann", what="created")]
    return Call("GET", "/api/v1/jobs/7/history")


async def _create_group(world: World, _role: Role | None) -> Call:
    world.bus.answer = lambda c: accepted(c, target_id="31", target_type="group")
    return Call("POST", "/api/v1/groups", group_body())


async def _group(world: World, _role: Role | None) -> Call:
    stored_group(world)
    return Call("GET", "/api/v1/groups/31")


async def _group_runs(world: World, _role: Role | None) -> Call:
    stored_group_run(world)
    return Call("GET", "/api/v1/groups/31/runs")


async def _group_run(world: World, _role: Role | None) -> Call:
    stored_group_run(world)
    return Call("GET", "/api/v1/groups/31/runs/4")


async def _run_group(world: World, _role: Role | None) -> Call:
    world.bus.answer = lambda c: accepted(c, target_id="31", run_id=5, target_type="group")
    return Call("POST", "/api/v1/groups/31/run")


async def _create_job(world: World, _role: Role | None) -> Call:
    return Call("POST", "/api/v1/jobs", job_body(world.user_private_key))


async def _update_job(world: World, _role: Role | None) -> Call:
    stored_job(world)
    return Call("PUT", "/api/v1/jobs/7", update_body())


async def _own_password(_world: World, role: Role | None) -> Call:
    name = USERS[role or Role.VIEWER]
    return Call(
        "PUT", f"/api/v1/users/{name}/password", {"password": "violet-harbour-tram-42", "current_password": PASSWORD}
    )


async def _revoke_own(world: World, role: Role | None) -> Call:
    return Call("DELETE", f"/api/v1/tokens/{await _own_token_id(world, role)}")


def _hosted(world: World) -> HostedDeps:
    hosted: HostedDeps = world.app.state.hosted
    return hosted


async def _file(world: World, _role: Role | None, method: str = "GET") -> Call:
    (_hosted(world).root / "upload" / "a.csv").write_bytes(b"id\n1\n")
    return Call(method, "/api/v1/files/upload/a.csv")


async def _delete_file(world: World, role: Role | None) -> Call:
    return await _file(world, role, "DELETE")


async def _register_key(_world: World, _role: Role | None) -> Call:
    return Call("POST", "/api/v1/ssh-keys", {"label": "laptop", "public_key": public_line()})


async def _delete_own_key(world: World, role: Role | None) -> Call:
    name = USERS[role or Role.VIEWER]
    actor = Principal(name, role or Role.VIEWER, "token", "matrix")
    record = await register_key(_hosted(world).keys, name, "matrix", public_line(), actor, uuid4(), NOW)
    return Call("DELETE", f"/api/v1/ssh-keys/{record.key_id}")


COMPAT = "/rest/api/v1.3"


def _compat_job(method: str, url: str, body: Any = None) -> Recipe:
    async def recipe(world: World, _role: Role | None) -> Call:
        stored_job(world)
        world.reads.runs.append(run(7, 2, "succeeded", 0))
        world.reads.logs[(7, 2)] = [LogLine(NOW, "INFO", "file found")]
        world.bus.answer = lambda c: accepted(c, target_id="7", version=4, run_id=3)
        return Call(method, url, body)

    return recipe


RECIPES: dict[tuple[str, str], Recipe] = {
    ("GET", "/healthz"): _fixed("GET", "/healthz"),
    ("GET", "/readyz"): _fixed("GET", "/readyz"),
    ("GET", "/metrics"): _fixed("GET", "/metrics"),
    ("GET", "/docs"): _fixed("GET", "/docs"),
    ("GET", "/openapi.json"): _fixed("GET", "/openapi.json"),
    ("POST", "/api/v1/auth/login"): _fixed("POST", "/api/v1/auth/login", {"username": "vera", "password": PASSWORD}),
    ("POST", "/api/v1/auth/logout"): _fixed("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/session"): _fixed("GET", "/api/v1/auth/session"),
    ("GET", "/api/v1/users"): _fixed("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"): _fixed(
        "POST", "/api/v1/users", {"username": "newbie", "password": "violet-harbour-tram-42", "role": "viewer"}
    ),
    ("GET", "/api/v1/users/{username}"): _fixed("GET", "/api/v1/users/vera"),
    ("PUT", "/api/v1/users/{username}/role"): _fixed("PUT", "/api/v1/users/vera/role", {"role": "operator"}),
    ("POST", "/api/v1/users/{username}/disable"): _fixed("POST", "/api/v1/users/vera/disable"),
    ("POST", "/api/v1/users/{username}/enable"): _fixed("POST", "/api/v1/users/vera/enable"),
    ("PUT", "/api/v1/users/{username}/password"): _own_password,
    ("GET", "/api/v1/tokens"): _fixed("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"): _fixed("POST", "/api/v1/tokens", {"name": "matrix"}),
    ("DELETE", "/api/v1/tokens/{token_id}"): _revoke_own,
    ("GET", "/api/v1/tables"): _fixed("GET", "/api/v1/tables"),
    ("GET", "/api/v1/tables/{name}"): _table,
    ("POST", "/api/v1/tables"): _fixed("POST", "/api/v1/tables", TABLE),
    ("POST", "/api/v1/tables/{name}/auto-mapping"): _auto_mapping,
    ("GET", "/api/v1/lists"): _with_list("GET", "/api/v1/lists"),
    ("GET", "/api/v1/lists/{name}"): _with_list("GET", "/api/v1/lists/Customers"),
    ("POST", "/api/v1/lists"): _fixed("POST", "/api/v1/lists", LIST),
    ("POST", "/api/v1/lists/{name}/columns"): _with_list(
        "POST", "/api/v1/lists/Customers/columns", {"name": "SCORE", "type": "integer"}
    ),
    ("GET", "/api/v1/lists/{name}/rows"): _with_list("GET", "/api/v1/lists/Customers/rows"),
    ("GET", "/api/v1/lists/{name}/count"): _with_list("GET", "/api/v1/lists/Customers/count"),
    ("POST", "/api/v1/lists/{name}/auto-mapping"): _list_auto_mapping,
    ("GET", "/api/v1/audiences"): _with_audience("GET", "/api/v1/audiences"),
    ("GET", "/api/v1/audiences/{name}"): _with_audience("GET", "/api/v1/audiences/gold"),
    ("GET", "/api/v1/audiences/{name}/rows"): _with_audience("GET", "/api/v1/audiences/gold/rows"),
    ("POST", "/api/v1/audiences/preview"): _with_audience("POST", "/api/v1/audiences/preview", AUDIENCE),
    ("POST", "/api/v1/audiences"): _with_audience("POST", "/api/v1/audiences", AUDIENCE),
    ("PUT", "/api/v1/audiences/{name}"): _with_audience(
        "PUT", "/api/v1/audiences/gold", {k: v for k, v in AUDIENCE.items() if k != "name"}
    ),
    ("DELETE", "/api/v1/audiences/{name}"): _with_audience("DELETE", "/api/v1/audiences/gold"),
    ("GET", "/api/v1/pets"): _with_list("GET", "/api/v1/pets?list=Customers"),
    ("GET", "/api/v1/pets/{name}"): _with_list("GET", "/api/v1/pets/Purchases"),
    ("POST", "/api/v1/pets"): _fixed("POST", "/api/v1/pets", PET),
    ("POST", "/api/v1/pets/{name}/columns"): _with_list(
        "POST", "/api/v1/pets/Purchases/columns", {"name": "TOTAL", "type": "integer"}
    ),
    ("GET", "/api/v1/pets/{name}/rows"): _with_list("GET", "/api/v1/pets/Purchases/rows"),
    ("GET", "/api/v1/pets/{name}/count"): _with_list("GET", "/api/v1/pets/Purchases/count"),
    ("GET", "/api/v1/jobs"): _fixed("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{job_id}"): _with_job("GET", "/api/v1/jobs/7"),
    ("POST", "/api/v1/jobs"): _create_job,
    ("PUT", "/api/v1/jobs/{job_id}"): _update_job,
    ("DELETE", "/api/v1/jobs/{job_id}"): _fixed("DELETE", "/api/v1/jobs/7"),
    ("POST", "/api/v1/jobs/{job_id}/activate"): _fixed("POST", "/api/v1/jobs/7/activate"),
    ("POST", "/api/v1/jobs/{job_id}/deactivate"): _fixed("POST", "/api/v1/jobs/7/deactivate"),
    ("POST", "/api/v1/jobs/{job_id}/run"): _run_now,
    ("POST", "/api/v1/jobs/{job_id}/dry-run"): _dry_run,
    ("POST", "/api/v1/jobs/{job_id}/runs/{run_id}/stop"): _stop,
    ("POST", "/api/v1/jobs/{job_id}/copy"): _copy,
    ("GET", "/api/v1/jobs/{job_id}/history"): _history,
    ("POST", "/api/v1/jobs:delete"): _fixed("POST", "/api/v1/jobs:delete", {"job_ids": [7, 8]}),
    ("GET", "/api/v1/runs"): _fixed("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{run}"): _run,
    ("GET", "/api/v1/runs/{run}/log"): _log,
    ("GET", "/api/v1/runs/{run}/rejects.csv"): _rejects,
    ("GET", "/api/v1/commands/{command_id}"): _command,
    ("GET", "/api/v1/groups"): _fixed("GET", "/api/v1/groups"),
    ("GET", "/api/v1/groups/{group_id}"): _group,
    ("POST", "/api/v1/groups"): _create_group,
    ("PUT", "/api/v1/groups/{group_id}"): _fixed("PUT", "/api/v1/groups/31", group_body(expected_version=1)),
    ("DELETE", "/api/v1/groups/{group_id}"): _fixed("DELETE", "/api/v1/groups/31"),
    ("POST", "/api/v1/groups/{group_id}/run"): _run_group,
    ("POST", "/api/v1/groups/{group_id}/runs/{run_id}/stop"): _fixed("POST", "/api/v1/groups/31/runs/4/stop"),
    ("GET", "/api/v1/groups/{group_id}/runs"): _group_runs,
    ("GET", "/api/v1/groups/{group_id}/runs/{run_id}"): _group_run,
    ("GET", "/api/v1/files"): _fixed("GET", "/api/v1/files?folder=upload"),
    ("GET", "/api/v1/files/{path}"): _file,
    ("PUT", "/api/v1/files/{path}"): _fixed("PUT", "/api/v1/files/upload/b.csv", "id\n1\n"),
    ("DELETE", "/api/v1/files/{path}"): _delete_file,
    ("POST", "/api/v1/folders"): _fixed("POST", "/api/v1/folders", {"path": "upload/crm"}),
    ("GET", "/api/v1/ssh-keys"): _fixed("GET", "/api/v1/ssh-keys"),
    ("POST", "/api/v1/ssh-keys"): _register_key,
    ("DELETE", "/api/v1/ssh-keys/{key_id}"): _delete_own_key,
    ("POST", f"{COMPAT}/auth/token"): _fixed_form(
        "POST", f"{COMPAT}/auth/token", {"user_name": "vera", "password": PASSWORD, "auth_type": "password"}
    ),
    ("GET", f"{COMPAT}/connectJobs"): _compat_job("GET", f"{COMPAT}/connectJobs"),
    ("PUT", f"{COMPAT}/connectJobs/trigger"): _compat_job("PUT", f"{COMPAT}/connectJobs/trigger", {"jobIds": [7]}),
    ("PUT", f"{COMPAT}/connectJobs/{{jobId}}/trigger"): _compat_job("PUT", f"{COMPAT}/connectJobs/7/trigger", {}),
    ("GET", f"{COMPAT}/connectJobs/{{jobId}}/jobRuns"): _compat_job(
        "GET", f"{COMPAT}/connectJobs/7/jobRuns?sdate=01-01-2000&edate=12-31-2099"
    ),
    ("GET", f"{COMPAT}/connectJobs/{{jobId}}/jobRuns/{{jobRunId}}/status"): _compat_job(
        "GET", f"{COMPAT}/connectJobs/7/jobRuns/2/status"
    ),
    ("GET", f"{COMPAT}/connectJobs/{{jobId}}/jobRuns/{{jobRunId}}/logs"): _compat_job(
        "GET", f"{COMPAT}/connectJobs/7/jobRuns/2/logs"
    ),
    ("GET", "/rest/api/ratelimit"): _fixed("GET", "/rest/api/ratelimit"),
}


def served_routes() -> list[tuple[str, str]]:
    """Every operation the app serves: the OpenAPI document's, and the docs routes."""
    app = create_app(lambda: None)  # type: ignore[arg-type, return-value]  # never started: the document only
    document = app.openapi()
    return sorted({(m.upper(), p) for p, ops in document["paths"].items() for m in ops} | set(DOCS_ROUTES))


def ruled(route: tuple[str, str]) -> Access:
    """The rule of a route as the OpenAPI document names it."""
    by_document = {(method, document_path(path)): rule for (method, path), rule in rules(DocsAccess.PUBLIC).items()}
    return by_document[route]


def test_every_served_route_has_a_rule_and_a_recipe() -> None:
    assert set(served_routes()) == {(method, document_path(path)) for method, path in rules(DocsAccess.PUBLIC)}
    assert set(served_routes()) == set(RECIPES)


def expected(route: tuple[str, str], role: Role | None) -> str:
    rule = ruled(route)
    if rule.roles is None:
        return "2xx"
    if role is None:
        return "401"
    if role in rule.roles:
        return "2xx"
    # The Responsys-compatible surface answers a missing role as the original does: 401 INSUFFICIENT_ACCESS.
    return "401" if route[1].startswith("/rest/api/") else "403"


@pytest.mark.parametrize("route", served_routes(), ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("role", PRINCIPALS, ids=lambda r: r.value if r else "anonymous")
async def test_matrix(world: World, user_private_key: str, route: tuple[str, str], role: Role | None) -> None:
    world.user_private_key = user_private_key
    call = await RECIPES[route](world, role)
    async with world.client_as(role) as client:
        answer = await client.request(call.method, call.url, json=call.json, data=call.form)
    outcome = "2xx" if 200 <= answer.status_code < 300 else str(answer.status_code)
    assert outcome == expected(route, role), answer.text
    if outcome in ("401", "403"):
        envelope = {"code", "message", "errors", "reason"}
        if route[1].startswith("/rest/api/"):
            envelope = {"type", "title", "errorCode", "detail", "errorDetails"}
            assert answer.json()["errorCode"] == ("INVALID_TOKEN" if role is None else "INSUFFICIENT_ACCESS")
        assert set(answer.json()) == envelope
        assert not world.bus.sent  # a refused caller sends no command


def test_a_route_without_a_rule_fails_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    from connect_gateway.entrypoints.http import app as app_module

    missing = dict(ROUTES)
    del missing[("POST", "/api/v1/jobs/{job_id}/run")]
    monkeypatch.setattr(app_module, "rules", lambda _docs: missing)
    with pytest.raises(app_module.RouteWithoutRuleError, match=re.escape("/api/v1/jobs/{job_id}/run")):
        create_app(lambda: None)  # type: ignore[arg-type, return-value]


async def test_a_lost_identity_database_is_503_in_our_words(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from connect_gateway.ports import IdentityUnavailableError

    async def down(*_args: object) -> None:
        raise IdentityUnavailableError("ConnectionRefusedError: connect call failed ('127.0.0.1', 5432)")

    monkeypatch.setattr(world.identity, "token_principal", down)
    answer = await world.client.get("/api/v1/jobs")
    assert answer.status_code == 503
    assert answer.json()["message"] == "the identity database cannot be reached; retry later"


@pytest.mark.parametrize("expiry", [1893456000, "1893456000", "tomorrow", True])
async def test_a_token_expiry_is_iso_text_only(world: World, expiry: object) -> None:
    answer = await world.client.post("/api/v1/tokens", json={"name": "n", "expires_at": expiry})
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["expires_at"]


async def test_a_token_expiry_in_iso_text_is_taken_within_its_limit(world: World) -> None:
    answer = await world.client.post("/api/v1/tokens", json={"name": "n", "expires_at": "2099-01-31T00:00:00Z"})
    assert answer.status_code == 422  # beyond 366 days: refused by the rule, naming the field
    assert answer.json()["errors"][0]["field"] == "expires_at"
    soon = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    assert (await world.client.post("/api/v1/tokens", json={"name": "n", "expires_at": soon})).status_code == 201
