"""Use cases of identity: users, passwords, API tokens, login, logout and who a request comes from.

The gateway owns identity (ADR 0008): a disabled user, a changed role or a revoked token must be refused on
the very next request, which a change travelling through Kafka and a projection could not promise. Every
change is still a command decided by pure rules (`domain.identity.users`) whose events reach
`connect.identity` through the identity database's outbox, like every other change of Connect.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from connect_events import Role, UserEvent
from connect_gateway.domain.compat import LOGIN_TOKEN_NAME, TOKEN_LIFE
from connect_gateway.domain.errors import Refusal, invalid
from connect_gateway.domain.identity import throttle
from connect_gateway.domain.identity.passwords import password_problem
from connect_gateway.domain.identity.sessions import SessionPolicy
from connect_gateway.domain.identity.tokens import digest, looks_like_session, looks_like_token, token_secret
from connect_gateway.domain.identity.users import (
    MAX_ACTIVE_TOKENS,
    ChangePassword,
    Context,
    CreateUser,
    IdentityRefusedError,
    IssueToken,
    RevokeToken,
    UserCommand,
    decide,
)
from connect_gateway.ports import (
    Deps,
    IdentityConflictError,
    IdentityDeps,
    IdentitySecrets,
    PasswordHasher,
    Principal,
    TokenRecord,
    UserRecord,
)

log = logging.getLogger(__name__)

WRONG_LOGIN = "the user name or the password is wrong"
DEFAULT_TOKEN_LIFE = timedelta(days=90)


@dataclass(frozen=True)
class Login:
    """A new session: its id for the cookie and its CSRF token (both shown once, stored as digests)."""

    principal: Principal
    session_id: str
    csrf_token: str


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued: the record and the secret, which is never shown again."""

    record: TokenRecord
    secret: str


def now() -> datetime:
    """The current time (one place, so a use case reads one clock)."""
    return datetime.now(UTC)


async def change_user(
    deps: IdentityDeps, username: str, command: UserCommand, actor: str, secrets_: IdentitySecrets | None = None
) -> list[UserEvent]:
    """Decide `command` against the user's latest state and store its events, in one transaction."""
    try:
        async with deps.identity.change() as tx:
            state = await tx.load(username)
            context = Context(actor, now(), uuid4(), uuid4(), await tx.enabled_admins())
            events = decide(state, command, context)
            if events:
                await tx.commit(events, secrets_ or IdentitySecrets())
    except IdentityRefusedError as exc:
        if exc.field is not None:
            raise invalid(exc.field, exc.message) from exc
        raise Refusal(exc.code, exc.message) from exc
    except IdentityConflictError as exc:
        raise Refusal("conflict", f"user {username} changed at the same time; retry") from exc
    for event in events:
        log.info("identity changed", extra={"type": getattr(event, "type", ""), "username": username, "actor": actor})
    return events


async def create_user(deps: IdentityDeps, username: str, role: Role, password: str, actor: str) -> None:
    """Create a user whose password passes the rule; the hash is stored, never the password."""
    _check_password(password, username)
    hashed = await asyncio.to_thread(deps.hasher.hash, password)
    await change_user(deps, username, CreateUser(role), actor, IdentitySecrets(password_hash=hashed))


async def change_password(
    deps: Deps, username: str, password: str, actor: Principal, current_password: str | None, address: str
) -> None:
    """Set a password: your own with the current one, anyone's as an admin. The user's sessions end."""
    _own_or_admin(actor, username, "set the password of")
    if actor.username == username:
        if current_password is None:
            raise invalid("current_password", "is required to change your own password")
        try:
            await check_password(deps, username, current_password, address)
        except Refusal as exc:
            if exc.code != "unauthenticated":
                raise  # throttled: 429 with Retry-After, like a login
            raise invalid("current_password", "is not your current password") from exc
    await set_password(deps, username, password, actor.username)


async def set_password(deps: IdentityDeps, username: str, password: str, actor: str) -> None:
    """Replace a user's password (it must pass the rule); the user's sessions end."""
    _check_password(password, username)
    hashed = await asyncio.to_thread(deps.hasher.hash, password)
    await change_user(deps, username, ChangePassword(), actor, IdentitySecrets(password_hash=hashed))


def _check_password(password: str, username: str) -> None:
    if problem := password_problem(password, username):
        raise invalid("password", problem)


async def issue_token(
    deps: Deps, username: str, name: str, expires_at: datetime | None, actor: Principal
) -> IssuedToken:
    """Issue an API token to `username` (yourself, or anyone as an admin); its secret is returned once."""
    _own_or_admin(actor, username, "issue tokens to")
    secret = token_secret(secrets.token_urlsafe(32))
    token_id = uuid4().hex
    expiry = expires_at or now() + DEFAULT_TOKEN_LIFE
    command = IssueToken(token_id=token_id, name=name, expires_at=expiry)
    await change_user(deps, username, command, actor.username, IdentitySecrets(token_digest=digest(secret)))
    record = await deps.identity.get_token(token_id)
    if record is None:
        raise Refusal("internal", "the token was issued but cannot be read back")
    return IssuedToken(record, secret)


async def compat_login(deps: Deps, username: str, password: str, address: str) -> IssuedToken:
    """The Responsys-compatible login: a password checked under the brute-force rules buys a 3-hour API token."""
    user = await check_password(deps, username.strip().lower(), password, address)
    log.info("login", extra={"username": user.username, "address": address, "via": "rest/api/v1.3"})
    return await _compat_token(deps, Principal(user.username, user.role, "token", ""))


async def compat_refresh(deps: Deps, principal: Principal) -> IssuedToken:
    """A new 3-hour token for the holder of a valid one (the old one stays valid until it expires, as there)."""
    return await _compat_token(deps, principal)


async def _compat_token(deps: Deps, principal: Principal) -> IssuedToken:
    await _make_room(deps, principal.username)
    return await issue_token(deps, principal.username, LOGIN_TOKEN_NAME, now() + TOKEN_LIFE, principal)


async def _make_room(deps: Deps, username: str) -> None:
    """Revoke the oldest login token when the user holds the most tokens allowed.

    A script that logs in on every run would otherwise fill the user's tokens within hours (each lasts three);
    a token the user issued by name for a script is never touched.
    """
    at = now()
    active = [t for t in await deps.identity.list_tokens(username) if t.revoked_at is None and t.expires_at > at]
    if len(active) < MAX_ACTIVE_TOKENS:
        return
    logins = sorted((t for t in active if t.name == LOGIN_TOKEN_NAME), key=lambda t: t.created_at)
    if logins:
        await change_user(deps, username, RevokeToken(logins[0].token_id), username)


async def revoke_token(deps: Deps, token_id: str, actor: Principal) -> TokenRecord:
    """Revoke a token of yours (or anyone's as an admin); refused from the next request on."""
    record = await deps.identity.get_token(token_id)
    # Someone else's token is "not found" to a non-admin: its existence is not theirs to learn.
    if record is None or (record.username != actor.username and actor.role is not Role.ADMIN):
        raise Refusal("not_found", f"token {token_id} not found")
    await change_user(deps, record.username, RevokeToken(token_id), actor.username)
    revoked = await deps.identity.get_token(token_id)
    return revoked or record


def _own_or_admin(actor: Principal, username: str, what: str) -> None:
    if actor.username != username and actor.role is not Role.ADMIN:
        raise Refusal("forbidden", f"only an admin may {what} another user")


async def login(deps: Deps, username: str, password: str, address: str) -> Login:
    """Check a password under the brute-force rules and start a session with a fresh id."""
    user = await check_password(deps, username.strip().lower(), password, address)
    session_id, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await deps.identity.start_session(user.username, digest(session_id), digest(csrf_token), now())
    log.info("login", extra={"username": user.username, "address": address})
    principal = Principal(user.username, user.role, "session", digest(session_id), digest(csrf_token))
    return Login(principal, session_id, csrf_token)


async def check_password(deps: IdentityDeps, username: str, password: str, address: str) -> UserRecord:
    """The enabled user whose password this is, under the brute-force rules (login and password change).

    The attempt is counted as a failure *before* the password is checked and taken back when it proves right:
    counted after, a burst of parallel guesses would all pass the lock check before the first failure is
    recorded. An attempt past the free ones is refused without a check.
    """
    account, address_ = throttle.account_subject(username), throttle.address_subject(address)
    _refuse_while_locked(await deps.identity.failures([account, address_]), now())
    _refuse_while_locked(await deps.identity.record_failure([account, address_], now()), now())
    user, right = await _verify(deps, username, password)
    if user is None or not right:
        # The name only when it is a user's: a password typed into the name field must not reach the log.
        log.info("wrong password", extra={"username": username if user is not None else "?"})
        raise Refusal("unauthenticated", WRONG_LOGIN)
    await deps.identity.login_succeeded(account, address_)
    return user


def _refuse_while_locked(failures: dict[str, throttle.Failures], at: datetime) -> None:
    wait = max((throttle.wait_for(f, at) for f in failures.values()), default=timedelta(0))
    if wait > timedelta(0):
        seconds = max(1, int(wait.total_seconds() + 0.999))
        raise Refusal(
            "too_many_requests",
            f"too many failed password checks; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


# Per hasher, a real hash of a random password: an unknown user costs the same time as a wrong password.
_DUMMY: dict[int, str] = {}


async def _verify(deps: IdentityDeps, username: str, password: str) -> tuple[UserRecord | None, bool]:
    """The user (if any), and whether `password` is its password and it is enabled.

    A right password whose hash was made with weaker settings is hashed again with the current ones.
    """
    found = await deps.identity.password_hash(username)
    hashed = found[1] if found is not None else await _dummy_hash(deps.hasher)
    ok, rehashed = await asyncio.to_thread(deps.hasher.verify, password, hashed)
    if found is None:
        return None, False
    user = found[0]
    if ok and user.enabled and rehashed is not None:
        await deps.identity.set_password_hash(username, hashed, rehashed)
    return user, ok and user.enabled


async def _dummy_hash(hasher: PasswordHasher) -> str:
    key = id(hasher)
    if key not in _DUMMY:
        # Hashing blocks for a fifth of a second: in a thread, like every other hash, not on the event loop.
        _DUMMY[key] = await asyncio.to_thread(hasher.hash, secrets.token_urlsafe(24))
    return _DUMMY[key]


async def logout(deps: Deps, principal: Principal) -> None:
    """End the session the request came with (a token is revoked instead, by its own endpoint)."""
    if principal.via == "session":
        await deps.identity.end_session(principal.credential_id)
        log.info("logout", extra={"username": principal.username})


async def authenticate(
    deps: Deps, session_id: str | None, bearer: str | None, policy: SessionPolicy
) -> Principal | None:
    """The principal of a bearer token, else of a session cookie; None when neither is valid."""
    if bearer is not None:
        return await deps.identity.token_principal(digest(bearer), now()) if looks_like_token(bearer) else None
    if session_id is not None and looks_like_session(session_id):
        return await deps.identity.session_principal(digest(session_id), now(), policy)
    return None
