"""The identity rules without I/O: the user aggregate, passwords, throttling, sessions, tokens, the route table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_events import (
    Role,
    TokenIssued,
    TokenRevoked,
    UserCreated,
    UserDisabled,
    UserEnabled,
    UserPasswordChanged,
    UserRoleChanged,
    encode,
)
from connect_gateway.domain.identity import throttle
from connect_gateway.domain.identity.access import ADMIN, PUBLIC, ROUTES, DocsAccess, rules
from connect_gateway.domain.identity.passwords import password_problem
from connect_gateway.domain.identity.roles import at_least
from connect_gateway.domain.identity.sessions import SessionPolicy
from connect_gateway.domain.identity.tokens import digest, looks_like_token, token_secret
from connect_gateway.domain.identity.users import (
    MAX_ACTIVE_TOKENS,
    ChangePassword,
    ChangeRole,
    Context,
    CreateUser,
    Disable,
    Enable,
    IdentityRefusedError,
    IssueToken,
    RevokeToken,
    UserState,
    decide,
    evolve,
)

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def ctx(admins: int = 2) -> Context:
    return Context("ada", NOW, uuid4(), uuid4(), admins)


def given_user(*commands: object, name: str = "bob", role: Role = Role.OPERATOR) -> UserState:
    """The state after creating `name` and applying `commands` in order."""
    state = UserState(name)
    for command in (CreateUser(role), *commands):
        for event in decide(state, command, ctx()):  # type: ignore[arg-type]
            state = evolve(state, event)
    return state


class TestUserAggregate:
    def test_create_emits_user_created_with_version_one(self) -> None:
        [event] = decide(UserState("bob"), CreateUser(Role.VIEWER), ctx())
        assert isinstance(event, UserCreated)
        assert (event.aggregate_id, event.aggregate_version, event.actor) == ("bob", 1, "ada")
        assert event.payload.role is Role.VIEWER

    @pytest.mark.parametrize("name", ["Bob", "", "a b", "x" * 65, "-x", "system", "scheduler", "a:b"])
    def test_bad_or_reserved_names_are_refused_naming_the_field(self, name: str) -> None:
        with pytest.raises(IdentityRefusedError) as refused:
            decide(UserState(name), CreateUser(Role.VIEWER), ctx())
        assert (refused.value.code, refused.value.field) == ("validation_failed", "username")

    def test_create_twice_is_a_conflict(self) -> None:
        with pytest.raises(IdentityRefusedError) as refused:
            decide(given_user(), CreateUser(Role.VIEWER), ctx())
        assert refused.value.code == "conflict"

    @pytest.mark.parametrize(
        "command", [ChangeRole(Role.ADMIN), Disable(), Enable(), ChangePassword(), RevokeToken("t")]
    )
    def test_commands_on_an_unknown_user_are_not_found(self, command: object) -> None:
        with pytest.raises(IdentityRefusedError) as refused:
            decide(UserState("nobody"), command, ctx())  # type: ignore[arg-type]
        assert refused.value.code == "not_found"

    def test_role_change_says_before_and_after(self) -> None:
        [event] = decide(given_user(), ChangeRole(Role.ADMIN), ctx())
        assert isinstance(event, UserRoleChanged)
        assert (event.payload.previous_role, event.payload.role, event.aggregate_version) == (
            Role.OPERATOR,
            Role.ADMIN,
            2,
        )

    def test_a_change_that_is_already_true_emits_nothing(self) -> None:
        assert decide(given_user(), ChangeRole(Role.OPERATOR), ctx()) == []
        assert decide(given_user(Disable()), Disable(), ctx()) == []
        assert decide(given_user(), Enable(), ctx()) == []

    def test_disable_then_enable(self) -> None:
        disabled = given_user(Disable())
        assert not disabled.enabled
        [event] = decide(disabled, Enable(), ctx())
        assert isinstance(event, UserEnabled)
        assert isinstance(decide(given_user(), Disable(), ctx())[0], UserDisabled)

    @pytest.mark.parametrize("command", [ChangeRole(Role.VIEWER), Disable()])
    def test_the_last_enabled_admin_stays(self, command: object) -> None:
        admin = given_user(role=Role.ADMIN)
        with pytest.raises(IdentityRefusedError) as refused:
            decide(admin, command, ctx(admins=1))  # type: ignore[arg-type]
        assert refused.value.code == "conflict"
        assert decide(admin, command, ctx(admins=2))  # type: ignore[arg-type]

    def test_password_change_is_a_fact_without_the_password(self) -> None:
        [event] = decide(given_user(), ChangePassword(), ctx())
        assert isinstance(event, UserPasswordChanged)
        assert b"password_hash" not in encode(event)

    def test_tokens_issue_and_revoke(self) -> None:
        expiry = NOW + timedelta(days=30)
        state = given_user(IssueToken("t1", "nightly script", expiry))
        assert state.active_tokens == {"t1"}
        [event] = decide(state, RevokeToken("t1"), ctx())
        assert isinstance(event, TokenRevoked)
        revoked = evolve(state, event)
        assert decide(revoked, RevokeToken("t1"), ctx()) == []  # revoking twice is fine
        with pytest.raises(IdentityRefusedError):
            decide(revoked, RevokeToken("t2"), ctx())

    @pytest.mark.parametrize(
        ("name", "expiry", "field"),
        [
            ("", NOW + timedelta(days=1), "name"),
            ("a\nb", NOW + timedelta(days=1), "name"),
            ("ok", NOW, "expires_at"),
            ("ok", NOW + timedelta(days=367), "expires_at"),
        ],
    )
    def test_bad_tokens_are_refused_naming_the_field(self, name: str, expiry: datetime, field: str) -> None:
        with pytest.raises(IdentityRefusedError) as refused:
            decide(given_user(), IssueToken("t", name, expiry), ctx())
        assert refused.value.field == field

    def test_a_disabled_user_gets_no_token_and_tokens_are_capped(self) -> None:
        with pytest.raises(IdentityRefusedError):
            decide(given_user(Disable()), IssueToken("t", "x", NOW + timedelta(days=1)), ctx())
        full = given_user(*[IssueToken(f"t{i}", "x", NOW + timedelta(days=1)) for i in range(MAX_ACTIVE_TOKENS)])
        with pytest.raises(IdentityRefusedError) as refused:
            decide(full, IssueToken("one-more", "x", NOW + timedelta(days=1)), ctx())
        assert refused.value.code == "conflict"

    def test_issued_token_event_holds_no_secret(self) -> None:
        [event] = decide(given_user(), IssueToken("t1", "n", NOW + timedelta(days=1)), ctx())
        assert isinstance(event, TokenIssued)
        assert set(event.payload.model_dump()) == {"username", "token_id", "name", "expires_at"}


class TestPasswords:
    @pytest.mark.parametrize(
        "password",
        [
            "short",
            "Password123!",
            "qwertyuiop12",
            "123456789012",
            "aaaaaaaaaaaaaaaa",
            "abababababab",
            "xx-bob-secret-xx",
        ],
    )
    def test_weak_passwords_are_refused(self, password: str) -> None:
        assert password_problem(password, "bob") is not None

    def test_a_long_uncommon_password_passes(self) -> None:
        assert password_problem("violet-harbour-tram-42", "bob") is None


class TestThrottle:
    def test_account_locks_after_the_free_failures_and_grows(self) -> None:
        subject = throttle.account_subject("Bob")
        assert subject == "account:bob"
        state = None
        waits = []
        for _ in range(8):
            state = throttle.after_failure(subject, state, NOW)
            waits.append(throttle.wait_for(state, NOW).total_seconds())
        assert waits == [0, 0, 0, 0, 0, 2, 4, 8]

    def test_lock_is_capped_and_the_window_restarts(self) -> None:
        subject = throttle.account_subject("bob")
        state = throttle.Failures(60, NOW)
        state = throttle.after_failure(subject, state, NOW)
        assert throttle.wait_for(state, NOW) == throttle.ACCOUNT.longest
        later = NOW + throttle.ACCOUNT.window + timedelta(seconds=1)
        assert throttle.after_failure(subject, state, later).count == 1

    def test_addresses_get_more_free_failures(self) -> None:
        state = None
        for _ in range(20):
            state = throttle.after_failure(throttle.address_subject("10.0.0.1"), state, NOW)
        assert throttle.wait_for(state, NOW) == timedelta(0)

    @given(st.integers(min_value=0, max_value=10_000))
    def test_lock_never_exceeds_the_longest(self, failures: int) -> None:
        assert timedelta(0) <= throttle.ACCOUNT.lock_after(failures) <= throttle.ACCOUNT.longest


class TestSessionsAndTokens:
    def test_idle_and_absolute_expiry(self) -> None:
        policy = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
        assert policy.alive(NOW, NOW, NOW + timedelta(minutes=29))
        assert not policy.alive(NOW, NOW, NOW + timedelta(minutes=30))
        assert not policy.alive(NOW, NOW + timedelta(hours=11, minutes=59), NOW + timedelta(hours=12))
        assert policy.needs_touch(NOW, NOW + timedelta(seconds=60))
        assert not policy.needs_touch(NOW, NOW + timedelta(seconds=59))

    def test_token_shape_and_digest(self) -> None:
        secret = token_secret("A" * 43)
        assert looks_like_token(secret)
        assert not looks_like_token(secret + "x")
        assert digest(secret) != secret and len(digest(secret)) == 64


class TestAccessTable:
    def test_roles_include_the_ones_below(self) -> None:
        assert at_least(Role.OPERATOR) == {Role.OPERATOR, Role.DATA_DIRECTOR, Role.ADMIN}

    def test_only_health_metrics_and_login_are_open(self) -> None:
        open_routes = {key for key, rule in ROUTES.items() if rule.public}
        logins = {("POST", "/api/v1/auth/login"), ("POST", "/rest/api/v1.3/auth/token")}
        expected = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), *logins}
        assert open_routes == expected

    def test_docs_follow_the_setting(self) -> None:
        assert rules(DocsAccess.PUBLIC)[("GET", "/docs")] is PUBLIC
        assert rules(DocsAccess.AUTHENTICATED)[("GET", "/openapi.json")].roles == frozenset(Role)
        assert ("GET", "/docs") not in rules(DocsAccess.OFF)

    def test_user_management_is_for_admins(self) -> None:
        assert all(
            rule is ADMIN for (m, p), rule in ROUTES.items() if p.startswith("/api/v1/users") and "password" not in p
        )
