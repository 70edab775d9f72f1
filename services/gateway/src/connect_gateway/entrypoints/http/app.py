"""The FastAPI application: routes, the one error shape, and where its dependencies come from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from connect_gateway.domain.limits import MAX_BODY_BYTES
from connect_gateway.entrypoints.http import docs, errors
from connect_gateway.entrypoints.http.body_limit import BodyLimit
from connect_gateway.entrypoints.http.routes import commands, health, jobs, runs, tables
from connect_gateway.ports import Deps

DepsProvider = Callable[[], AbstractAsyncContextManager[Deps]]

DESCRIPTION = """Connect moves bulk data into and out of the audience store.

Writes become commands decided by the scheduler: 201/200 when accepted, 202 `pending` when no decision
arrived in time (its `status_url`, `/api/v1/commands/{command_id}`, shows the decision once made).
Every error has the shape `{code, message, errors: [{field, message}]}`; bodies over 1 MiB are refused (413).
Secrets (SFTP private keys, passwords) are write-only: they are stored encrypted and never returned.
"""


OPENAPI_URL = "/openapi.json"


def create_app(deps: Deps | DepsProvider, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The app over ready-made `deps` (tests), or over a provider the lifespan enters (the process)."""
    app = FastAPI(
        title="Connect API",
        version="1",
        description=DESCRIPTION,
        docs_url=None,  # served by `docs.install`, without a CDN
        redoc_url=None,
        openapi_url=OPENAPI_URL,
        # A trailing slash names no resource of this API: 404, not an undocumented 307 to the other spelling.
        redirect_slashes=False,
        lifespan=None if isinstance(deps, Deps) else _lifespan(deps),
    )
    if isinstance(deps, Deps):
        app.state.deps = deps
    errors.install(app)
    docs.install(app, OPENAPI_URL)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    for module in (tables, jobs, runs, commands, health):
        app.include_router(module.router)
    return app


def _lifespan(provide: DepsProvider) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The reply listener is ready before the first request can send a command.
        async with provide() as deps:
            app.state.deps = deps
            yield

    return lifespan
