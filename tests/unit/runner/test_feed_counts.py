"""An analytics feed delivery's counts reconciled with its manifest (`domain.feed_counts`)."""

from __future__ import annotations

from collections import Counter

import pytest

from connect_runner.domain.failures import RunFailure
from connect_runner.domain.feed_counts import filtered_message, tally


def test_a_delivery_whose_hits_add_up_to_its_total_reconciles() -> None:
    counted = tally("shop_2026-11-28", 100, 51, 100, Counter(EXCLUDED_HIT=7, DATA_SOURCE_HIT=3), {3, 60, 150, 151})
    assert (counted.rejected, counted.loaded, counted.last) == (2, 88, 150)
    assert counted.reconciled() == (
        "delivery shop_2026-11-28 reconciled: 88 loaded + 10 filtered + 2 rejected = 100, the manifest's total"
    )


def test_a_delivery_short_of_its_total_fails_the_load() -> None:
    with pytest.raises(RunFailure) as caught:
        tally("shop_2026-11-28-09", 1_000, 1, 999, Counter(), ()).reconciled()
    assert caught.value.code == "COUNT_MISMATCH"
    assert caught.value.message == (
        "delivery shop_2026-11-28-09 does not reconcile: 999 loaded + 0 filtered + 0 rejected = 999 hits, the"
        " manifest's total is 1,000; nothing was loaded"
    )


def test_a_fin_delivery_states_no_total() -> None:
    assert tally("shop_2026-11-28", None, 1, 5, Counter(EXCLUDED_HIT=1), ()).reconciled() == (
        "delivery shop_2026-11-28: 5 hits = 4 loaded + 1 filtered + 0 rejected (a .fin delivery states no total)"
    )


def test_filtered_hits_are_told_by_reason() -> None:
    assert filtered_message(Counter()) == "no hits filtered"
    assert filtered_message(Counter(EXCLUDED_HIT=1)) == "1 hit filtered: EXCLUDED_HIT 1"
    assert filtered_message(Counter(EXCLUDED_HIT=1200, DATA_SOURCE_HIT=3)) == (
        "1,203 hits filtered: DATA_SOURCE_HIT 3, EXCLUDED_HIT 1,200"
    )
