"""The one dependency every route passes: who is calling, and whether the route's rule lets them.

Credentials are an API token (`Authorization: Bearer cnt_…`) or the session cookie a login set; under
`/rest/api` (the Responsys-compatible surface) only a token, sent as that API sends it: `Authorization: cnt_…`.
A request authenticated by the cookie must also send the session's CSRF token in `X-CSRF-Token` when it
changes anything: a browser attaches the cookie to a forged cross-site request too, but it cannot read the token.
The actor of every command is the principal's user name; no header the caller writes can change it.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from connect_gateway import identity
from connect_gateway.domain import compat
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.identity.access import Access
from connect_gateway.domain.identity.tokens import digest
from connect_gateway.entrypoints.http.dependencies import get_deps
from connect_gateway.ports import Principal

SESSION_COOKIE = "connect_session"
CSRF_COOKIE = "connect_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where 401s point: the scheme a script uses, and the login a browser uses.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="connect"'}


UNKNOWN_ADDRESS = "unknown"


def route_key(request: Request) -> tuple[str, str]:
    """(method, path template) of the route that matched, as the access table names it.

    Only API routes run dependencies, and they take exactly their declared methods (HEAD and OPTIONS are 405
    before any dependency runs), so the request's method and the route's template are the key.
    """
    route: APIRoute = request.scope["route"]
    return request.method, route.path


def client_address(request: Request) -> str:
    """The client's address, which login throttling counts failures for."""
    return request.client.host if request.client else UNKNOWN_ADDRESS


async def authorize(request: Request) -> None:
    """Authenticate when the route needs it, check CSRF and the role, and keep the principal for the route."""
    rules: dict[tuple[str, str], Access] = request.app.state.access_rules
    rule = rules.get(route_key(request))
    if rule is None:  # create_app refuses a route without a rule; this is the belt to those braces
        raise Refusal("forbidden", "this route has no access rule")
    if rule.public:
        return
    principal = await _authenticate(request)
    if principal.via == "session" and request.method not in SAFE_METHODS:
        _check_csrf(request, principal)
    if rule.roles is not None and principal.role not in rule.roles:
        raise Refusal("forbidden", f"the {principal.role.value} role may not do this")
    request.state.principal = principal


async def _authenticate(request: Request) -> Principal:
    deps = get_deps(request)
    if compat.is_compat(request.url.path):
        return await _authenticate_compat(request)
    bearer = _bearer(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if bearer is None and session_id is None:
        raise Refusal("unauthenticated", "log in or send an API token (Authorization: Bearer …)", headers=CHALLENGE)
    principal = await identity.authenticate(deps, session_id, bearer, deps.session_policy)
    if principal is None:
        what = "API token" if bearer is not None else "session"
        raise Refusal("unauthenticated", f"the {what} is not valid (expired, revoked or ended)", headers=CHALLENGE)
    return principal


async def _authenticate_compat(request: Request) -> Principal:
    """The Responsys-compatible surface: the token alone in `Authorization` (no scheme), never a cookie."""
    deps = get_deps(request)
    token = compat_token(request)
    if token is None:
        raise Refusal(
            "unauthenticated", f"send the token of POST {compat.PREFIX}/auth/token in the Authorization header"
        )
    principal = await identity.authenticate(deps, None, token, deps.session_policy)
    if principal is None:
        raise Refusal("unauthenticated", "the token is not valid (expired, revoked or ended); log in again")
    return principal


def compat_token(request: Request) -> str | None:
    """The token of `Authorization: <token>`, as the original API sends it (a `Bearer` scheme is also read)."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, rest = header.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else header.strip()


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    # Any other scheme or an empty value is a credential we cannot read: refused, never treated as absent.
    return value.strip() if scheme.lower() == "bearer" else ""


def _check_csrf(request: Request, principal: Principal) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    expected = principal.csrf_digest or ""
    if not sent or not hmac.compare_digest(digest(sent), expected):
        raise Refusal(
            "csrf_failed", f"a change made with the session cookie needs the {CSRF_HEADER} header of the login"
        )


def get_principal(request: Request) -> Principal:
    """The caller `authorize` authenticated (routes with a rule other than public only)."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Refusal("unauthenticated", "log in or send an API token", headers=CHALLENGE)
    return principal


def get_actor(principal: Annotated[Principal, Depends(get_principal)]) -> str:
    """Who acts: the authenticated user's name (never a header the caller writes)."""
    return principal.username


PrincipalDep = Annotated[Principal, Depends(get_principal)]
ActorDep = Annotated[str, Depends(get_actor)]
