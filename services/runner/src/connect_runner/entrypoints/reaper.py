"""The reaper: every runner looks for lost runs at start and then every `interval_s`, so a run whose runner
died ends *Failed* within `abandon_after_s` plus one interval, as long as any runner is alive."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Reaper:
    """Calls `reap` every `interval_s` until stopped; a pass that fails is logged and tried again next time."""

    def __init__(self, reap: Callable[[], Awaitable[object]], interval_s: float) -> None:
        self._reap = reap
        self._interval_s = interval_s
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Return from `run()` (at once when waiting, else after the current pass)."""
        self._stopping.set()

    async def reap_once(self) -> None:
        """One pass; a failure (the database is unreachable, say) is logged, never raised."""
        try:
            await self._reap()
        except Exception as exc:  # the next pass tries again; the runner must go on either way
            log.warning("lost runs not reaped; trying again later", extra={"error": str(exc)})

    async def run(self) -> None:
        """A pass every interval (the first one after an interval: `serve` makes one at start)."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval_s)
            if not self._stopping.is_set():
                await self.reap_once()
