"""`connect-gateway serve` (the default): the REST API until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from connect_gateway import bootstrap
from connect_gateway.config import GatewaySettings
from connect_gateway.entrypoints.http.app import create_app
from connect_runtime.lifecycle import run_until_stopped
from connect_runtime.logs import configure_logging

STARTUP_FAILED = 3  # uvicorn's own exit code for a failed startup


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling, which re-raises SIGTERM after shutdown (exit 143)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve() -> int:
    """Serve; on SIGTERM/SIGINT stop accepting, let requests finish, then close (the lifespan's exit)."""
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    app = create_app(lambda: bootstrap.connect(settings), docs_access=settings.docs)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the JSON logging configured above
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
    server = _Server(config)

    def stop() -> None:
        server.should_exit = True

    asyncio.run(run_until_stopped([server.serve()], stop))
    # Not started: the lifespan could not connect, and uvicorn has logged why.
    return 0 if server.started else STARTUP_FAILED
