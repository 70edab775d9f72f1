"""The API over real adapters: Kafka (with a fake scheduler), the vault in PostgreSQL, the real sshd."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from connect_devstack import demo
from connect_events import CreateJob, FieldError
from connect_gateway.adapters.catalog import PgReadStore
from connect_gateway.adapters.command_bus import KafkaCommandBus
from connect_gateway.adapters.ssh import SshHostKeyScanner
from connect_gateway.adapters.vault import VaultCredentials
from connect_gateway.domain.host_keys import pin
from connect_gateway.entrypoints.http.app import create_app
from connect_gateway.ports import Deps
from connect_runtime.vault import CredentialNotFoundError, Vault, generate_key
from tests.conftest import SftpServer
from tests.integration.gateway.gateway_it import FakeScheduler
from tests.unit.gateway.gateway_fakes import accepted, rejected
from tests.unit.gateway.identity_fake import FastHasher, InMemoryIdentityStore, seed_admin

pytestmark = pytest.mark.integration
VAULT_KEY = generate_key()


@pytest.fixture
async def client(bus: KafkaCommandBus, vault_pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    deps = Deps(
        commands=bus,
        reads=PgReadStore(vault_pool),  # only pinged here; the reads have their own integration test
        credentials=VaultCredentials(vault_pool, VAULT_KEY),
        host_keys=SshHostKeyScanner(timeout_s=5.0),
        identity=InMemoryIdentityStore(),  # PostgreSQL's identity store has its own contract test
        hasher=FastHasher(),
        reply_timeout_s=2.0,
    )
    headers = demo.bearer(await seed_admin(deps))
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=headers) as client:
        yield client


def job(sftp: SftpServer, port: int | None = None) -> dict[str, Any]:
    return {
        "name": "Import stores",
        "type": "import_custom_table",
        "source": {
            "host": sftp.host,
            "port": port or sftp.port,
            "user": sftp.user,
            "path": str(sftp.data_dir / "stores.csv"),
            "private_key": sftp.private_key,
        },
        "target": {"table": "Stores"},
        "mapping": [{"source": "id", "target": "ID"}],
    }


async def test_create_pins_the_real_host_key_and_vaults_the_key(
    client: httpx.AsyncClient, scheduler: FakeScheduler, sftp_server: SftpServer, vault_pool: asyncpg.Pool
) -> None:
    scheduler.decide = lambda c: accepted(c, target_id="501")
    response = await client.post("/api/v1/jobs", json=job(sftp_server))
    assert response.status_code == 201, response.text
    assert response.json()["job_id"] == 501
    command = scheduler.received[-1]
    assert isinstance(command, CreateJob)
    source = command.payload.definition.settings.source
    assert source.host_key_fingerprint == pin(sftp_server.host_key).fingerprint
    assert sftp_server.private_key not in command.model_dump_json()
    credential = await Vault(vault_pool, VAULT_KEY).read(source.credential_ref)
    assert (credential.kind, credential.secret) == ("private_key", sftp_server.private_key)


async def test_a_rejected_create_leaves_no_credential(
    client: httpx.AsyncClient, scheduler: FakeScheduler, sftp_server: SftpServer, vault_pool: asyncpg.Pool
) -> None:
    errors = (FieldError(field="settings.mapping[0].target", message="no column ID"),)
    scheduler.decide = lambda c: rejected(c, "validation", "1 error", errors)
    response = await client.post("/api/v1/jobs", json=job(sftp_server))
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "mapping[0].target", "message": "no column ID"}]
    command = scheduler.received[-1]
    assert isinstance(command, CreateJob)
    with pytest.raises(CredentialNotFoundError):
        await Vault(vault_pool, VAULT_KEY).read(command.payload.definition.settings.source.credential_ref)


async def test_no_reply_is_pending(client: httpx.AsyncClient, scheduler: FakeScheduler) -> None:
    scheduler.decide = lambda c: None
    response = await client.post("/api/v1/jobs/12/run", headers={"Idempotency-Key": "k1"})
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    command_id = scheduler.received[-1].command_id
    assert response.json()["command_id"] == str(command_id)
    assert response.json()["status_url"] == f"/api/v1/commands/{command_id}"


async def test_run_now_round_trip(client: httpx.AsyncClient, scheduler: FakeScheduler) -> None:
    scheduler.decide = lambda c: accepted(c, target_id="12", version=5, run_id=3)
    response = await client.post("/api/v1/jobs/12/run")
    assert response.status_code == 202
    assert response.json() == {"job_id": 12, "run_id": 3, "run": "12.3", "status_url": "/api/v1/runs/12.3"}


async def test_an_unreachable_sftp_host_sends_nothing(
    client: httpx.AsyncClient, scheduler: FakeScheduler, sftp_server: SftpServer
) -> None:
    before = len(scheduler.received)
    response = await client.post("/api/v1/jobs", json=job(sftp_server, port=1))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "source.host"
    assert error["message"].startswith(f"cannot reach {sftp_server.host}:1: ")
    assert len(scheduler.received) == before


async def test_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("host", ["a..b", ".", "a" * 64, "a\u0095", "a\u0000b"])
async def test_an_edit_of_an_unknown_job_with_a_bad_host_is_refused_up_front(
    client: httpx.AsyncClient, scheduler: FakeScheduler, sftp_server: SftpServer, host: str
) -> None:
    before = len(scheduler.received)
    body = job(sftp_server) | {"expected_version": 1}
    body["source"]["host"] = host
    response = await client.put("/api/v1/jobs/999999", json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["source.host"]
    assert len(scheduler.received) == before


async def test_a_valid_edit_of_an_unknown_job_is_not_found(
    client: httpx.AsyncClient, scheduler: FakeScheduler, sftp_server: SftpServer
) -> None:
    scheduler.decide = lambda c: rejected(c, "not_found", "job 999999 not found")
    body = job(sftp_server) | {"expected_version": 1}
    body["source"]["host_key"] = sftp_server.host_key  # with a new secret and key, nothing is read from the catalog
    response = await client.put("/api/v1/jobs/999999", json=body)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
