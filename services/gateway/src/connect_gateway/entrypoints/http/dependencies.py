"""Request-scoped values: the wired dependencies and who is acting."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from connect_gateway.entrypoints.http.fields import Actor
from connect_gateway.ports import Deps

DEFAULT_ACTOR = "api"


def get_deps(request: Request) -> Deps:
    """The dependencies `create_app` was given (or the lifespan built)."""
    deps = request.app.state.deps
    assert isinstance(deps, Deps)
    return deps


def get_actor(
    x_connect_user: Annotated[Actor | None, Header(description="Who acts (until authentication exists)")] = None,
) -> str:
    """The acting user: the `X-Connect-User` header, else the fixed API user."""
    return (x_connect_user or "").strip() or DEFAULT_ACTOR


DepsDep = Annotated[Deps, Depends(get_deps)]
ActorDep = Annotated[str, Depends(get_actor)]
