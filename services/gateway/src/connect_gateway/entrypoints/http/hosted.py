"""Request-scoped access to the hosted file server's dependencies (`app.state.hosted`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from connect_gateway.domain.errors import Refusal
from connect_gateway.files.ports import HostedDeps


def get_hosted(request: Request) -> HostedDeps:
    """The file server's key store, root and upload limit, as the process wired them."""
    hosted = getattr(request.app.state, "hosted", None)
    if not isinstance(hosted, HostedDeps):
        raise Refusal("unavailable", "the hosted file server is not configured")
    return hosted


HostedDep = Annotated[HostedDeps, Depends(get_hosted)]
