"""Request-scoped access to the hosted file server (`app.state.hosted`), and its refusals as the API's."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request

from connect_gateway.domain.errors import Refusal, invalid
from connect_gateway.files import area
from connect_gateway.files.ports import HostedDeps
from connect_runtime.hosted_files import PathRefusedError


def get_hosted(request: Request) -> HostedDeps:
    """The file server's key store, root and upload limit, as the process wired them."""
    hosted = getattr(request.app.state, "hosted", None)
    if not isinstance(hosted, HostedDeps):
        raise Refusal("unavailable", "the hosted file server is not configured")
    return hosted


HostedDep = Annotated[HostedDeps, Depends(get_hosted)]


@contextmanager
def tree_errors(field: str) -> Iterator[None]:
    """What the tree refuses, as the API's refusals (our words, naming the request's field)."""
    try:
        yield
    except PathRefusedError as exc:
        raise invalid(field, str(exc)) from None
    except area.MissingError as exc:
        raise Refusal("not_found", str(exc)) from None
    except area.ConflictError as exc:
        raise Refusal("conflict", str(exc)) from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise Refusal("unavailable", "the file server has no space left; nothing was stored") from None
        raise
