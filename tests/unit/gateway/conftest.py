"""Fixtures: an HTTP client over the gateway app wired to in-memory fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncssh
import httpx
import pytest

from connect_gateway.entrypoints.http.app import create_app
from connect_gateway.ports import Deps
from tests.unit.gateway.gateway_fakes import FakeBus, FakeCredentials, FakeHostKeys, FakeReads, World


@pytest.fixture(scope="session")
def server_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture(scope="session")
def user_private_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode()


@pytest.fixture
async def world(server_key: asyncssh.SSHKey) -> AsyncIterator[World]:
    bus = FakeBus()
    credentials = FakeCredentials()
    host_keys = FakeHostKeys(key=server_key.export_public_key("openssh").decode().strip())
    reads = FakeReads()
    deps = Deps(commands=bus, reads=reads, credentials=credentials, host_keys=host_keys, reply_timeout_s=0.5)
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield World(bus, credentials, host_keys, reads, client)
