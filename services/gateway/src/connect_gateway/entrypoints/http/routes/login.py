"""`/api/v1/auth`: log in with a password (a session cookie), log out, and who the caller is."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connect_gateway import identity
from connect_gateway.entrypoints.http.auth import CSRF_COOKIE, SESSION_COOKIE, PrincipalDep, client_address
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.identity_schemas import LoginIn, SessionOut
from connect_gateway.entrypoints.http.outcomes import COMMON_RESPONSES, THROTTLED, json_response
from connect_gateway.entrypoints.http.schemas import ErrorBody

router = APIRouter(prefix="/api/v1/auth", tags=["access"], responses=COMMON_RESPONSES)


@router.post(
    "/login",
    response_model=SessionOut,
    responses={
        401: {"model": ErrorBody, "description": "The user name or the password is wrong (the same for both)"},
        **THROTTLED,
    },
)
async def log_in(body: LoginIn, request: Request, deps: DepsDep) -> JSONResponse:
    """Log in: sets the `connect_session` cookie (HttpOnly, SameSite=Lax) and the `connect_csrf` cookie.

    Every change made with the cookie must send the CSRF token in `X-CSRF-Token`. Scripts use API tokens.
    """
    login = await identity.login(deps, body.username, body.password.get_secret_value(), client_address(request))
    policy = deps.session_policy
    expires_at = identity.now() + policy.absolute
    out = SessionOut(
        username=login.principal.username,
        role=login.principal.role.value,
        via="session",
        csrf_token=login.csrf_token,
        expires_at=expires_at,
    )
    response = json_response(out, 200)
    secure = request.url.scheme == "https"
    max_age = int(policy.absolute.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, login.session_id, max_age=max_age, httponly=True, secure=secure, samesite="lax", path="/"
    )
    # Readable by the page's script (that is its purpose), useless without the HttpOnly session cookie.
    response.set_cookie(CSRF_COOKIE, login.csrf_token, max_age=max_age, secure=secure, samesite="lax", path="/")
    return response


@router.post("/logout", status_code=204, response_class=Response)
async def log_out(principal: PrincipalDep, deps: DepsDep) -> Response:
    """End this session at once (an API token is revoked with `DELETE /api/v1/tokens/{token_id}` instead)."""
    await identity.logout(deps, principal)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/session")
async def session(principal: PrincipalDep) -> SessionOut:
    """Who the credentials of this request belong to, and their role."""
    return SessionOut(username=principal.username, role=principal.role.value, via=principal.via)
