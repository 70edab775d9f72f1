"""The FastAPI application: routes, who may call them, the one error shape, and where dependencies come from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from connect_gateway.domain.identity.access import DOCS_ROUTES, Access, DocsAccess, rules
from connect_gateway.domain.limits import MAX_BODY_BYTES
from connect_gateway.entrypoints.http import docs, errors, openapi
from connect_gateway.entrypoints.http.auth import authorize
from connect_gateway.entrypoints.http.body_limit import BodyLimit
from connect_gateway.entrypoints.http.http_metrics import HttpMetrics
from connect_gateway.entrypoints.http.routes import (
    audiences,
    commands,
    compat,
    files,
    groups,
    health,
    jobs,
    lists,
    login,
    pets,
    runs,
    ssh_keys,
    tables,
    tokens,
    users,
)
from connect_gateway.entrypoints.http.security_headers import SecurityHeaders
from connect_gateway.ports import Deps

DepsProvider = Callable[[], AbstractAsyncContextManager[Deps]]

DESCRIPTION = """Connect moves bulk data into and out of the audience store.

Every endpoint but `/healthz`, `/readyz`, `/metrics` and the login needs credentials: an API token
(`Authorization: Bearer cnt_…`, from `POST /api/v1/tokens`) or the session cookie of
`POST /api/v1/auth/login`, with the login's CSRF token in `X-CSRF-Token` on every change made with the cookie.
Roles: *viewer* reads; *operator* also runs jobs; *data director* also creates, edits and deletes jobs and
defines tables, lists and PETs; *admin* also manages users and other users' tokens. 401 without valid
credentials, 403 with a role that may not do it.

Writes become commands decided by the scheduler: 201/200 when accepted, 202 `pending` when no decision
arrived in time (its `status_url`, `/api/v1/commands/{command_id}`, shows the decision once made).
Every error has the shape `{code, message, errors: [{field, message}]}`; bodies over 1 MiB are refused (413).
Secrets (SFTP private keys, passwords, tokens) are write-only: stored encrypted or hashed, never returned.

Scripts written for the Responsys Connect API call the same jobs and runs under `/rest/api/v1.3` (tag
*Responsys-compatible API*): its token login, `Authorization: <token>` without a scheme, its names and values,
its error envelope `{type, title, errorCode, detail, errorDetails}` and its per-token request limits.
"""

OPENAPI_URL = "/openapi.json"
ROUTERS = (
    login,
    users,
    tokens,
    tables,
    lists,
    pets,
    audiences,
    jobs,
    groups,
    runs,
    commands,
    files,
    ssh_keys,
    health,
    compat,
)


class RouteWithoutRuleError(RuntimeError):
    """A route has no entry in the access table (or an entry names no route)."""


def create_app(
    deps: Deps | DepsProvider, max_body_bytes: int = MAX_BODY_BYTES, docs_access: DocsAccess = DocsAccess.PUBLIC
) -> FastAPI:
    """The app over ready-made `deps` (tests), or over a provider the lifespan enters (the process)."""
    app = FastAPI(
        title="Connect API",
        version="1",
        description=DESCRIPTION,
        docs_url=None,  # served by `docs.install`, without a CDN, under the access table
        redoc_url=None,
        openapi_url=None,
        # A trailing slash names no resource of this API: 404, not an undocumented 307 to the other spelling.
        redirect_slashes=False,
        lifespan=None if isinstance(deps, Deps) else _lifespan(deps),
        dependencies=[Depends(authorize)],
        openapi_tags=[{"name": compat.TAG, "description": compat.TAG_DESCRIPTION}],
    )
    if isinstance(deps, Deps):
        app.state.deps = deps
        app.state.hosted = deps.hosted
    app.state.access_rules = rules(docs_access)
    errors.install(app)
    if docs_access is not DocsAccess.OFF:
        docs.install(app, OPENAPI_URL)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders, page_prefixes=(docs.DOCS_URL, docs.ASSETS, docs.INIT))
    app.add_middleware(HttpMetrics)
    for module in ROUTERS:
        app.include_router(module.router)
    openapi.install(app, app.state.access_rules)
    _check_rules(docs_access, app.state.access_rules)
    return app


def _check_rules(docs_access: DocsAccess, ruled_routes: dict[tuple[str, str], Access]) -> None:
    """Every operation has a rule and every rule an operation: a new route without one fails here."""
    # From the routers, not the OpenAPI document: generating that costs more than building the whole app.
    routes = (r for module in ROUTERS for r in module.router.routes if isinstance(r, APIRoute))
    served = {(method, route.path) for route in routes for method in route.methods or ()}
    if docs_access is not DocsAccess.OFF:
        served |= set(DOCS_ROUTES)
    ruled = set(ruled_routes)
    if served != ruled:
        missing, stale = sorted(served - ruled), sorted(ruled - served)
        raise RouteWithoutRuleError(f"routes without an access rule: {missing}; rules without a route: {stale}")


def _lifespan(provide: DepsProvider) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The reply listener is ready before the first request can send a command.
        async with provide() as deps:
            app.state.deps = deps
            app.state.hosted = deps.hosted
            yield

    return lifespan
