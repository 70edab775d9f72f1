"""The Responsys-compatible API's pure rules: ids, dates, statuses, refusals and request limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_events import RefusalReason, RunStatus
from connect_gateway.domain import compat
from connect_gateway.domain.compat import CompatRefusal, RateLimiter, limits_with
from connect_gateway.domain.errors import ErrorCode

T0 = datetime(2027, 1, 15, 10, 0, 0, tzinfo=UTC)


@given(st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)))
def test_every_calendar_day_reads_back_from_mm_dd_yyyy(day: date) -> None:
    assert compat.parse_day("sdate", day.strftime("%m-%d-%Y")) == day


@given(st.text(max_size=12))
def test_anything_else_is_refused_naming_the_parameter(text: str) -> None:
    try:
        day = compat.parse_day("edate", text)
    except CompatRefusal as refused:
        assert refused.problem.error_code == "INVALID_PARAMETER" and refused.problem.status == 400
        assert refused.problem.detail.startswith("edate ")
    else:
        assert day.strftime("%m-%d-%Y") == text


@pytest.mark.parametrize("text", ["02-30-2027", "13-01-2027", "00-10-2027", "2027-01-15", "1-5-2027", "01/15/2027"])
def test_impossible_or_other_formats_are_refused(text: str) -> None:
    with pytest.raises(CompatRefusal):
        compat.parse_day("sdate", text)


def test_the_window_includes_both_days_in_utc() -> None:
    since, until = compat.run_window("01-15-2027", "01-15-2027")
    assert (since, until) == (datetime(2027, 1, 15, tzinfo=UTC), datetime(2027, 1, 16, tzinfo=UTC))
    with pytest.raises(CompatRefusal, match="edate must not be before sdate"):
        compat.run_window("01-16-2027", "01-15-2027")
    with pytest.raises(CompatRefusal, match="sdate is required"):
        compat.run_window(None, "01-15-2027")


@given(st.text(max_size=30))
def test_a_job_id_is_digits_or_refused_with_the_originals_words(text: str) -> None:
    try:
        job_id = compat.parse_job_id(text)
    except CompatRefusal as refused:
        assert refused.problem.detail == "Job Id should be a numeric value."
        assert not (text.isascii() and text.isdigit())
    else:
        assert text.isascii() and text.isdigit()
        assert job_id == int(text) or not compat.job_may_exist(job_id)


def test_an_id_too_long_for_any_job_names_none() -> None:
    assert not compat.job_may_exist(compat.parse_job_id("9" * 25))
    assert not compat.run_may_exist(compat.parse_run_id("3000000000"))
    assert not compat.job_may_exist(compat.parse_job_id("0"))


def test_every_run_status_has_one_of_the_four() -> None:
    assert {compat.compat_status(s.value) for s in RunStatus} == {"running", "failed", "succeeded", "aborted"}
    assert compat.compat_status("queued") == "running"  # a script polls on until it ends
    assert compat.compat_status("stopped") == compat.compat_status("skipped") == "aborted"


def test_durations_are_whole_seconds_so_far_or_in_all() -> None:
    assert compat.duration_seconds(T0, T0 + timedelta(seconds=42), 42_900, T0) == 42
    assert compat.duration_seconds(T0, None, None, T0 + timedelta(seconds=7.5)) == 7
    assert compat.duration_seconds(None, None, None, T0) == 0
    assert compat.epoch_ms(T0) == 1_800_007_200_000 and compat.epoch_ms(None) is None


@pytest.mark.parametrize("code", get_args(ErrorCode))
def test_every_refusal_code_has_an_envelope(code: ErrorCode) -> None:
    problem = compat.problem_of(code, "something went wrong")
    assert problem.body() == {
        "type": "",
        "title": problem.title,
        "errorCode": problem.error_code,
        "detail": "Something went wrong",
        "errorDetails": [],
    }
    assert problem.error_code.isupper() and 400 <= problem.status < 600


@pytest.mark.parametrize("reason", get_args(RefusalReason))
def test_every_refusal_reason_has_an_envelope(reason: RefusalReason) -> None:
    problem = compat.problem_of("invalid_state", "job 7 cannot", reason)
    assert problem.error_code and problem.detail


def test_the_documented_refusals_keep_the_originals_words_and_statuses() -> None:
    inactive = compat.problem_of("invalid_state", "job 2 is inactive", "JOB_INACTIVE")
    assert (inactive.status, inactive.title, inactive.error_code, inactive.detail) == (
        400,
        "Connect job not active",
        "CONNECT_JOB_INACTIVE",
        "Connect Job status is Inactive and can't be run",
    )
    assert compat.problem_of("invalid_state", "x", "JOB_RUNNING").error_code == "CONNECT_JOB_ALREADY_RUNNING"
    assert compat.problem_of("not_found", "job 9 not found", "JOB_DELETED").status == 404
    assert compat.problem_of("too_many_requests", "slow down").status == 401  # as the original's limit
    assert compat.problem_of("forbidden", "no").error_code == "INSUFFICIENT_ACCESS"


def test_a_limiter_counts_per_caller_and_call_in_one_minute_windows() -> None:
    limiter = RateLimiter(limits_with({"getConnectJobs": 2}))
    assert limiter.take("a", "getConnectJobs", T0) is None
    assert limiter.take("a", "getConnectJobs", T0 + timedelta(seconds=10)) is None
    assert limiter.take("a", "getConnectJobs", T0 + timedelta(seconds=20)) == timedelta(seconds=40)
    assert limiter.take("b", "getConnectJobs", T0 + timedelta(seconds=20)) is None  # another token
    assert limiter.take("a", "getRateLimits", T0 + timedelta(seconds=20)) is None  # another call
    assert limiter.take("a", "getConnectJobs", T0 + timedelta(seconds=60)) is None  # a new window


def test_a_full_limiter_forgets_windows_that_ended() -> None:
    limiter = RateLimiter(max_callers=2)
    limiter.take("a", "getConnectJobs", T0)
    limiter.take("b", "getConnectJobs", T0)
    limiter.take("c", "getConnectJobs", T0 + timedelta(minutes=2))
    assert limiter.take("c", "getConnectJobs", T0 + timedelta(minutes=2, seconds=1)) is None
    assert set(limiter._windows) == {("c", "getConnectJobs")}


def test_an_exceeded_limit_says_when_to_retry() -> None:
    refused = compat.limit_exceeded(compat.DEFAULT_LIMITS[1], timedelta(seconds=12.2))
    assert refused.headers == {"Retry-After": "13"}
    assert refused.problem.error_code == "API_LIMIT_EXCEEDED" and refused.problem.status == 401


def test_limit_overrides_name_known_calls_and_positive_limits() -> None:
    assert {x.api: x.limit for x in limits_with({"login": 5})}["login"] == 5
    with pytest.raises(ValueError, match="unknown API names"):
        limits_with({"mergeListMembers": 5})
    with pytest.raises(ValueError, match="at least 1"):
        limits_with({"login": 0})


def test_only_paths_under_rest_api_are_the_compatible_surface() -> None:
    assert compat.is_compat("/rest/api/v1.3/connectJobs") and compat.is_compat("/rest/api/ratelimit")
    assert not compat.is_compat("/api/v1/jobs") and not compat.is_compat("/rest/apix")
