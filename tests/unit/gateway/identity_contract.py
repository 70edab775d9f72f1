"""What every `IdentityStore` must do: the checks both the in-memory fake and `PgIdentityStore` pass.

Each check gets an empty store. Changes go through the real rules (`decide`) where a use case would; events
are built by hand only where a check needs what the rules never produce (a stale version, a duplicate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from connect_events import (
    Payload,
    Role,
    TokenIssued,
    TokenIssuedPayload,
    UserCreated,
    UserCreatedPayload,
    UserEnabled,
    UserEvent,
    UserRef,
    UserRoleChanged,
    UserRoleChangedPayload,
)
from connect_gateway.domain.identity import throttle
from connect_gateway.domain.identity.sessions import SessionPolicy
from connect_gateway.domain.identity.throttle import Failures
from connect_gateway.domain.identity.tokens import digest
from connect_gateway.domain.identity.users import (
    ChangePassword,
    ChangeRole,
    Context,
    CreateUser,
    Disable,
    Enable,
    IdentityRefusedError,
    IssueToken,
    RevokeToken,
    UserCommand,
    decide,
)
from connect_gateway.ports import IdentityConflictError, IdentitySecrets, IdentityStore, Principal

Check = Callable[[IdentityStore], Awaitable[None]]
HASH = "$argon2id$v=19$m=8192,t=1,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
OTHER_HASH = "$argon2id$v=19$m=8192,t=1,p=4$b3RoZXJzYWx0$b3RoZXJoYXNob3RoZXJoYXNo"


def now() -> datetime:
    """The wall clock, to the microsecond PostgreSQL keeps."""
    return datetime.now(UTC)


async def run(
    store: IdentityStore,
    username: str,
    command: UserCommand,
    secrets: IdentitySecrets | None = None,
    at: datetime | None = None,
    actor: str = "tester",
) -> list[UserEvent]:
    """What `identity.change_user` does: load, decide, commit, in one change."""
    async with store.change() as tx:
        state = await tx.load(username)
        context = Context(actor, at or now(), uuid4(), uuid4(), await tx.enabled_admins())
        events = decide(state, command, context)
        if events:
            await tx.commit(events, secrets or IdentitySecrets())
    return events


async def create(store: IdentityStore, username: str, role: Role = Role.ADMIN, at: datetime | None = None) -> None:
    """A user with password hash `HASH`."""
    await run(store, username, CreateUser(role), IdentitySecrets(password_hash=HASH), at=at)


async def issue(store: IdentityStore, username: str, name: str = "ci", life: timedelta = timedelta(days=1)) -> str:
    """A new token of `username`; returns its secret."""
    secret = f"cnt_{uuid4().hex}"
    command = IssueToken(token_id=uuid4().hex, name=name, expires_at=now() + life)
    await run(store, username, command, IdentitySecrets(token_digest=digest(secret)))
    return secret


def event(
    kind: type[UserEvent], username: str, version: int, payload: Payload, at: datetime | None = None
) -> UserEvent:
    """An event built by hand, for what the rules never produce."""
    return kind(
        event_id=uuid4(),
        aggregate_id=username,
        aggregate_version=version,
        occurred_at=at or now(),
        actor="tester",
        correlation_id=uuid4(),
        payload=payload,
    )


async def check_create_and_read(store: IdentityStore) -> None:
    at = now()
    await create(store, "bob", Role.OPERATOR, at=at)
    await create(store, "ada", Role.ADMIN, at=at)
    async with store.change() as tx:
        bob = await tx.load("bob")
        assert (bob.role, bob.enabled, bob.version, bob.exists) == (Role.OPERATOR, True, 1, True)
        assert (bob.active_tokens, bob.revoked_tokens) == (frozenset(), frozenset())
        assert (await tx.load("nobody")).version == 0
    record = await store.get_user("bob")
    assert record is not None
    assert (record.username, record.role, record.enabled, record.version) == ("bob", Role.OPERATOR, True, 1)
    assert (record.created_at, record.created_by, record.updated_at, record.updated_by) == (at, "tester", at, "tester")
    assert record.last_login_at is None
    assert [u.username for u in await store.list_users()] == ["ada", "bob"]
    assert await store.password_hash("bob") == (record, HASH)
    assert await store.get_user("nobody") is None
    assert await store.password_hash("nobody") is None
    await store.ping()


async def check_stale_commit_conflicts_and_stores_nothing(store: IdentityStore) -> None:
    await create(store, "bob")
    stale = event(UserRoleChanged, "bob", 3, UserRoleChangedPayload(role=Role.VIEWER, previous_role=Role.ADMIN))
    with pytest.raises(IdentityConflictError):
        async with store.change() as tx:
            await tx.load("bob")
            await tx.commit([stale], IdentitySecrets())
    # All of a commit or none: the first event fits, the second does not.
    good = event(UserRoleChanged, "bob", 2, UserRoleChangedPayload(role=Role.VIEWER, previous_role=Role.ADMIN))
    wrong = event(UserEnabled, "bob", 4, UserRef(username="bob"))
    with pytest.raises(IdentityConflictError):
        async with store.change() as tx:
            await tx.commit([good, wrong], IdentitySecrets())
    user = await store.get_user("bob")
    assert user is not None
    assert (user.version, user.role) == (1, Role.ADMIN)


async def check_create_twice_conflicts(store: IdentityStore) -> None:
    await create(store, "bob", Role.VIEWER)
    again = event(UserCreated, "bob", 1, UserCreatedPayload(username="bob", role=Role.ADMIN))
    with pytest.raises(IdentityConflictError):
        async with store.change() as tx:
            await tx.commit([again], IdentitySecrets(password_hash=OTHER_HASH))
    found = await store.password_hash("bob")
    assert found is not None
    assert (found[0].role, found[1]) == (Role.VIEWER, HASH)


async def check_a_change_that_fails_or_is_left_stores_nothing(store: IdentityStore) -> None:
    await create(store, "bob")
    async with store.change() as tx:
        state = await tx.load("bob")
        decide(state, Disable(), Context("tester", now(), uuid4(), uuid4(), 2))  # decided, never committed
    with pytest.raises(RuntimeError):
        async with store.change() as tx:
            state = await tx.load("bob")
            events = decide(state, Disable(), Context("tester", now(), uuid4(), uuid4(), 2))
            await tx.commit(events, IdentitySecrets())
            raise RuntimeError("after the commit, before the end of the change")
    user = await store.get_user("bob")
    assert user is not None
    assert (user.enabled, user.version) == (True, 1)


async def check_role_disable_and_password_end_sessions(store: IdentityStore) -> None:
    await create(store, "ada")
    await create(store, "bob", Role.OPERATOR)
    policy, at = SessionPolicy(), now()
    for change, secrets in [
        (ChangeRole(Role.VIEWER), None),
        (ChangePassword(), IdentitySecrets(password_hash=OTHER_HASH)),
        (Disable(), None),
    ]:
        await store.start_session("bob", "s-bob", "c-bob", at)
        await store.start_session("ada", "s-ada", "c-ada", at)
        await run(store, "bob", change, secrets, actor="ada")
        assert await store.session_principal("s-bob", at, policy) is None, change
        assert await store.session_principal("s-ada", at, policy) is not None, "only the user's own sessions end"
        await store.end_session("s-ada")
    user = await store.get_user("bob")
    assert user is not None
    assert (user.role, user.enabled, user.version, user.updated_by) == (Role.VIEWER, False, 4, "ada")
    found = await store.password_hash("bob")
    assert found is not None and found[1] == OTHER_HASH


async def check_enable_restores_tokens_not_sessions(store: IdentityStore) -> None:
    await create(store, "ada")
    await create(store, "bob", Role.OPERATOR)
    secret = await issue(store, "bob")
    await store.start_session("bob", "s-bob", "c-bob", now())
    await run(store, "bob", Disable())
    assert await store.token_principal(digest(secret), now()) is None, "a disabled user's token is refused"
    await run(store, "bob", Enable())
    assert (await store.get_user("bob") or pytest.fail()).enabled
    principal = await store.token_principal(digest(secret), now())
    assert principal is not None and principal.username == "bob"
    assert await store.session_principal("s-bob", now(), SessionPolicy()) is None
    assert await run(store, "bob", Enable()) == [], "enabling an enabled user changes nothing"


async def check_tokens(store: IdentityStore) -> None:
    await create(store, "bob", Role.DATA_DIRECTOR)
    first = await issue(store, "bob", "first")
    second = await issue(store, "bob", "second")
    async with store.change() as tx:
        state = await tx.load("bob")
    assert len(state.active_tokens) == 2 and state.version == 3
    tokens = await store.list_tokens("bob")
    assert [t.name for t in tokens] == ["second", "first"]
    assert [t.name for t in await store.list_tokens(None)] == ["second", "first"]
    assert await store.list_tokens("nobody") == []
    record = tokens[1]
    assert (record.username, record.created_by, record.last_used_at, record.revoked_at) == ("bob", "tester", None, None)
    assert await store.get_token(record.token_id) == record
    assert await store.get_token("nope") is None
    at = now()
    principal = await store.token_principal(digest(first), at)
    assert principal == Principal("bob", Role.DATA_DIRECTOR, "token", record.token_id)
    assert (await store.get_token(record.token_id) or pytest.fail()).last_used_at == at
    await store.token_principal(digest(first), at + timedelta(seconds=30))
    assert (await store.get_token(record.token_id) or pytest.fail()).last_used_at == at, "written once a minute"
    later = at + timedelta(seconds=61)
    await store.token_principal(digest(first), later)
    assert (await store.get_token(record.token_id) or pytest.fail()).last_used_at == later
    assert await store.token_principal(digest("cnt_unknown"), at) is None
    assert await store.token_principal(digest(second), record.expires_at + timedelta(days=1)) is None, "expired"
    assert await store.token_principal(digest(second), at) is not None


async def check_token_revocation(store: IdentityStore) -> None:
    await create(store, "bob")
    secret = await issue(store, "bob")
    (token,) = await store.list_tokens("bob")
    events = await run(store, "bob", RevokeToken(token.token_id))
    assert await store.token_principal(digest(secret), now()) is None
    revoked = await store.get_token(token.token_id)
    assert revoked is not None and revoked.revoked_at == events[0].occurred_at
    async with store.change() as tx:
        state = await tx.load("bob")
    assert (state.active_tokens, state.revoked_tokens) == (frozenset(), {token.token_id})
    assert await run(store, "bob", RevokeToken(token.token_id)) == [], "revoking twice changes nothing"


async def check_expired_tokens_count_as_revoked(store: IdentityStore) -> None:
    await create(store, "bob")
    expired = TokenIssuedPayload(username="bob", token_id="old", name="old", expires_at=now() - timedelta(seconds=1))
    async with store.change() as tx:
        await tx.load("bob")
        await tx.commit([event(TokenIssued, "bob", 2, expired)], IdentitySecrets(token_digest=digest("cnt_old")))
    async with store.change() as tx:
        state = await tx.load("bob")
    assert (state.active_tokens, state.revoked_tokens) == (frozenset(), {"old"})
    assert await run(store, "bob", RevokeToken("old")) == []
    assert await store.token_principal(digest("cnt_old"), now()) is None


async def check_sessions_idle_absolute_and_touch(store: IdentityStore) -> None:
    await create(store, "bob", Role.VIEWER)
    policy = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=1))
    t0 = now()
    await store.start_session("bob", "s1", "c1", t0)
    assert (await store.get_user("bob") or pytest.fail()).last_login_at == t0
    expected = Principal("bob", Role.VIEWER, "session", "s1", csrf_digest="c1")
    for minutes in (25, 50):  # each request within the idle time keeps it alive (and is recorded)
        assert await store.session_principal("s1", t0 + timedelta(minutes=minutes), policy) == expected
    assert await store.session_principal("s1", t0 + timedelta(minutes=61), policy) is None, "absolute expiry"
    assert await store.session_principal("s1", t0 + timedelta(minutes=51), policy) is None, "and it is gone"

    await store.start_session("bob", "s2", "c2", t0)
    assert await store.session_principal("s2", t0 + timedelta(seconds=30), policy) is not None  # too soon to write
    idle = t0 + timedelta(minutes=30, seconds=10)
    assert await store.session_principal("s2", idle, policy) is None, "idle since t0: the 30 s read was not written"
    assert await store.session_principal("s2", t0 + timedelta(minutes=1), policy) is None, "and it is gone"

    await store.start_session("bob", "s3", "c3", t0)
    await store.end_session("s3")
    await store.end_session("s3")
    assert await store.session_principal("s3", t0, policy) is None
    assert await store.session_principal("never", t0, policy) is None


async def check_login_failures(store: IdentityStore) -> None:
    account, address = throttle.account_subject("Bob"), throttle.address_subject("192.0.2.7")
    t0 = now()
    assert await store.failures([account, address]) == {}
    expected: dict[str, Failures] = {}
    for i in range(6):  # the account's sixth failure is its first that locks
        at = t0 + timedelta(seconds=i)
        expected = {s: throttle.after_failure(s, expected.get(s), at) for s in (account, address)}
        assert await store.record_failure([account, address], at) == expected
    assert expected[account].locked_until == t0 + timedelta(seconds=5 + 2)
    assert expected[address].locked_until is None
    assert await store.failures([account, address, "address:elsewhere"]) == expected
    await store.login_succeeded(account, address)
    taken_back = Failures(5, t0, None)  # the address's sixth attempt proved right: five failures remain
    assert await store.failures([account, address]) == {address: taken_back}
    fresh = t0 + throttle.ADDRESS.window + timedelta(seconds=1)  # a new window starts the count over
    assert await store.record_failure([address], fresh) == {address: Failures(1, fresh, None)}
    await store.login_succeeded("account:never", "address:never")
    assert await store.failures(["account:never", "address:never"]) == {}


async def check_enabled_admins(store: IdentityStore) -> None:
    await create(store, "ada")
    await create(store, "bea")
    await create(store, "vic", Role.VIEWER)

    async def admins() -> int:
        async with store.change() as tx:
            return await tx.enabled_admins()

    assert await admins() == 2
    await run(store, "bea", Disable())
    assert await admins() == 1
    with pytest.raises(IdentityRefusedError, match="last enabled admin"):
        await run(store, "ada", ChangeRole(Role.VIEWER))


async def check_concurrent_changes_of_one_user_queue(store: IdentityStore) -> None:
    await create(store, "bob", Role.VIEWER)
    first_loaded = asyncio.Event()

    async def slow_promotion() -> None:
        async with store.change() as tx:
            state = await tx.load("bob")
            first_loaded.set()
            await asyncio.sleep(0.2)  # the second change must wait for this one, not decide on version 1
            await tx.commit(
                decide(state, ChangeRole(Role.OPERATOR), Context("a", now(), uuid4(), uuid4())), IdentitySecrets()
            )

    async def second() -> int:
        await first_loaded.wait()
        async with store.change() as tx:
            return (await tx.load("bob")).version

    _, seen = await asyncio.gather(slow_promotion(), second())
    assert seen == 2


async def check_concurrent_demotions_keep_an_admin(store: IdentityStore) -> None:
    await create(store, "ada")
    await create(store, "bea")
    results = await asyncio.gather(
        run(store, "ada", ChangeRole(Role.VIEWER)), run(store, "bea", Disable()), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, IdentityRefusedError)]
    assert len(refused) == 1, results
    admins = [u for u in await store.list_users() if u.role is Role.ADMIN and u.enabled]
    assert len(admins) == 1


async def check_password_hash_compare_and_set(store: IdentityStore) -> None:
    await create(store, "bob")
    await store.set_password_hash("bob", "not the stored one", OTHER_HASH)
    assert (await store.password_hash("bob") or pytest.fail())[1] == HASH
    await store.set_password_hash("bob", HASH, OTHER_HASH)
    assert (await store.password_hash("bob") or pytest.fail())[1] == OTHER_HASH
    await store.set_password_hash("nobody", HASH, OTHER_HASH)


CHECKS: list[Check] = [
    check_create_and_read,
    check_stale_commit_conflicts_and_stores_nothing,
    check_create_twice_conflicts,
    check_a_change_that_fails_or_is_left_stores_nothing,
    check_role_disable_and_password_end_sessions,
    check_enable_restores_tokens_not_sessions,
    check_tokens,
    check_token_revocation,
    check_expired_tokens_count_as_revoked,
    check_sessions_idle_absolute_and_touch,
    check_login_failures,
    check_enabled_admins,
    check_concurrent_changes_of_one_user_queue,
    check_concurrent_demotions_keep_an_admin,
    check_password_hash_compare_and_set,
]


def check_id(check: Check) -> str:
    """The test id of a check: its name without the prefix."""
    return check.__name__.removeprefix("check_")
