"""Operational statistics of runs (issue 10 item 2, ADR 0004), as plain data and pure functions.

The stream worker keeps, per job and per five-minute window, one `Bucket`: how many runs of the job ended in
the window, how many failed, their rows and run time, and a histogram of their durations. Everything the
dashboard wants is a sum of buckets:

- rows/s per job: rows over run time of the runs that ended in the last hour (0 with no run);
- failure ratio per job type over 1 h and 24 h: failed runs over ended runs (stopped runs count as ended,
  not failed: a user chose to end them);
- duration percentiles per job type over 24 h, read off the summed histogram (so they are approximate: a
  percentile is interpolated inside its histogram bucket).

Buckets are JSON-shaped dicts because they are the values of a Faust table and travel through its changelog.
A run falls in the window of its finish time (event time, not when its event was read) and a bucket remembers
the runs it counted, so reading an event twice (a republished event, a worker that restarts before committing
its offsets) changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from connect_events import Event, RunFailed, RunRequested, RunStopped, RunSucceeded

WINDOW_S = 300  # one bucket's width
HOUR_WINDOWS = 3600 // WINDOW_S
DAY_WINDOWS = 24 * HOUR_WINDOWS
WINDOWS: Mapping[str, int] = {"1h": HOUR_WINDOWS, "24h": DAY_WINDOWS}  # failure-ratio windows, in buckets
QUANTILES = (0.5, 0.9, 0.99)
# Upper bounds of the duration histogram, in seconds; the last bucket is open.
DURATION_BOUNDS_S: tuple[float, ...] = (
    0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, math.inf,
)  # fmt: skip
UNKNOWN_TYPE = "unknown"  # a run whose request this worker never saw (it ended before the worker's history)


class Bucket(TypedDict):
    """One job's ended runs in one window (short keys: a bucket is stored for every job and window)."""

    t: str  # job type
    n: int  # runs ended
    f: int  # runs failed
    r: int  # rows read or written
    s: float  # run time, seconds
    h: list[int]  # durations, counts per `DURATION_BOUNDS_S`
    ids: list[int]  # the runs counted (a job ends a handful of runs in a window)


@dataclass(frozen=True, slots=True)
class RunEnd:
    """What the statistics need of an ended run."""

    job_id: int
    run_id: int
    failed: bool
    rows: int
    seconds: float
    finished_at_s: float  # epoch seconds: the window the run falls in


def empty_bucket(job_type: str = UNKNOWN_TYPE) -> Bucket:
    """A bucket with nothing in it."""
    return Bucket(t=job_type, n=0, f=0, r=0, s=0.0, h=[0] * len(DURATION_BOUNDS_S), ids=[])


def run_end(event: Event) -> RunEnd | None:
    """The ended run `event` reports, if it reports one (succeeded, failed or stopped)."""
    if not isinstance(event, RunSucceeded | RunFailed | RunStopped):
        return None
    p = event.payload
    seconds = max((p.finished_at - p.started_at).total_seconds(), 0.0)
    failed = isinstance(event, RunFailed)
    return RunEnd(p.job_id, p.run_id, failed, p.counts.rows_read, seconds, p.finished_at.timestamp())


def requested_type(event: Event) -> tuple[int, str] | None:
    """(job id, job type) of a run request: the type a job's next runs are counted under."""
    if not isinstance(event, RunRequested):
        return None
    return event.payload.job_id, event.payload.definition.settings.kind


def counted(bucket: Bucket, end: RunEnd) -> bool:
    """Whether `bucket` already counts `end`'s run."""
    return end.run_id in bucket["ids"]


def add(bucket: Bucket, end: RunEnd, job_type: str) -> Bucket:
    """`bucket` with `end` counted in, once (a new dict: a Faust table only sees values that are set)."""
    if counted(bucket, end):
        return bucket
    histogram = list(bucket["h"])
    histogram[_bound_index(end.seconds)] += 1
    return Bucket(
        t=job_type,
        n=bucket["n"] + 1,
        f=bucket["f"] + int(end.failed),
        r=bucket["r"] + end.rows,
        s=bucket["s"] + end.seconds,
        h=histogram,
        ids=[*bucket["ids"], end.run_id],
    )


def _bound_index(seconds: float) -> int:
    return next(i for i, bound in enumerate(DURATION_BOUNDS_S) if seconds <= bound)


def merged(buckets: Iterable[Bucket]) -> Bucket:
    """The sum of `buckets`, typed by the first (pass the newest first: a job's type changes when it is edited
    into another type)."""
    total: Bucket | None = None
    for bucket in buckets:
        if total is None:
            total = bucket
            continue
        total = Bucket(
            t=total["t"],
            n=total["n"] + bucket["n"],
            f=total["f"] + bucket["f"],
            r=total["r"] + bucket["r"],
            s=total["s"] + bucket["s"],
            h=[a + b for a, b in zip(total["h"], bucket["h"], strict=True)],
            ids=[],  # a sum is served, never stored
        )
    return total if total is not None else empty_bucket()


def quantile(histogram: Sequence[int], q: float) -> float:
    """The `q` quantile of a duration histogram, interpolated linearly inside its bucket (NaN when empty).

    The open last bucket answers its lower bound: nothing is known above it.
    """
    total = sum(histogram)
    if total == 0:
        return math.nan
    rank, seen = q * total, 0
    for i, count in enumerate(histogram):
        if count and seen + count >= rank:
            lower = DURATION_BOUNDS_S[i - 1] if i else 0.0
            upper = DURATION_BOUNDS_S[i]
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return DURATION_BOUNDS_S[-2]


@dataclass(frozen=True)
class Statistics:
    """What the worker serves: per job rows/s over the last hour, per job type failure ratios and durations."""

    rows_per_second: dict[str, float] = field(default_factory=dict)  # by job id
    job_runs: dict[str, tuple[int, int]] = field(default_factory=dict)  # by job id: (ended, failed) in the hour
    failure_ratio: dict[tuple[str, str], float] = field(default_factory=dict)  # by (job type, window)
    ended: dict[tuple[str, str], int] = field(default_factory=dict)  # by (job type, window)
    duration_s: dict[tuple[str, str], float] = field(default_factory=dict)  # by (job type, quantile)

    def as_json(self) -> dict[str, object]:
        """The `/stats` document."""
        by_type: dict[str, dict[str, object]] = {}
        for (job_type, window), ratio in sorted(self.failure_ratio.items()):
            entry = by_type.setdefault(job_type, {"failure_ratio": {}, "runs_ended": {}, "duration_seconds": {}})
            _put(entry, "failure_ratio", window, ratio)
            _put(entry, "runs_ended", window, self.ended[job_type, window])
        for (job_type, q), seconds in sorted(self.duration_s.items()):
            entry = by_type.setdefault(job_type, {"failure_ratio": {}, "runs_ended": {}, "duration_seconds": {}})
            _put(entry, "duration_seconds", f"p{round(float(q) * 100)}", None if math.isnan(seconds) else seconds)
        return {
            "window_seconds": WINDOW_S,
            "jobs": {
                job: {"rows_per_second": rate, "runs_ended_1h": ended, "runs_failed_1h": failed}
                for job, rate in sorted(self.rows_per_second.items())
                for ended, failed in [self.job_runs[job]]
            },
            "job_types": by_type,
        }


def _put(entry: dict[str, object], name: str, key: str, value: object) -> None:
    inner = entry[name]
    assert isinstance(inner, dict)
    inner[key] = value


def statistics(windows_by_job: Mapping[str, Sequence[Bucket | None]]) -> Statistics:
    """Fold each job's buckets into the served statistics; `windows_by_job[job][i]` is the job's bucket of
    `i` windows ago (None: no run ended then), `DAY_WINDOWS` of them at most."""
    rows_per_second: dict[str, float] = {}
    job_runs: dict[str, tuple[int, int]] = {}
    by_type: dict[tuple[str, str], Bucket] = {}
    for job_id, windows in windows_by_job.items():
        present = [bucket for bucket in windows[:DAY_WINDOWS] if bucket is not None]
        if not present:
            continue
        hour = merged(bucket for bucket in windows[:HOUR_WINDOWS] if bucket is not None)
        if hour["n"]:
            rows_per_second[job_id] = hour["r"] / hour["s"] if hour["s"] > 0 else 0.0
            job_runs[job_id] = (hour["n"], hour["f"])
        job_type = present[0]["t"]
        for window, count in WINDOWS.items():
            recent = [bucket for bucket in windows[:count] if bucket is not None]
            key = (job_type, window)
            by_type[key] = merged([by_type.get(key, empty_bucket(job_type)), *recent])
    failure_ratio: dict[tuple[str, str], float] = {}
    ended: dict[tuple[str, str], int] = {}
    duration_s: dict[tuple[str, str], float] = {}
    for (job_type, window), bucket in by_type.items():
        ended[job_type, window] = bucket["n"]
        failure_ratio[job_type, window] = bucket["f"] / bucket["n"] if bucket["n"] else 0.0
        if window == "24h":
            for q in QUANTILES:
                duration_s[job_type, str(q)] = quantile(bucket["h"], q)
    return Statistics(rows_per_second, job_runs, failure_ratio, ended, duration_s)
