"""Waiting for a positive signal in tests: poll a condition, fail when it does not come in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

POLL_S = 0.1


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 30) -> None:
    """Return once `check()` is true; fail the test if it is not within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"condition not met in {timeout_s}s"
        await asyncio.sleep(POLL_S)
