"""Process lifecycle: run tasks until SIGTERM/SIGINT, then let them drain."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call `stop` (once per signal) on SIGTERM and SIGINT."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


async def run_until_stopped(tasks: list[Coroutine[Any, Any, None]], stop: Callable[[], None]) -> None:
    """Run `tasks` together; a signal or the first task to fail calls `stop` and the rest drain."""
    stop_on_signals(stop)
    running = [asyncio.create_task(t) for t in tasks]
    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
    stop()
    results = await asyncio.gather(*running, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            log.error("task failed", exc_info=result)
            raise result
