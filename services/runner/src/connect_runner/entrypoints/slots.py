"""The runs a runner executes at once (`RUNNER_CONCURRENCY`), counted once for the run consumer and the retry
poller together: each takes a slot before it starts a run and gives it back when the run's task is done."""

from __future__ import annotations


class Slots:
    """A count of free slots; taking never waits (a consumer with none free pauses its partitions instead)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._free = capacity

    @property
    def free(self) -> int:
        """How many runs may start now."""
        return self._free

    def take(self, wanted: int = 1) -> int:
        """Take up to `wanted` slots; returns how many were free to take."""
        taken = min(wanted, self._free)
        self._free -= taken
        return taken

    def give_back(self, count: int = 1) -> None:
        """Return `count` slots taken before."""
        assert self._free + count <= self._capacity, "a slot was given back twice"
        self._free += count
