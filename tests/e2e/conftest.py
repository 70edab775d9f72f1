"""The whole stack for end-to-end tests: the infrastructure plus the four services as real processes."""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from connect_devstack import _proc
from connect_devstack.services import Services, service_env
from tests.conftest import SftpServer, sftp_server_of
from tests.infra import infra_environment


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
    env = service_env(e2e_infra, gateway_port=_proc.free_port(), vault_key=vault_key)
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


@pytest.fixture
async def api(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the gateway."""
    async with httpx.AsyncClient(base_url=services.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture
def sftp(sftp_server: SftpServer) -> SftpServer:
    """The SFTP peer the import jobs read from."""
    return sftp_server
