"""An analytics feed delivery's counts reconciled with its manifest (spec §6, ADR 0013): every hit the manifest
promises is loaded, filtered or rejected, else the load is refused; and those counts in words for the log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from connect_runner.domain.failures import RunFailure


@dataclass(frozen=True)
class DeliveryTally:
    """One delivery's hits: the manifest's total (None: a `.fin` delivery promises none), those read, filtered
    by reason, and rejected; `first` is its first hit's number in the run."""

    key: str
    total: int | None
    first: int
    read: int
    filtered: Counter[str]
    rejected: int

    @property
    def last(self) -> int:
        """Its last hit's number in the run."""
        return self.first + self.read - 1

    @property
    def loaded(self) -> int:
        """Hits handed to the table's write (inserted, updated or found unchanged)."""
        return self.read - self.filtered.total() - self.rejected

    def reconciled(self) -> str:
        """The log line saying the counts add up to the manifest's total; `COUNT_MISMATCH` when they do not."""
        filtered = self.filtered.total()
        parts = f"{self.loaded:,} loaded + {filtered:,} filtered + {self.rejected:,} rejected"
        if self.total is None:
            return f"delivery {self.key}: {self.read:,} hits = {parts} (a .fin delivery states no total)"
        if self.read != self.total:
            raise RunFailure(
                "COUNT_MISMATCH",
                f"delivery {self.key} does not reconcile: {parts} = {self.read:,} hits, "
                f"the manifest's total is {self.total:,}; nothing was loaded",
            )
        return f"delivery {self.key} reconciled: {parts} = {self.total:,}, the manifest's total"


def tally(
    key: str, total: int | None, first: int, read: int, filtered: Counter[str], rejected_rows: Collection[int]
) -> DeliveryTally:
    """The tally of the delivery whose hits are numbered `first` … `first + read - 1`, counting the run's
    rejected rows that fall among them."""
    last = first + read - 1
    return DeliveryTally(key, total, first, read, filtered, sum(1 for n in rejected_rows if first <= n <= last))


def filtered_message(filtered: Counter[str]) -> str:
    """`12 hits filtered: DATA_SOURCE_HIT 2, EXCLUDED_HIT 10`, or that none were."""
    total = filtered.total()
    if not total:
        return "no hits filtered"
    grouped = ", ".join(f"{reason} {count:,}" for reason, count in sorted(filtered.items()))
    return f"{total:,} {'hit' if total == 1 else 'hits'} filtered: {grouped}"
