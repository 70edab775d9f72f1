"""`PgIdentityStore` and the in-memory fake keep the same identity store contract; PostgreSQL specifics after.

The PostgreSQL store runs on a database of its own, emptied before each test and dropped at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest

from connect_events import IDENTITY_TOPIC, Role, TokenIssued, UserCreated, decode
from connect_gateway.adapters.identity_sql import IDENTITY_DDL
from connect_gateway.adapters.identity_store import PgIdentityStore
from connect_gateway.ports import IdentityStore, IdentityUnavailableError
from connect_runtime.settings import database_dsn
from tests.databases import throwaway_pool
from tests.unit.gateway.identity_contract import CHECKS, HASH, Check, check_id, create, issue
from tests.unit.gateway.identity_fake import InMemoryIdentityStore

pytestmark = pytest.mark.integration
TABLES = "users, tokens, sessions, login_failures, outbox"


@pytest.fixture(scope="module")
async def identity_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with throwaway_pool(database_url, f"identity_{uuid4().hex[:8]}", IDENTITY_DDL) as pool:
        yield pool


@pytest.fixture
async def pg_store(identity_pool: asyncpg.Pool) -> PgIdentityStore:
    await identity_pool.execute(f"TRUNCATE {TABLES}")
    return PgIdentityStore(identity_pool)


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> IdentityStore:
    if request.param == "memory":
        return InMemoryIdentityStore()
    pg: PgIdentityStore = request.getfixturevalue("pg_store")
    return pg


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
async def test_the_identity_store_contract(store: IdentityStore, check: Check) -> None:
    await check(store)


async def test_a_commit_queues_its_events_without_secrets(
    pg_store: PgIdentityStore, identity_pool: asyncpg.Pool
) -> None:
    await create(pg_store, "bob", Role.OPERATOR)
    secret = await issue(pg_store, "bob")
    rows = await identity_pool.fetch("SELECT topic, key, value FROM outbox ORDER BY id")
    assert [(r["topic"], r["key"]) for r in rows] == [(IDENTITY_TOPIC, "bob")] * 2
    events = [decode(IDENTITY_TOPIC, bytes(r["value"])) for r in rows]
    assert [type(e) for e in events] == [UserCreated, TokenIssued]
    (digest_row,) = await identity_pool.fetch("SELECT digest FROM tokens")
    for row in rows:
        value = bytes(row["value"]).decode()
        assert HASH not in value and secret not in value and digest_row["digest"] not in value


async def test_a_lost_database_is_unavailable_not_a_database_message(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_dsn(database_url, "postgres"), min_size=1, max_size=1)
    await pool.close()
    store = PgIdentityStore(pool)
    with pytest.raises(IdentityUnavailableError):
        await store.ping()
    with pytest.raises(IdentityUnavailableError):
        async with store.change():
            pass
