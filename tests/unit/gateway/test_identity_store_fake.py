"""The in-memory identity store keeps the identity store contract (no I/O), and records what it publishes."""

from __future__ import annotations

import pytest

from connect_events import Role, UserCreated, UserCreatedPayload, UserRoleChanged
from connect_gateway.domain.identity.users import ChangeRole
from connect_gateway.ports import IdentitySecrets
from tests.unit.gateway.identity_contract import CHECKS, HASH, Check, check_id, create, event, run
from tests.unit.gateway.identity_fake import InMemoryIdentityStore


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
async def test_the_in_memory_store_keeps_the_contract(check: Check) -> None:
    await check(InMemoryIdentityStore())


async def test_committed_events_are_published_in_order() -> None:
    store = InMemoryIdentityStore()
    await create(store, "ada")
    await create(store, "bob", Role.VIEWER)
    await run(store, "bob", ChangeRole(Role.OPERATOR), actor="ada")
    assert [(type(e), e.aggregate_id, e.aggregate_version) for e in store.published] == [
        (UserCreated, "ada", 1),
        (UserCreated, "bob", 1),
        (UserRoleChanged, "bob", 2),
    ]


async def test_a_change_that_fails_publishes_nothing() -> None:
    store = InMemoryIdentityStore()
    created = event(UserCreated, "ada", 1, UserCreatedPayload(username="ada", role=Role.ADMIN))
    with pytest.raises(RuntimeError):
        async with store.change() as tx:
            await tx.commit([created], IdentitySecrets(password_hash=HASH))
            raise RuntimeError("before the end of the change")
    assert store.published == []
    assert await store.list_users() == []
