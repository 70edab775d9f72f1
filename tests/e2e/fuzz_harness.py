"""How the gateway is fuzzed with schemathesis: configuration, the served document, and the hooks.

The run drives schemathesis' own engine (what `st run` drives): the examples, coverage, fuzzing and stateful
phases over every operation of the served OpenAPI document, with every check that applies to this API.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx
import schemathesis
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

from tests.e2e.fuzz_seed import EXAMPLE_VERSION, NAME_FIELDS, REQUEST_TIMEOUT_S, Caller, SeedData

SEED = 20_240_917
# Per operation, in the fuzzing phase (positive and negative together); the examples and coverage phases
# add their own deterministic cases on top.
MAX_EXAMPLES = 15  # the whole run takes under 3 min on two cores; the suite must stay well under 20
# Per job operation (`POST /api/v1/jobs`, `PUT /api/v1/jobs/{job_id}`), in the fuzzing phase: their coverage phase
# is off (see `_operation_overrides`).
JOB_EXAMPLES = 50
# Requests in one stateful scenario (create a table, a job on it, run it, read the run, ...).
STATEFUL_MAX_STEPS = 8
# Scenarios Hypothesis may try; it stops sooner once it finds nothing new (about a hundred here).
STATEFUL_MAX_SCENARIOS = 80
# How long an accepted write may take to show in the read models (the catalog projects its events).
SETTLE_TIMEOUT_S = 10.0
SETTLE_POLL_S = 0.05
# Share of generated values taken from the seed data where a binding names it (the rest stay generated).
SEED_VALUE_PROBABILITY = 0.5
LOGIN_PATH = "/api/v1/auth/login"
# What would lock the run out if aimed at its own credential: revoking its token, demoting or disabling it.
REVOKE_PATH = "/api/v1/tokens/{token_id}"
DEMOTE_PATHS = {"/api/v1/users/{username}/role", "/api/v1/users/{username}/disable"}

# Refusals the schema cannot express: a job on a table that does not exist, a user or token that does not
# (404); a duplicate table, job or user name, a stale `expected_version`, a job that is not in a state to
# run, the last enabled admin disabled or demoted, a token for a disabled user or one too many (409); a
# mapping to a column the table lacks, a key column that is not a column, a source host that cannot be
# reached to pin its key, a password the password rule refuses, your own password changed without the
# current one (422). 5xx is left to `not_a_server_error`, so that a server error is reported once, not twice.
POSITIVE_ACCEPTED_STATUSES = ["2xx", "404", "409", "422", "5xx"]
# A login with a well-formed name and password the run cannot know: wrong (401), and after 20 failures from
# one address within 15 minutes, throttled (429). The fuzz gateway keeps its own identity database, so this
# lock-out reaches no other test (and the run itself calls with an API token, which logins do not affect).
LOGIN_ACCEPTED_STATUSES = [*POSITIVE_ACCEPTED_STATUSES, "401", "429"]
# Changing your own password checks the current one under the same throttle: wrong (422), then throttled (429).
PASSWORD_PATH = "/api/v1/users/{username}/password"
PASSWORD_ACCEPTED_STATUSES = [*POSITIVE_ACCEPTED_STATUSES, "429"]
# The Responsys-compatible surface answers as the original: a job that may not run, a date that is no date of
# the calendar (400), a login that fails or is throttled (401).
COMPAT_ACCEPTED_STATUSES = [*POSITIVE_ACCEPTED_STATUSES, "400", "401"]

CHECKS: dict[str, dict[str, Any]] = {
    "not_a_server_error": {},
    "status_code_conformance": {},
    "content_type_conformance": {},
    "response_headers_conformance": {},
    "response_schema_conformance": {},
    "negative_data_rejection": {},
    "positive_data_acceptance": {"expected-statuses": POSITIVE_ACCEPTED_STATUSES},
    "missing_required_header": {},
    "unsupported_method": {},
    "allow_header_conformance": {},
    "use_after_free": {},
    "ensure_resource_availability": {},
    "ignored_auth": {},
    # Jobs, tables and runs are shared by every user of the workspace (access is by role, not by owner), so
    # one identity reading what another created is the intended behaviour; tokens are per user, but a
    # token's id never appears in another user's answers.
    "object_level_authorization": {"enabled": False},
}


def config(caller: Caller, seed: SeedData, positive_only: Sequence[str] = ()) -> schemathesis.Config:
    """Fixed seed, derandomized generation, bounded examples, every applicable check, all four phases."""
    return schemathesis.Config.from_dict(
        {
            "base-url": caller.base_url,
            # Every request as the caller (an admin); `ignored_auth` sends each operation once without it too.
            "headers": caller.headers,
            # `deterministic` derandomizes the examples, coverage and fuzzing phases; the stateful phase draws
            # its scenarios from this seed (an explicit seed takes precedence there).
            "seed": SEED,
            # One request at a time: the machine is small, and the stateful checks read what was written.
            "workers": 1,
            "continue-on-failure": True,
            "request-timeout": REQUEST_TIMEOUT_S,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                # Shrinking replays a failure many times against a stack whose state has moved on; the
                # first failing request is reproducible enough, and the run stays bounded.
                "no-shrink": True,
                "database": "none",
            },
            "checks": CHECKS,
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {
                    "enabled": True,
                    "max-steps": STATEFUL_MAX_STEPS,
                    "generation": {"max-examples": STATEFUL_MAX_SCENARIOS},
                },
            },
            "operations": _operation_overrides(positive_only),
            **_seed_bindings(seed),
        }
    )


def _operation_overrides(positive_only: Sequence[str]) -> list[dict[str, Any]]:
    """Deletes (one or several) aim at a job of their own; logins and password checks may be refused or
    throttled; operations that take any string get no negative fuzzing."""
    deletes = {
        "include-method": "DELETE",
        "include-path": "/api/v1/jobs/{job_id}",
        "parameters": {"path.job_id": _from_seed("doomed_job")},
    }
    multi_delete = {
        "include-method": "POST",
        "include-path": "/api/v1/jobs:delete",
        "parameters": {"body.job_ids[*]": _from_seed("doomed_job")},
    }
    login = {
        "include-method": "POST",
        "include-path": LOGIN_PATH,
        "checks": {"positive_data_acceptance": {"expected-statuses": LOGIN_ACCEPTED_STATUSES}},
    }
    password = {
        "include-method": "PUT",
        "include-path": PASSWORD_PATH,
        "checks": {"positive_data_acceptance": {"expected-statuses": PASSWORD_ACCEPTED_STATUSES}},
    }
    # A job's body is one of five shapes (three imports, two exports) with dozens of fields each. The coverage
    # phase's cases for every field of every shape sent over a thousand requests to these two operations alone, and
    # each job it made waited for the read model: minutes of the suite, repeating what the gateway's unit tests
    # check field by field. These two get more fuzzed examples instead (valid and invalid bodies of every shape).
    jobs = {
        "include-name": ["POST /api/v1/jobs", "PUT /api/v1/jobs/{job_id}"],
        "phases": {"coverage": {"enabled": False}, "fuzzing": {"generation": {"max-examples": JOB_EXAMPLES}}},
    }
    compat = {
        "include-path-regex": "^/rest/api/",
        "checks": {"positive_data_acceptance": {"expected-statuses": COMPAT_ACCEPTED_STATUSES}},
    }
    # First: where several overrides apply to one operation, the first one's checks hold.
    if not positive_only:
        return [compat, deletes, multi_delete, login, password, jobs]
    positive = {
        "include-operation-id": list(positive_only),
        "phases": {"fuzzing": {"generation": {"mode": "positive"}}},
    }
    return [compat, deletes, multi_delete, login, password, jobs, positive]


def _seed_bindings(seed: SeedData) -> dict[str, Any]:
    """Take identifiers and source values from the seed data part of the time, so requests get past 404."""
    dictionaries = {
        "job": [seed.job_id],
        "doomed_job": [seed.doomed_job_id],
        "command": list(seed.command_ids),
        "table": [seed.table],
        "column": list(seed.columns),
        "host": [seed.sftp.host],
        "port": [seed.sftp.port],
        "user": [seed.sftp.user],
        "username": [seed.stand_in_admin],
        "token": [seed.stand_in_token_id],
    }
    bindings = {
        "path.job_id": "job",
        "query.job_id": "job",
        "path.command_id": "command",
        "body.target.table": "table",
        "body.mapping[*].target": "column",
        "body.columns[*].name": "column",
        "body.primary_key[*]": "column",
        "body.source.host": "host",
        "body.source.port": "port",
        "body.source.user": "user",
        "path.username": "username",
        "path.token_id": "token",
    }
    return {
        "dictionaries": {name: {"values": values} for name, values in dictionaries.items()},
        "parameters": {key: _from_seed(name) for key, name in bindings.items()},
    }


def _from_seed(dictionary: str) -> dict[str, Any]:
    return {"dictionary": dictionary, "probability": SEED_VALUE_PROBABILITY}


@contextlib.contextmanager
def fuzz_schema(caller: Caller, seed: SeedData) -> Iterator[Any]:
    """The served OpenAPI document plus valid request examples, with the hooks below installed.

    The examples only add starting points (the served schemas are tested as they are): without a valid
    body to vary, nearly every generated write fails on a rule the schema cannot state and never reaches
    the code behind it.
    """
    base_url, headers = caller.base_url, caller.headers
    document = httpx.get(f"{base_url}/openapi.json", headers=headers, timeout=REQUEST_TIMEOUT_S)
    document = document.raise_for_status().json()
    for (method, path), body in seed.examples.items():
        operation = document["paths"].get(path, {}).get(method)
        if operation is not None:
            operation["requestBody"]["content"]["application/json"]["examples"] = {"seed": {"value": body}}
    schema = schemathesis.openapi.from_dict(document, config=config(caller, seed, _without_invalid_input(document)))
    names = itertools.count(1)
    settle = ReadModelWait(base_url, headers)

    @schema.hook
    def map_case(context: Any, case: Any) -> Any:
        # Variants of an example keep its name; a fresh one lets each reach more than the duplicate check.
        for field in NAME_FIELDS:
            name = case.body.get(field) if isinstance(case.body, dict) else None
            if isinstance(name, str) and name in seed.example_names:
                case.body = {**case.body, field: f"{name}_{next(names)}"}
        return case

    @schema.hook
    def after_call(context: Any, case: Any, response: Any) -> None:
        settle(case.method, response)

    def before_call(context: Any, case: Any, kwargs: Any) -> None:
        spare_the_caller(case, caller, seed)
        # An edit names the version it is based on; like a client, read it just before sending the edit.
        body = case.body if isinstance(case.body, dict) else {}
        job_id = (case.path_parameters or {}).get("job_id")
        if str(body.get("name")).startswith(seed.edit_example_name) and body.get("expected_version") == EXAMPLE_VERSION:
            answer = httpx.get(f"{base_url}/api/v1/jobs/{job_id}", headers=headers, timeout=REQUEST_TIMEOUT_S)
            if answer.status_code == 200:
                case.body = body | {"expected_version": answer.json()["version"]}

    # `before_call` can only be registered for every schema; it is removed again when the run is over.
    schemathesis.hook(before_call)
    try:
        yield schema
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(before_call)


def spare_the_caller(case: Any, caller: Caller, seed: SeedData) -> None:
    """Aim a request that would revoke the caller's token, or demote or disable its admin, at a stand-in.

    The stateful links feed every token id `GET /api/v1/tokens` lists to the revocation, and every user name
    `GET /api/v1/users` lists to the role change and disabling; the admin is not the last one once the run
    has created others. Either would leave the rest of the run refused (401, 403). The stand-ins (a second
    token of the caller's, a second admin) take those requests, so the operations are still exercised.
    """
    parameters = case.path_parameters or {}
    if case.operation.path == REVOKE_PATH and parameters.get("token_id") == seed.caller_token_id:
        case.path_parameters = parameters | {"token_id": seed.stand_in_token_id}
    elif case.operation.path in DEMOTE_PATHS and parameters.get("username") == caller.username:
        case.path_parameters = parameters | {"username": seed.stand_in_admin}


def _without_invalid_input(document: dict[str, Any]) -> list[str]:
    """Operations whose every input is any string: no request to them can violate the schema.

    Schemathesis still searches for negative examples there and gives up only after tens of seconds each.
    """
    found = []
    for methods in document["paths"].values():
        for operation in methods.values():
            parameters = operation.get("parameters", [])
            if parameters and "requestBody" not in operation and all(map(_any_string, parameters)):
                found.append(operation["operationId"])
    return found


def _any_string(parameter: dict[str, Any]) -> bool:
    constraints = set(parameter.get("schema", {})) - {"type", "title", "description"}
    return parameter.get("schema", {}).get("type") == "string" and not constraints


class ReadModelWait:
    """After an accepted write, wait until the read models show it, as a client following the API would.

    A write answers once the scheduler decided it; the catalog projects the events a moment later. The
    stateful checks (`ensure_resource_availability`, `use_after_free`) read the resource right away, so
    without this wait they would report the documented eventual consistency as a defect.
    """

    def __init__(self, base_url: str, headers: Mapping[str, str]) -> None:
        self._base_url = base_url
        self._headers = dict(headers)

    def __call__(self, method: str, response: Any) -> None:
        if method.upper() in {"GET", "HEAD", "OPTIONS"} or not 200 <= response.status_code < 300:
            return
        try:
            body = response.json()
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        url, version = body.get("url"), body.get("version")
        if isinstance(url, str) and method.upper() == "DELETE":
            self._wait(url, lambda r: r.status_code == 404)
        elif isinstance(url, str):
            self._wait(url, lambda r: r.status_code == 200 and _at_least(r, version))
        elif isinstance(body.get("run"), str) and isinstance(body.get("status_url"), str):
            self._wait(body["status_url"], lambda r: r.status_code == 200)

    def _wait(self, url: str, done: Callable[[httpx.Response], bool]) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline and not done(self._get(url)):
            time.sleep(SETTLE_POLL_S)

    def _get(self, url: str) -> httpx.Response:
        return httpx.get(self._base_url + url, headers=self._headers, timeout=REQUEST_TIMEOUT_S)


def _at_least(answer: httpx.Response, version: Any) -> bool:
    if not isinstance(version, int):
        return True
    seen = answer.json().get("version")
    return isinstance(seen, int) and seen >= version
