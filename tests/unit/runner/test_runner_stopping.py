"""The stop scope turns a stop seen by another task into `StopRequested` from the interrupted block; a
cancellation from outside stays a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from connect_runner.stopping import StopRequested, StopScope


async def _work(scope: StopScope, started: asyncio.Event, raises: BaseException | None = None) -> None:
    async with scope:
        started.set()
        try:
            await asyncio.Event().wait()  # a transfer, a COPY, a long check
        except asyncio.CancelledError:
            if raises is not None:
                raise raises from None  # a library turning the cancellation into its own error
            raise


async def test_a_stop_interrupts_the_block_with_stop_requested() -> None:
    scope, started = StopScope(), asyncio.Event()
    task = asyncio.create_task(_work(scope, started))
    await started.wait()

    scope.stop()

    with pytest.raises(StopRequested):
        await task
    assert task.cancelling() == 0  # the scope's own cancellation is taken back


async def test_whatever_the_interrupted_step_raises_becomes_stop_requested() -> None:
    scope, started = StopScope(), asyncio.Event()
    task = asyncio.create_task(_work(scope, started, raises=ConnectionError("connection closed")))
    await started.wait()

    scope.stop()

    with pytest.raises(StopRequested):
        await task


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    scope, started = StopScope(), asyncio.Event()
    task = asyncio.create_task(_work(scope, started))
    await started.wait()

    task.cancel()  # a rebalance or shutdown
    scope.stop()

    with pytest.raises(asyncio.CancelledError):
        await task


async def test_without_a_stop_the_block_runs_as_usual() -> None:
    async with StopScope():
        await asyncio.sleep(0)
    with pytest.raises(StopRequested):  # raised by the block itself (a checkpoint) passes through
        async with StopScope():
            raise StopRequested
