"""A job's reject thresholds and row-volume gates (spec §4.5), checked once the rows are validated and before
anything is written: beyond any of them the run fails and writes nothing. Volume comes first: a file of the wrong
size says more about what went wrong than the share of its rows that were rejected."""

from __future__ import annotations

from fractions import Fraction

from connect_events import Limits
from connect_runner.domain.failures import RunFailure


def limit_failure(limits: Limits, rows_read: int, rejected: int) -> RunFailure | None:
    """The failure for a file of `rows_read` data rows, `rejected` of them rejected; None within the limits."""
    return volume_failure(limits, rows_read) or rejects_failure(limits, rows_read, rejected)


def volume_failure(limits: Limits, rows_read: int) -> RunFailure | None:
    """`ROW_VOLUME` when the file holds fewer rows than `min_rows` or more than `max_rows`."""
    if limits.min_rows is not None and rows_read < limits.min_rows:
        return RunFailure(
            "ROW_VOLUME", f"the file holds {_rows(rows_read)}; the job expects at least {limits.min_rows:,}"
        )
    if limits.max_rows is not None and rows_read > limits.max_rows:
        return RunFailure(
            "ROW_VOLUME", f"the file holds {_rows(rows_read)}; the job allows at most {limits.max_rows:,}"
        )
    return None


def rejects_failure(limits: Limits, rows_read: int, rejected: int) -> RunFailure | None:
    """`TOO_MANY_REJECTS` when more rows were rejected than `max_rejected_rows`, or a greater share of the rows
    read than `max_rejected_percent` (compared exactly: 1 of 3 rows is over 33.33 %)."""
    if limits.max_rejected_rows is not None and rejected > limits.max_rejected_rows:
        allowed = f"at most {_rows(limits.max_rejected_rows)}"
        return RunFailure("TOO_MANY_REJECTS", f"{_rejected(rejected, rows_read)}; the job allows {allowed}")
    percent = limits.max_rejected_percent
    if percent is not None and rejected * 100 > Fraction(percent) * rows_read:
        allowed = f"at most {percent:g} %"
        return RunFailure("TOO_MANY_REJECTS", f"{_rejected(rejected, rows_read)}; the job allows {allowed}")
    return None


def _rejected(rejected: int, rows_read: int) -> str:
    share = rejected * 100 / max(rows_read, 1)  # rows are never rejected from an empty file
    return f"{rejected:,} of {_rows(rows_read)} were rejected ({share:.4g} %)"


def _rows(count: int) -> str:
    return f"{count:,} data row" + ("" if count == 1 else "s")
