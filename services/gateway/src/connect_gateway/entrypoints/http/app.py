"""The FastAPI application: routes, the one error shape, and where its dependencies come from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from connect_gateway.entrypoints.http import errors
from connect_gateway.entrypoints.http.routes import health, jobs, runs, tables
from connect_gateway.ports import Deps

DepsProvider = Callable[[], AbstractAsyncContextManager[Deps]]

DESCRIPTION = """Connect moves bulk data into and out of the audience store.

Writes become commands decided by the scheduler: 201/200 when accepted, 202 `pending` when no decision
arrived in time. Every error has the shape `{code, message, errors: [{field, message}]}`.
Secrets (SFTP private keys, passwords) are write-only: they are stored encrypted and never returned.
"""


def create_app(deps: Deps | DepsProvider) -> FastAPI:
    """The app over ready-made `deps` (tests), or over a provider the lifespan enters (the process)."""
    app = FastAPI(
        title="Connect API",
        version="1",
        description=DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=None if isinstance(deps, Deps) else _lifespan(deps),
    )
    if isinstance(deps, Deps):
        app.state.deps = deps
    errors.install(app)
    for module in (tables, jobs, runs, health):
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
