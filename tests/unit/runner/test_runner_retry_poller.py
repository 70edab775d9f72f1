"""The retry poller (`entrypoints/retries.py`) and the slots it shares with the run consumer: a pass takes up no
more than the free slots, each attempt holds its slot until it ends, a failing pass gives every slot back and
the next one tries again, and on stop running attempts get the grace period, then are cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from connect_runner.entrypoints.retries import RetryPoller
from connect_runner.entrypoints.slots import Slots
from tests import polling

WITHIN_S = 5.0


class Retries:
    """`take_up` hands out the names in `due` (as many as it is allowed); each attempt runs until released."""

    def __init__(self, *due: str, failures: int = 0) -> None:
        self.due = list(due)
        self.failures = failures
        self.limits: list[int] = []
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.release = asyncio.Event()

    async def take_up(self, limit: int) -> Sequence[str]:
        self.limits.append(limit)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database unreachable")
        taken, self.due = self.due[:limit], self.due[limit:]
        return taken

    async def carry_out(self, name: str) -> None:
        self.started.append(name)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.append(name)
            raise


async def until(check: Callable[[], bool], timeout_s: float = WITHIN_S) -> None:
    async def holds() -> bool:
        await asyncio.sleep(0.001)
        return check()

    await polling.until(holds, timeout_s)


async def test_a_pass_takes_up_no_more_than_the_free_slots_and_each_attempt_holds_one() -> None:
    slots = Slots(3)
    assert slots.take() == 1  # the run consumer's run
    retries = Retries("a", "b", "c")
    poller = RetryPoller(retries.take_up, retries.carry_out, slots, interval_s=60)

    await poller.poll_once()
    await until(lambda: len(retries.started) == 2)

    assert retries.limits == [2] and retries.started == ["a", "b"]
    assert (slots.free, poller.running) == (0, 2)
    retries.release.set()
    await until(lambda: poller.running == 0)
    assert slots.free == 2  # the consumer's is still taken
    await poller.poll_once()
    assert retries.limits == [2, 2]


async def test_slots_it_does_not_use_are_given_back_and_none_free_takes_up_with_none() -> None:
    slots = Slots(2)
    retries = Retries("a")
    poller = RetryPoller(retries.take_up, retries.carry_out, slots, interval_s=60)

    await poller.poll_once()
    assert slots.free == 1

    assert slots.take() == 1
    await poller.poll_once()
    assert retries.limits == [2, 0]  # still a pass: waiting runs asked to stop end without a slot
    retries.release.set()
    await until(lambda: poller.running == 0)


async def test_a_failing_pass_gives_its_slots_back_and_the_next_pass_tries_again() -> None:
    slots = Slots(2)
    retries = Retries("a", failures=1)
    poller = RetryPoller(retries.take_up, retries.carry_out, slots, interval_s=0.01)
    task = asyncio.create_task(poller.run())

    await until(lambda: retries.started == ["a"])
    poller.stop()
    retries.release.set()
    await asyncio.wait_for(task, WITHIN_S)

    assert retries.limits[:2] == [2, 2] and slots.free == 2


@pytest.mark.parametrize("finishes", [True, False], ids=["finishes-in-grace", "cancelled-after-grace"])
async def test_on_stop_running_attempts_get_the_grace_period_then_are_cancelled(finishes: bool) -> None:
    slots = Slots(2)
    retries = Retries("a")
    poller = RetryPoller(retries.take_up, retries.carry_out, slots, interval_s=0.01, drain_grace_s=0.2)
    task = asyncio.create_task(poller.run())
    await until(lambda: retries.started == ["a"])

    poller.stop()
    if finishes:
        retries.release.set()
    await asyncio.wait_for(task, WITHIN_S)

    assert retries.cancelled == ([] if finishes else ["a"])
    assert slots.free == 2 and poller.running == 0
    assert retries.due == []


def test_slots_never_go_below_zero_nor_above_the_capacity() -> None:
    slots = Slots(2)
    assert (slots.take(5), slots.free, slots.take()) == (2, 0, 0)
    slots.give_back(2)
    with pytest.raises(AssertionError):
        slots.give_back()
