"""Fixtures: an HTTP client over the gateway app wired to in-memory fakes, with one user per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import httpx
import pytest
from fastapi import FastAPI

from connect_events import Role
from connect_gateway import identity
from connect_gateway.entrypoints.http.app import create_app
from connect_gateway.files.ports import HostedDeps
from connect_gateway.ports import Deps, Principal
from connect_runtime.hosted_files import ensure_account
from tests.unit.gateway.gateway_fakes import (
    PASSWORD,
    USERS,
    FakeBus,
    FakeCredentials,
    FakeHostKeys,
    FakeProfileRows,
    FakeReads,
    FakeRejects,
    World,
)
from tests.unit.gateway.identity_fake import FastHasher, InMemoryIdentityStore
from tests.unit.gateway.test_ssh_keys_store import InMemorySshKeys

UPLOAD_LIMIT = 1000  # bytes an upload may have in these tests


@pytest.fixture(scope="session")
def shared_app() -> FastAPI:
    """One app for every `world`: FastAPI builds its routes' state on an app's first request (~70 ms for ours),
    which thousands of tests would otherwise pay again. Each `world` puts its own fakes into `app.state`."""
    return create_app(lambda: None)  # type: ignore[arg-type, return-value]  # never started: state set per test


@pytest.fixture(scope="session")
def server_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture(scope="session")
def user_private_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode()


async def seed_users(deps: Deps) -> dict[Role, str]:
    """One user per role (`USERS`), each with an API token; returns the tokens."""
    tokens: dict[Role, str] = {}
    for role, name in USERS.items():
        await identity.create_user(deps, name, role, PASSWORD, "tests:fixture")
        issuer = Principal(name, role, "token", "fixture")
        tokens[role] = (await identity.issue_token(deps, name, "tests", None, issuer)).secret
    return tokens


@pytest.fixture
async def world(server_key: asyncssh.SSHKey, tmp_path: Path, shared_app: FastAPI) -> AsyncIterator[World]:
    bus = FakeBus()
    credentials = FakeCredentials()
    host_keys = FakeHostKeys(key=server_key.export_public_key("openssh").decode().strip())
    reads = FakeReads()
    rejects = FakeRejects()
    profiles = FakeProfileRows()
    store = InMemoryIdentityStore()
    ensure_account(tmp_path / "files")
    deps = Deps(
        hosted=HostedDeps(keys=InMemorySshKeys(store), root=tmp_path / "files", max_upload_bytes=UPLOAD_LIMIT),
        commands=bus,
        reads=reads,
        credentials=credentials,
        host_keys=host_keys,
        identity=store,
        hasher=FastHasher(),
        reply_timeout_s=0.5,
        rejects=rejects,
        profiles=profiles,
    )
    tokens = await seed_users(deps)
    app = shared_app
    app.state.deps = deps
    app.state.hosted = deps.hosted
    headers = {"Authorization": f"Bearer {tokens[Role.ADMIN]}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=headers) as client:
        yield World(bus, credentials, host_keys, reads, client, store, tokens, app, rejects, profiles)
