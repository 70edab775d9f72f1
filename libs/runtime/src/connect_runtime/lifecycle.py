"""Process lifecycle: tune the collector for a record-processing service, run tasks until SIGTERM/SIGINT, then
let them drain."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

# A service decodes and drops many objects per record while keeping a large heap of long-lived ones (imports,
# schemas, caches). With the default thresholds (700, 10, 10) the cyclic collector scans that heap every few
# thousand records; `bench/scheduler` measured ~30 % of the ticker's CPU there. Rarer young collections keep
# the same guarantees (cycles are still freed), at the price of holding cyclic garbage a little longer.
GC_THRESHOLDS = (20_000, 20, 20)


def tune_gc() -> None:
    """Collect cyclic garbage less often (`GC_THRESHOLDS`); call once when a service starts."""
    gc.set_threshold(*GC_THRESHOLDS)


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
