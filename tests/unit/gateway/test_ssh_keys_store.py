"""The SSH key store contract, checked here on the in-memory fake (and on PostgreSQL by the integration tests,
which import `CHECKS` and `InMemorySshKeys` from this module)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncssh
import pytest

from connect_events import Role
from connect_gateway import identity
from connect_gateway.domain.identity.users import Disable
from connect_gateway.files.keys import read_public_key
from connect_gateway.files.ports import (
    SshKeyLimitError,
    SshKeyOwnerError,
    SshKeyRecord,
    SshKeyStore,
    SshKeyTakenError,
)
from connect_gateway.ports import IdentityDeps, IdentityStore, PasswordHasher
from tests.unit.gateway.identity_fake import FastHasher, InMemoryIdentityStore

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PASSWORD = "a long enough test password"


class InMemorySshKeys:
    """`SshKeyStore` in a dictionary, over the users of an `IdentityStore`."""

    def __init__(self, users: IdentityStore) -> None:
        self._users = users
        self.keys: dict[UUID, SshKeyRecord] = {}  # live keys only
        self.deleted: dict[UUID, tuple[SshKeyRecord, str, datetime]] = {}

    async def add(self, key: SshKeyRecord, limit: int) -> None:
        user = await self._users.get_user(key.username)
        if user is None or not user.enabled:
            raise SshKeyOwnerError(key.username)
        if sum(k.username == key.username for k in self.keys.values()) >= limit:
            raise SshKeyLimitError(key.username)
        if any(k.fingerprint == key.fingerprint for k in self.keys.values()):
            raise SshKeyTakenError(key.fingerprint)
        self.keys[key.key_id] = key

    async def list_keys(self, username: str | None) -> list[SshKeyRecord]:
        found = [k for k in self.keys.values() if username in (None, k.username)]
        return sorted(found, key=lambda k: (-k.created_at.timestamp(), k.key_id))

    async def get(self, key_id: UUID) -> SshKeyRecord | None:
        return self.keys.get(key_id)

    async def delete(self, key_id: UUID, actor: str, now: datetime) -> bool:
        key = self.keys.pop(key_id, None)
        if key is not None:
            self.deleted[key_id] = (key, actor, now)
        return key is not None

    async def login(self, username: str, fingerprint: str) -> Role | None:
        user = await self._users.get_user(username)
        if user is None or not user.enabled or self._live(username, fingerprint) is None:
            return None
        return user.role

    async def record_use(self, username: str, fingerprint: str, now: datetime) -> None:
        key = self._live(username, fingerprint)
        if key is not None:
            self.keys[key.key_id] = replace(key, last_used_at=now)

    def _live(self, username: str, fingerprint: str) -> SshKeyRecord | None:
        return next((k for k in self.keys.values() if (k.username, k.fingerprint) == (username, fingerprint)), None)


@dataclass(frozen=True)
class KeysWorld:
    """A key store and the identity its users live in."""

    keys: SshKeyStore
    identity: IdentityStore
    hasher: PasswordHasher


Check = Callable[[KeysWorld], Awaitable[None]]


def public_line(kind: str = "ssh-ed25519") -> str:
    """A fresh public key line."""
    return generate(kind).export_public_key("openssh").decode()


def generate(kind: str = "ssh-ed25519", bits: int = 2048) -> asyncssh.SSHKey:
    """A fresh private key (`bits` for RSA only)."""
    if kind == "ssh-rsa":
        return asyncssh.generate_private_key(kind, key_size=bits)
    return asyncssh.generate_private_key(kind)


def record(username: str, line: str, at: datetime = T0, label: str = "laptop") -> SshKeyRecord:
    key = read_public_key(line)
    return SshKeyRecord(
        key_id=uuid4(),
        username=username,
        label=label,
        algorithm=key.algorithm,
        bits=key.bits,
        fingerprint=key.fingerprint,
        public_key=key.openssh,
        created_at=at,
        created_by=username,
    )


async def user(world: IdentityDeps, name: str, role: Role = Role.OPERATOR) -> str:
    await identity.create_user(world, name, role, PASSWORD, "tests")
    return name


async def registered_keys_list_newest_first_per_user_or_all(world: KeysWorld) -> None:
    await user(world, "kim")
    await user(world, "lou")
    first, second = record("kim", public_line(), T0), record("kim", public_line("ssh-rsa"), T0 + timedelta(1))
    other = record("lou", public_line(), T0 + timedelta(2))
    for key in (first, second, other):
        await world.keys.add(key, 10)
    assert await world.keys.list_keys("kim") == [second, first]
    assert [k.key_id for k in await world.keys.list_keys(None)] == [other.key_id, second.key_id, first.key_id]
    assert await world.keys.get(second.key_id) == second
    assert await world.keys.get(uuid4()) is None


async def a_key_is_registered_once_across_users_until_it_is_removed(world: KeysWorld) -> None:
    await user(world, "kim")
    await user(world, "lou")
    line = public_line()
    first = record("kim", line)
    await world.keys.add(first, 10)
    for owner in ("kim", "lou"):
        with pytest.raises(SshKeyTakenError):
            await world.keys.add(record(owner, line), 10)
    assert await world.keys.delete(first.key_id, "ada", T0)
    assert not await world.keys.delete(first.key_id, "ada", T0)
    assert await world.keys.get(first.key_id) is None
    again = record("lou", line)
    await world.keys.add(again, 10)
    assert await world.keys.list_keys(None) == [again]


async def only_an_enabled_user_below_the_limit_gets_a_key(world: KeysWorld) -> None:
    with pytest.raises(SshKeyOwnerError):
        await world.keys.add(record("nobody", public_line()), 10)
    await user(world, "kim")
    await world.keys.add(record("kim", public_line()), 1)
    with pytest.raises(SshKeyLimitError):
        await world.keys.add(record("kim", public_line()), 1)
    await identity.change_user(world, "kim", Disable(), "tests")
    with pytest.raises(SshKeyOwnerError):
        await world.keys.add(record("kim", public_line()), 10)
    assert len(await world.keys.list_keys("kim")) == 1


async def a_login_needs_the_users_own_live_key_and_an_enabled_user(world: KeysWorld) -> None:
    await user(world, "kim", Role.VIEWER)
    await user(world, "lou")
    key = record("kim", public_line())
    await world.keys.add(key, 10)
    assert await world.keys.login("kim", key.fingerprint) is Role.VIEWER
    assert (await world.keys.list_keys("kim"))[0].last_used_at is None  # an offer is not a use
    await world.keys.record_use("kim", key.fingerprint, T0 + timedelta(1))
    assert (await world.keys.list_keys("kim"))[0].last_used_at == T0 + timedelta(1)
    assert await world.keys.login("lou", key.fingerprint) is None  # another user's key
    assert await world.keys.login("nobody", key.fingerprint) is None
    await identity.change_user(world, "kim", Disable(), "tests")
    assert await world.keys.login("kim", key.fingerprint) is None
    lou_key = record("lou", public_line())
    await world.keys.add(lou_key, 10)
    await world.keys.delete(lou_key.key_id, "lou", T0)
    assert await world.keys.login("lou", lou_key.fingerprint) is None


CHECKS: list[Check] = [
    registered_keys_list_newest_first_per_user_or_all,
    a_key_is_registered_once_across_users_until_it_is_removed,
    only_an_enabled_user_below_the_limit_gets_a_key,
    a_login_needs_the_users_own_live_key_and_an_enabled_user,
]


def check_id(check: Check) -> str:
    return check.__name__


def memory_world() -> KeysWorld:
    users = InMemoryIdentityStore()
    return KeysWorld(InMemorySshKeys(users), users, FastHasher())


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
async def test_the_fake_keeps_the_key_store_contract(check: Check) -> None:
    await check(memory_world())
