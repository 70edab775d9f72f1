"""Request-scoped values: the wired dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from connect_gateway.ports import Deps


def get_deps(request: Request) -> Deps:
    """The dependencies `create_app` was given (or the lifespan built)."""
    deps = request.app.state.deps
    assert isinstance(deps, Deps)
    return deps


DepsDep = Annotated[Deps, Depends(get_deps)]
