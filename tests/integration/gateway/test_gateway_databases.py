"""The gateway process reads the catalog, vault and identity databases the settings name, and refuses bad
values as they arrive through a real HTTP server (percent-decoded paths and queries, raw header bytes)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx
import pytest

from connect_devstack import demo
from connect_events import ColumnSpec, ColumnType, TableSpec
from connect_runtime.db import ensure_database
from connect_runtime.settings import database_dsn
from tests.databases import drop_databases
from tests.integration.gateway.gateway_it import admin_token, free_port, gateway_env, wait_ready

pytestmark = pytest.mark.integration

# Read, not imported: services never import each other, but the gateway must match the catalog's tables.
SCHEMA = Path(__file__).parents[3] / "services/catalog/src/connect_catalog/adapters/schema.sql"


@pytest.fixture(scope="module")
async def names(database_url: str) -> AsyncIterator[tuple[str, str, str]]:
    """(catalog, vault, identity) database names no other service uses; the catalog holds one table, `Blue`."""
    suffix = uuid4().hex[:8]
    catalog, vault, identity = f"gwcatalog_{suffix}", f"gwvault_{suffix}", f"gwidentity_{suffix}"
    pool = await asyncpg.create_pool(await ensure_database(database_url, catalog), min_size=1, max_size=1)
    try:
        await pool.execute(SCHEMA.read_text())
        spec = TableSpec(name="Blue", columns=(ColumnSpec(name="ID", type=ColumnType.INTEGER),), primary_key=("ID",))
        await pool.execute(
            "INSERT INTO tables VALUES ($1, $2::jsonb, $3, $4)",
            spec.name,
            spec.model_dump_json(),
            datetime.now(UTC),
            "it",
        )
    finally:
        await pool.close()
    yield catalog, vault, identity
    await drop_databases(database_url, catalog, vault, identity)


@pytest.fixture(scope="module")
def gateway(
    kafka_bootstrap: str, database_url: str, names: tuple[str, str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """The gateway's URL and the headers of an admin's API token."""
    port = free_port()
    env = gateway_env(
        kafka_bootstrap,
        database_url,
        port,
        CATALOG_DATABASE=names[0],
        VAULT_DATABASE=names[1],
        IDENTITY_DATABASE=names[2],
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "connect_gateway"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, demo.bearer(admin_token(env, url, tmp_path_factory.mktemp("gateway")))
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr.decode()


async def test_reads_the_databases_the_settings_name(
    gateway: tuple[str, dict[str, str]], names: tuple[str, str, str], database_url: str
) -> None:
    async with httpx.AsyncClient(base_url=gateway[0], headers=gateway[1]) as api:
        tables = (await api.get("/api/v1/tables")).json()
    assert [t["name"] for t in tables] == ["Blue"]
    identity = await asyncpg.connect(database_dsn(database_url, names[2]))
    try:
        assert await identity.fetchval("SELECT count(*) FROM users WHERE username = 'it-admin'") == 1
    finally:
        await identity.close()
    vault = await asyncpg.connect(database_dsn(database_url, names[1]))
    try:
        assert await vault.fetchval("SELECT count(*) FROM credentials") == 0  # created there, not in `vault`
    finally:
        await vault.close()


async def test_bad_values_through_the_real_server_are_named(gateway: tuple[str, dict[str, str]]) -> None:
    async with httpx.AsyncClient(base_url=gateway[0], headers=gateway[1]) as api:
        answers = {
            "q": await api.get("/api/v1/jobs?q=%00"),
            "name": await api.get("/api/v1/tables/a%00b"),
            "run": await api.get("/api/v1/runs/1.2%0A"),
            "idempotency-key": await api.post("/api/v1/jobs/5/run", headers={"Idempotency-Key": b"k\x85"}),
            "body": await api.post(
                "/api/v1/jobs", content=b'{"name": "\xff"}', headers={"Content-Type": "application/json"}
            ),
        }
        options = await api.options("/api/v1/jobs/24")
    for field, answer in answers.items():
        assert answer.status_code == 422, (field, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert (options.status_code, options.headers["allow"]) == (405, "DELETE, GET, PUT")
