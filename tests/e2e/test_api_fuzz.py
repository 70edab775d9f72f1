"""Property-based fuzzing of every operation in the OpenAPI document against the real stack (schemathesis).

Any 5xx, undocumented status, header or content type, response that does not match its schema, invalid request
accepted, valid request refused other than by a business rule (404/409/422; a login also 401/429), operation
that answers without valid credentials, or stateful inconsistency (a created resource not found, a deleted one
still there) fails the test. The run calls as an admin with an API token, so the users, tokens and login
operations are fuzzed too. The summary printed (run with `-s`) says what was covered;
`CONNECT_FUZZ_FINDINGS=<file>` also writes the failures there as markdown, each with a curl that repeats the
request.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from connect_devstack import _proc
from connect_devstack.services import Service, Services, gateway_url, wait_ready
from connect_gateway.domain.compat import DEFAULT_LIMITS
from tests.admins import new_admin
from tests.conftest import SftpServer
from tests.e2e import fuzz_harness, fuzz_report, fuzz_seed

# A write answers 202 `pending` when the scheduler has not decided within this time. The e2e gateway waits
# the default 10 s, which a fuzz run cannot afford for every command that goes unanswered; a reply on this
# stack takes tens of milliseconds, and a 202 is a documented answer all the same.
REPLY_TIMEOUT_S = 2.0
# Pinning a source's host key; generated hosts that resolve but do not answer must not stall the run.
HOST_KEY_TIMEOUT_S = 2.0
# The run takes about three minutes on two cores; this only stops a run that hangs.
FUZZ_TIMEOUT_S = 900
# The fuzz gateway's admin, whom the run calls as (with an API token). Its token and its admin role are kept
# from the run's own revocations, demotions and disabling (`fuzz_harness.spare_the_caller`).
FUZZ_ADMIN = "fuzz-admin"
COMPAT_CALLS = [limit.api for limit in DEFAULT_LIMITS]


@pytest.fixture(scope="module")
def fuzz_gateway(services: Services) -> Iterator[fuzz_seed.Caller]:
    """A second gateway on the e2e stack, with short waits and an identity database of its own; its admin.

    Gateways are stateless and each reads every reply partition itself, so two can serve side by side. The
    first keeps the defaults the other tests use, and its identity database: the run fuzzes the login, whose
    failures lock out the client address (127.0.0.1, every test's) for a while, and it creates users, changes
    roles and revokes tokens, none of which may reach the other tests' admin.
    """
    env = services.env | {
        "GATEWAY_PORT": str(_proc.free_port()),
        "GATEWAY_SFTP_PORT": str(_proc.free_port()),
        "GATEWAY_REPLY_TIMEOUT_S": str(REPLY_TIMEOUT_S),
        "GATEWAY_HOST_KEY_TIMEOUT_S": str(HOST_KEY_TIMEOUT_S),
        "IDENTITY_DATABASE": f"identity_fuzz_{uuid4().hex[:8]}",
        # The Responsys-compatible calls' per-token limits would answer most fuzzed requests 401 before they
        # reach a handler; the limiter has its own tests.
        "GATEWAY_COMPAT_RATE_LIMITS": json.dumps(dict.fromkeys(COMPAT_CALLS, 1_000_000)),
    }
    state = Path(tempfile.mkdtemp(prefix="connect-fuzz-"))
    gateway = Service("gateway", state, env)
    gateway.start()
    try:
        wait_ready(gateway_url(env))
        yield _caller(gateway_url(env), env, state)
    finally:
        gateway.stop()
        if not os.environ.get("CONNECT_KEEP_E2E_LOGS"):
            shutil.rmtree(state, ignore_errors=True)


def _caller(base_url: str, env: dict[str, str], state: Path) -> fuzz_seed.Caller:
    """The fuzz gateway's admin, made like `make up` makes one (the command line, a password file in the state
    dir), and an API token of it issued through the API: log in, `POST /api/v1/tokens`, log out."""
    _password, token = new_admin(env, base_url, state, FUZZ_ADMIN, "fuzz run")
    return fuzz_seed.Caller(base_url, FUZZ_ADMIN, token)


@pytest.mark.timeout(FUZZ_TIMEOUT_S)
async def test_every_operation_survives_property_based_fuzzing(
    fuzz_gateway: fuzz_seed.Caller, sftp: SftpServer, unique: str, database_url: str
) -> None:
    seed = await fuzz_seed.make_seed_data(fuzz_gateway, sftp, unique, database_url)
    # The engine is synchronous (it runs its own worker thread); the services are other processes.
    report = await asyncio.to_thread(_fuzz, fuzz_gateway, seed)
    print()
    print(report.summary(_settings()))
    await fuzz_seed.wait_for_runs_to_finish(fuzz_gateway)

    assert len(report.requests_by_operation) == report.operations, "an operation went untested"
    assert report.passed, f"the fuzz run found failures ({report.stop_reason}):\n\n{report.findings()}"


def _fuzz(caller: fuzz_seed.Caller, seed: fuzz_seed.SeedData) -> fuzz_report.FuzzReport:
    with fuzz_harness.fuzz_schema(caller, seed) as schema:
        report = fuzz_report.run(schema)
    if findings := os.environ.get("CONNECT_FUZZ_FINDINGS"):
        Path(findings).write_text(report.findings() or "No failures.\n")
    return report


def _settings() -> str:
    return (
        f"seed {fuzz_harness.SEED}, derandomized, up to {fuzz_harness.MAX_EXAMPLES} fuzzed examples per "
        f"operation plus examples and coverage cases, stateful scenarios of up to "
        f"{fuzz_harness.STATEFUL_MAX_STEPS} steps"
    )
