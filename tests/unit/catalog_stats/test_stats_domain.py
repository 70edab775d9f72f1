"""The statistics' arithmetic: buckets, their sums, percentiles read off a histogram, and the served figures."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from connect_catalog.stats import domain
from connect_catalog.stats.domain import DURATION_BOUNDS_S, HOUR_WINDOWS, RunEnd, add, empty_bucket, merged, quantile

durations = st.floats(min_value=0, max_value=50_000, allow_nan=False)


def bucket_of(*ends: RunEnd, job_type: str = "import_custom_table") -> domain.Bucket:
    bucket = empty_bucket(job_type)
    for end in ends:
        bucket = add(bucket, end, job_type)
    return bucket


def test_a_bucket_counts_runs_failures_rows_and_time() -> None:
    bucket = bucket_of(RunEnd(1, 1, False, 100, 4.0, 0), RunEnd(1, 2, True, 0, 0.2, 0))
    assert (bucket["n"], bucket["f"], bucket["r"], bucket["s"]) == (2, 1, 100, 4.2)
    assert sum(bucket["h"]) == 2
    assert bucket["h"][DURATION_BOUNDS_S.index(5)] == 1  # 4 s falls in (2, 5]


def test_adding_keeps_the_old_bucket_unchanged() -> None:
    """A Faust table only records values that are set: `add` must build a new bucket, not edit the old one."""
    old = bucket_of()
    add(old, RunEnd(1, 1, True, 5, 1.0, 0), "import_custom_table")
    assert old == empty_bucket("import_custom_table")


@given(st.lists(durations, min_size=1, max_size=50), st.floats(min_value=0, max_value=1))
def test_a_percentile_lies_between_the_bounds_of_what_was_seen(seconds: list[float], q: float) -> None:
    bucket = bucket_of(*(RunEnd(1, i, False, 0, s, 0) for i, s in enumerate(seconds)))
    value = quantile(bucket["h"], q)
    finite_bounds = [b for b in DURATION_BOUNDS_S if not math.isinf(b)]
    lower = max([0.0, *(b for b in finite_bounds if b < min(seconds))])
    upper = min([b for b in DURATION_BOUNDS_S if b >= max(seconds)])
    assert lower <= value <= (upper if not math.isinf(upper) else finite_bounds[-1])


@given(st.lists(durations, min_size=1, max_size=50))
def test_percentiles_grow_with_q(seconds: list[float]) -> None:
    histogram = bucket_of(*(RunEnd(1, i, False, 0, s, 0) for i, s in enumerate(seconds)))["h"]
    values = [quantile(histogram, q) for q in (0.1, 0.5, 0.9, 0.99)]
    assert values == sorted(values)


def test_a_run_read_twice_is_counted_once() -> None:
    end = RunEnd(1, 7, True, 10, 3.0, 0)
    once = bucket_of(end)
    assert add(once, end, "import_custom_table") == once


def test_an_empty_histogram_has_no_percentile() -> None:
    assert math.isnan(quantile(empty_bucket()["h"], 0.5))


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 10**6), durations), max_size=20))
def test_merging_buckets_adds_them_up(runs: list[tuple[bool, int, float]]) -> None:
    one_by_one = [bucket_of(RunEnd(1, i, failed, rows, s, 0)) for i, (failed, rows, s) in enumerate(runs)]
    together = bucket_of(*(RunEnd(1, i, failed, rows, s, 0) for i, (failed, rows, s) in enumerate(runs)))
    total = merged(one_by_one) if one_by_one else empty_bucket("import_custom_table")
    assert (total["n"], total["f"], total["r"], total["h"]) == (
        together["n"],
        together["f"],
        together["r"],
        together["h"],
    )
    assert math.isclose(total["s"], together["s"], abs_tol=1e-6)


def test_statistics_split_the_hour_from_the_day_and_jobs_by_type() -> None:
    recent = bucket_of(RunEnd(1, 3, False, 600, 60.0, 0))
    earlier = bucket_of(RunEnd(1, 1, True, 0, 10.0, 0), RunEnd(1, 2, True, 0, 10.0, 0))
    export = bucket_of(RunEnd(2, 1, False, 50, 5.0, 0), job_type="export_file")
    windows: dict[str, list[domain.Bucket | None]] = {
        "1": [recent, *([None] * HOUR_WINDOWS), earlier],  # the failures ended more than an hour ago
        "2": [None, export],
    }
    stats = domain.statistics(windows)
    assert stats.rows_per_second == {"1": 10.0, "2": 10.0}
    assert stats.failure_ratio["import_custom_table", "1h"] == 0.0
    assert stats.failure_ratio["import_custom_table", "24h"] == 2 / 3
    assert stats.ended["export_file", "24h"] == 1
    document = stats.as_json()
    assert document["jobs"] == {
        "1": {"rows_per_second": 10.0, "runs_ended_1h": 1, "runs_failed_1h": 0},
        "2": {"rows_per_second": 10.0, "runs_ended_1h": 1, "runs_failed_1h": 0},
    }
    assert document["job_types"]["import_custom_table"]["failure_ratio"] == {"1h": 0.0, "24h": 2 / 3}  # type: ignore[index]


def test_a_job_edited_into_another_type_counts_under_its_newest() -> None:
    windows: dict[str, list[domain.Bucket | None]] = {
        "1": [
            bucket_of(RunEnd(1, 2, False, 1, 1.0, 0), job_type="export_api"),
            bucket_of(RunEnd(1, 1, True, 1, 1.0, 0)),
        ]
    }
    assert set(domain.statistics(windows).ended) == {("export_api", "1h"), ("export_api", "24h")}
