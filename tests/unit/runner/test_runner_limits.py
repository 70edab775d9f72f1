"""Reject thresholds and volume gates (`domain.limits`): beyond any of them the run fails, in words that say
how far over it the file is; volume is told before rejects; a share is compared exactly."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_events import FileRules, Limits
from connect_runner.domain.limits import limit_failure, rejects_failure, volume_failure
from connect_runner.handlers import _time_allowed
from tests.unit.runner.runner_builders import location, run_request


@pytest.mark.parametrize(
    ("limits", "rows", "rejected", "expected"),
    [
        (Limits(), 0, 0, None),
        (Limits(min_rows=1), 0, 0, ("ROW_VOLUME", "the file holds 0 data rows; the job expects at least 1")),
        (Limits(min_rows=1000), 1, 0, ("ROW_VOLUME", "the file holds 1 data row; the job expects at least 1,000")),
        (Limits(max_rows=10), 11, 0, ("ROW_VOLUME", "the file holds 11 data rows; the job allows at most 10")),
        (Limits(min_rows=10, max_rows=10), 10, 0, None),
        (
            Limits(max_rejected_rows=2),
            1200,
            3,
            ("TOO_MANY_REJECTS", "3 of 1,200 data rows were rejected (0.25 %); the job allows at most 2 data rows"),
        ),
        (Limits(max_rejected_rows=3), 10, 3, None),
        (
            Limits(max_rejected_percent=33.33),
            3,
            1,
            ("TOO_MANY_REJECTS", "1 of 3 data rows were rejected (33.33 %); the job allows at most 33.33 %"),
        ),
        (Limits(max_rejected_percent=25), 4, 1, None),
        (Limits(max_rejected_percent=0), 0, 0, None),
        # Volume is told first: a file of the wrong size explains its rejects.
        (
            Limits(max_rows=2, max_rejected_rows=0),
            3,
            3,
            ("ROW_VOLUME", "the file holds 3 data rows; the job allows at most 2"),
        ),
    ],
)
def test_limits_fail_the_run_in_their_own_words(
    limits: Limits, rows: int, rejected: int, expected: tuple[str, str] | None
) -> None:
    failure = limit_failure(limits, rows, rejected)

    assert (None if failure is None else (failure.code, failure.message)) == expected
    assert failure is None or not failure.transient


@given(rows=st.integers(0, 10**7), data=st.data(), percent=st.floats(0, 100, allow_nan=False))
def test_a_share_fails_exactly_when_it_is_over_the_percentage(rows: int, data: st.DataObject, percent: float) -> None:
    rejected = data.draw(st.integers(0, rows))

    failure = rejects_failure(Limits(max_rejected_percent=percent), rows, rejected)

    over = rows > 0 and Fraction(rejected, rows) * 100 > Fraction(percent)
    assert (failure is not None) is over


@given(rows=st.integers(0, 10**7), rejected=st.integers(0, 10**7), most=st.integers(0, 10**7))
def test_a_count_fails_exactly_when_it_is_over_the_maximum(rows: int, rejected: int, most: int) -> None:
    failure = rejects_failure(Limits(max_rejected_rows=most), max(rows, rejected), rejected)

    assert (failure is not None) is (rejected > most)


@given(rows=st.integers(0, 10**7), least=st.none() | st.integers(0, 10**7), most=st.none() | st.integers(0, 10**7))
def test_volume_fails_exactly_outside_the_gates(rows: int, least: int | None, most: int | None) -> None:
    failure = volume_failure(Limits(min_rows=least, max_rows=most), rows)

    outside = (least is not None and rows < least) or (most is not None and rows > most)
    assert (failure is not None) is outside
    assert failure is None or failure.code == "ROW_VOLUME"


def test_a_ready_file_wait_is_added_to_the_run_time_limit() -> None:
    deps = SimpleNamespace(run_timeout_s=600.0)
    waiting = run_request(1, 1, source=location("in.csv"), files=FileRules(ready_file="ok", ready_timeout_s=7200))
    plain = run_request(1, 1, source=location("in.csv"), files=FileRules(ready_timeout_s=7200))
    assert _time_allowed(waiting, deps) == 7800.0  # type: ignore[arg-type]
    assert _time_allowed(plain, deps) == 600.0  # type: ignore[arg-type]
