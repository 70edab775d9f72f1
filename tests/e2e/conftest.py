"""The whole stack for end-to-end tests: the infrastructure plus the four services as real processes.

The session's admin is created like `make up` creates it (`python -m connect_gateway create-admin` with a
password file); `api` calls as that admin with an API token, and `role_client` makes users of other roles.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from connect_devstack import _proc, demo
from connect_devstack.services import Services, service_env
from tests.admins import new_admin
from tests.conftest import SftpServer, sftp_server_of
from tests.e2e.helpers import UserClient, user_client
from tests.infra import infra_environment

ADMIN = "admin"


@pytest.fixture(scope="session")
def e2e_infra() -> Iterator[dict[str, str]]:
    """A broker, database server and SFTP peer of the e2e tests' own.

    The integration tests publish hand-made events to the same topic names; a separate broker keeps the
    running services from consuming those (and the integration tests from seeing the services' events).
    The fixtures below override the session-wide ones of the same names for the e2e tests.
    """
    with infra_environment("connect-e2e-infra-") as env:
        yield env


@pytest.fixture(scope="session")
def kafka_bootstrap(e2e_infra: dict[str, str]) -> str:
    """The e2e broker."""
    return e2e_infra["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture(scope="session")
def database_url(e2e_infra: dict[str, str]) -> str:
    """The e2e database server."""
    return e2e_infra["DATABASE_URL"]


@pytest.fixture(scope="session")
def sftp_server(e2e_infra: dict[str, str]) -> SftpServer:
    """The e2e SFTP peer."""
    return sftp_server_of(e2e_infra)


@pytest.fixture(scope="session")
def services(e2e_infra: dict[str, str]) -> Iterator[Services]:
    """Scheduler, catalog, runner and gateway, started once for the e2e session and stopped after it."""
    state = Path(tempfile.mkdtemp(prefix="connect-e2e-"))
    vault_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = service_env(e2e_infra, gateway_port=_proc.free_port(), vault_key=vault_key, state_dir=state)
    # Fuzzed marketing-API jobs name servers that never answer: their runs give up in seconds, not a minute.
    env["RUNNER_API_BACKOFF_S"] = "0.05"
    apps = Services(state, env)
    try:
        apps.start()
        yield apps
    finally:
        apps.stop()
        if os.environ.get("CONNECT_KEEP_E2E_LOGS"):
            print(f"e2e service logs kept in {state}/services")
        else:
            shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def admin(services: Services) -> tuple[str, str]:
    """(password, API token) of the session's admin (`tests.admins.new_admin`)."""
    return new_admin(services.env, services.gateway_url, services.state_dir, ADMIN, "e2e admin")


@pytest.fixture(scope="session")
def admin_login(admin: tuple[str, str]) -> tuple[str, str]:
    """(user name, password) of the session's admin."""
    return ADMIN, admin[0]


@pytest.fixture(scope="session")
def admin_token(admin: tuple[str, str]) -> str:
    """An API token of the session's admin."""
    return admin[1]


@pytest.fixture
async def api(services: Services, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the gateway, calling as the admin (`Authorization: Bearer <admin_token>`)."""
    headers = demo.bearer(admin_token)
    async with httpx.AsyncClient(base_url=services.gateway_url, timeout=30, headers=headers) as client:
        yield client


@pytest.fixture
async def role_client(
    services: Services, api: httpx.AsyncClient
) -> AsyncIterator[Callable[[str], Awaitable[UserClient]]]:
    """`await role_client("operator")`: a new user of that role and a client calling with its API token."""
    async with AsyncExitStack() as stack:

        async def make(role: str) -> UserClient:
            return await stack.enter_async_context(user_client(services.gateway_url, api, role))

        yield make


@pytest.fixture
def sftp(sftp_server: SftpServer) -> SftpServer:
    """The SFTP peer the import jobs read from."""
    return sftp_server
