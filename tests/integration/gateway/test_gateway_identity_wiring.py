"""The gateway's identity wiring: its own database, the outbox relay to `connect.identity` for the life of
`connect()`, and `open_identity` for the command line, whose events wait for a gateway's relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import asyncpg
import pytest

from connect_events import IDENTITY_TOPIC, Role, UserCreated, decode
from connect_gateway import bootstrap, identity
from connect_gateway.adapters.passwords import Argon2PasswordHasher
from connect_gateway.config import GatewaySettings
from connect_runtime.settings import database_dsn
from connect_runtime.vault import generate_key
from tests.databases import drop_databases
from tests.kafka_records import read_topics
from tests.polling import until
from tests.unit.gateway.identity_contract import create

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(kafka_bootstrap: str, database_url: str) -> AsyncIterator[GatewaySettings]:
    """Settings on databases no other test uses (dropped afterwards), with argon2 at its cheapest."""
    suffix = uuid4().hex[:8]
    names = {"CATALOG_DATABASE": f"idcat_{suffix}", "VAULT_DATABASE": f"idvault_{suffix}"}
    names["IDENTITY_DATABASE"] = f"identity_{suffix}"
    yield GatewaySettings(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        DATABASE_URL=database_url,
        CONNECT_VAULT_KEY=generate_key(),
        GATEWAY_SESSION_IDLE_S=60,
        GATEWAY_ARGON2_TIME_COST=1,
        GATEWAY_ARGON2_MEMORY_KIB=8192,
        **names,
    )
    await drop_databases(database_url, *names.values())


async def test_the_command_line_queues_and_a_gateway_relays(settings: GatewaySettings, kafka_bootstrap: str) -> None:
    first, second = f"cli{uuid4().hex[:8]}", f"api{uuid4().hex[:8]}"
    async with bootstrap.open_identity(settings) as store:
        await create(store, first)
    dsn = database_dsn(settings.database_url, settings.identity_database)
    assert await _outbox_rows(dsn) == 1, "no relay without a gateway"

    async with bootstrap.connect(settings) as deps:
        assert isinstance(deps.hasher, Argon2PasswordHasher)
        assert deps.session_policy.idle == timedelta(seconds=60)
        await identity.create_user(deps, second, Role.VIEWER, "a long enough test password", "it")
        assert (await deps.identity.get_user(first) or pytest.fail()).role is Role.ADMIN

        async def relayed() -> bool:
            return await _outbox_rows(dsn) == 0

        await until(relayed)  # while the gateway runs, not only on its way out

    records = await read_topics(kafka_bootstrap, [IDENTITY_TOPIC])
    mine = [decode(IDENTITY_TOPIC, r.value) for r in records if r.key.decode() in (first, second)]
    # Two users, two keys: each in its partition, in no order between them.
    assert sorted((e.aggregate_id, type(e).__name__) for e in mine) == sorted(
        [(first, UserCreated.__name__), (second, UserCreated.__name__)]
    )


async def _outbox_rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM outbox")
        return count
    finally:
        await conn.close()
