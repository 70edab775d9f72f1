"""Notifications of a run's end, a job's or a group's (spec §7.5): which statuses notify which channels, the
message, the webhook signature, and what a failed delivery leads to."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from connect_events import (
    GroupRunEndedPayload,
    Notifications,
    RunCounts,
    RunEndedPayload,
    RunFailedPayload,
    RunStatus,
)
from connect_scheduler.domain.groups import GroupState, fold
from connect_scheduler.domain.notifications import (
    DELIVERED,
    NOTICES,
    Attempt,
    GroupRunNotice,
    RunNotice,
    deliveries,
    email_subject,
    email_text,
    format_duration,
    group_run_notice,
    http_attempt,
    job_run_notice,
    keeps,
    link,
    next_step,
    signature,
    webhook_body,
)
from tests.unit.scheduler.group_builders import GROUP, group_created, group_run_requested, member_requested

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
PUBLIC = "https://connect.example.com/"
EMAILS = ("ops@example.com", "data@example.com")
HOOK = "https://hooks.example.com/connect"
BOTH = Notifications(on_success=True, on_failure=True, emails=EMAILS, webhook_url=HOOK)
COUNTS = RunCounts(rows_read=100, inserted=90, updated=5, unchanged=3, rejected=2, bytes_transferred=4096)


def failed_notice() -> RunNotice:
    ended = RunFailedPayload(
        job_id=12,
        run_id=3,
        counts=COUNTS,
        started_at=T0,
        finished_at=T0 + timedelta(minutes=3, seconds=5),
        code="CONNECTION_FAILED",
        error="the SFTP server could not be reached",
    )
    return job_run_notice("Nightly", RunStatus.FAILED, ended)


class TestWhoIsTold:
    @pytest.mark.parametrize(
        ("settings", "status", "channels"),
        [
            (BOTH, RunStatus.SUCCEEDED, ["email", "webhook"]),
            (BOTH, RunStatus.FAILED, ["email", "webhook"]),
            (BOTH, RunStatus.STOPPED, ["email", "webhook"]),
            (BOTH, RunStatus.SKIPPED, []),  # never ran
            (BOTH, RunStatus.RUNNING, []),
            (BOTH.model_copy(update={"on_success": False}), RunStatus.SUCCEEDED, []),
            (BOTH.model_copy(update={"on_success": False}), RunStatus.STOPPED, ["email", "webhook"]),
            (BOTH.model_copy(update={"on_failure": False}), RunStatus.FAILED, []),
            (BOTH.model_copy(update={"on_failure": False}), RunStatus.SUCCEEDED, ["email", "webhook"]),
            (BOTH.model_copy(update={"emails": ()}), RunStatus.FAILED, ["webhook"]),
            (BOTH.model_copy(update={"webhook_url": None}), RunStatus.FAILED, ["email"]),
            (Notifications(), RunStatus.FAILED, []),
        ],
    )
    def test_status_and_settings_choose_the_channels(
        self, settings: Notifications, status: RunStatus, channels: list[str]
    ) -> None:
        assert [channel for channel, _ in deliveries(settings, status)] == channels

    def test_one_email_for_all_addresses_and_one_post(self) -> None:
        assert deliveries(BOTH, RunStatus.FAILED) == [("email", EMAILS), ("webhook", (HOOK,))]

    @pytest.mark.parametrize(
        ("settings", "kept"),
        [
            (BOTH, True),
            (Notifications(on_failure=True, webhook_url=HOOK), True),
            (Notifications(on_success=True, emails=EMAILS), True),
            (Notifications(emails=EMAILS, webhook_url=HOOK), False),  # no outcome asked for
            (Notifications(on_success=True, on_failure=True), False),  # no channel
        ],
    )
    def test_settings_are_kept_only_when_they_may_notify(self, settings: Notifications, kept: bool) -> None:
        assert keeps(settings) is kept


class TestMessage:
    def test_the_notice_of_a_failure_carries_its_error(self) -> None:
        notice = failed_notice()
        assert (notice.run, notice.name, notice.status, notice.error) == (
            "12.3",
            "Nightly",
            RunStatus.FAILED,
            "the SFTP server could not be reached",
        )
        assert notice.duration == timedelta(minutes=3, seconds=5)

    def test_an_ended_run_that_did_not_fail_has_no_error(self) -> None:
        ended = RunEndedPayload(job_id=12, run_id=4, counts=COUNTS, started_at=T0, finished_at=T0)
        assert job_run_notice("Nightly", RunStatus.SUCCEEDED, ended).error is None

    def test_subject(self) -> None:
        assert email_subject(failed_notice()) == 'Connect: job 12.3 "Nightly" failed'

    def test_the_log_link_is_the_gateways_log_route(self) -> None:
        assert link(PUBLIC, failed_notice()) == "https://connect.example.com/api/v1/runs/12.3/log"

    def test_email_text_names_run_status_counts_start_duration_error_and_log(self) -> None:
        assert email_text(failed_notice(), PUBLIC).splitlines() == [
            'Run 12.3 of job "Nightly" failed.',
            "",
            "Started: 2025-03-01 09:30:00 UTC",
            "Duration: 3 min 5 s",
            "Rows read: 100",
            "Inserted: 90",
            "Updated: 5",
            "Unchanged: 3",
            "Rejected: 2",
            "Error: the SFTP server could not be reached",
            "",
            "Log: https://connect.example.com/api/v1/runs/12.3/log",
        ]

    def test_the_start_is_told_in_utc(self) -> None:
        notice = failed_notice().model_copy(update={"started_at": T0.astimezone(timezone(timedelta(hours=2)))})
        assert "Started: 2025-03-01 09:30:00 UTC" in email_text(notice, PUBLIC)

    def test_the_webhook_body_holds_the_same_facts(self) -> None:
        body = json.loads(webhook_body(failed_notice(), PUBLIC))
        assert body == {
            "kind": "job",
            "id": 12,
            "run_id": 3,
            "run": "12.3",
            "name": "Nightly",
            "status": "failed",
            "counts": COUNTS.model_dump(mode="json"),
            "started_at": "2025-03-01T09:30:00Z",
            "finished_at": "2025-03-01T09:33:05Z",
            "duration_s": 185.0,
            "error": "the SFTP server could not be reached",
            "log_url": "https://connect.example.com/api/v1/runs/12.3/log",
        }

    @pytest.mark.parametrize(
        ("duration", "text"),
        [
            (timedelta(0), "0 s"),
            (timedelta(seconds=45.4), "45 s"),
            (timedelta(minutes=3, seconds=5), "3 min 5 s"),
            (timedelta(hours=2, seconds=7), "2 h 0 min 7 s"),
        ],
    )
    def test_durations(self, duration: timedelta, text: str) -> None:
        assert format_duration(duration) == text

    def test_a_clock_that_went_back_gives_no_negative_duration(self) -> None:
        notice = failed_notice().model_copy(update={"finished_at": T0 - timedelta(seconds=1)})
        assert notice.duration == timedelta(0)


def group_after(*member_runs: int) -> GroupState:
    """Group 7 of jobs 1, 2 and 3 in its run 1, its first members requested as runs `member_runs`."""
    history = [group_created(), group_run_requested(1)]
    history += [member_requested(1, i, i + 1, run_id, i + 2) for i, run_id in enumerate(member_runs)]
    state = fold(history)
    assert state is not None
    return state


def group_ended(status: RunStatus, error: str | None = None, **failed: int) -> GroupRunEndedPayload:
    finished_at = T0 + timedelta(minutes=12)
    return GroupRunEndedPayload(
        group_id=GROUP, run_id=1, status=status, started_at=T0, finished_at=finished_at, error=error, **failed
    )


def failed_group_notice() -> GroupRunNotice:
    ended = group_ended(RunStatus.FAILED, "the file was not found", failed_job_id=2, failed_run_id=9)
    return group_run_notice(group_after(4, 9), ended, RunStatus.FAILED)


class TestGroupRunMessage:
    def test_names_the_group_run_and_each_member_run_with_how_it_ended(self) -> None:
        notice = failed_group_notice()

        assert (notice.kind, notice.run, notice.name, notice.status, notice.error) == (
            "group",
            f"{GROUP}.1",
            "Morning loads",
            RunStatus.FAILED,
            "the file was not found",
        )
        assert [str(member) for member in notice.members] == ["1.4 succeeded", "2.9 failed", "3 not started"]

    @pytest.mark.parametrize(
        ("member_runs", "last", "status", "members"),
        [
            ((4, 9, 2), RunStatus.SUCCEEDED, RunStatus.SUCCEEDED, ["1.4 succeeded", "2.9 succeeded", "3.2 succeeded"]),
            ((4,), RunStatus.STOPPED, RunStatus.STOPPED, ["1.4 stopped", "2 not started", "3 not started"]),
            ((4,), RunStatus.SKIPPED, RunStatus.FAILED, ["1.4 skipped", "2 not started", "3 not started"]),
            ((4, 9), RunStatus.SUCCEEDED, RunStatus.FAILED, ["1.4 succeeded", "2.9 succeeded", "3 not started"]),
            ((), RunStatus.SUCCEEDED, RunStatus.FAILED, ["1 not started", "2 not started", "3 not started"]),
        ],
        ids=["all succeeded", "stopped", "member skipped", "next could not start", "first could not start"],
    )
    def test_members_before_the_last_started_succeeded_and_the_rest_never_started(
        self, member_runs: tuple[int, ...], last: RunStatus, status: RunStatus, members: list[str]
    ) -> None:
        notice = group_run_notice(group_after(*member_runs), group_ended(status), last)
        assert [str(member) for member in notice.members] == members

    def test_subject(self) -> None:
        assert email_subject(failed_group_notice()) == f'Connect: group {GROUP}.1 "Morning loads" failed'

    def test_the_link_is_the_gateways_group_run_route(self) -> None:
        assert link(PUBLIC, failed_group_notice()) == f"https://connect.example.com/api/v1/groups/{GROUP}/runs/1"

    def test_email_text_names_run_status_start_duration_members_error_and_link(self) -> None:
        assert email_text(failed_group_notice(), PUBLIC).splitlines() == [
            f'Run {GROUP}.1 of group "Morning loads" failed.',
            "",
            "Started: 2025-03-01 09:30:00 UTC",
            "Duration: 12 min 0 s",
            "Members:",
            "  1.4 succeeded",
            "  2.9 failed",
            "  3 not started",
            "Error: the file was not found",
            "",
            f"Group run: https://connect.example.com/api/v1/groups/{GROUP}/runs/1",
        ]

    def test_the_webhook_body_holds_the_same_facts(self) -> None:
        body = json.loads(webhook_body(failed_group_notice(), PUBLIC))
        assert body == {
            "kind": "group",
            "id": GROUP,
            "run_id": 1,
            "run": f"{GROUP}.1",
            "name": "Morning loads",
            "status": "failed",
            "members": [
                {"job_id": 1, "run_id": 4, "status": "succeeded"},
                {"job_id": 2, "run_id": 9, "status": "failed"},
                {"job_id": 3, "run_id": None, "status": None},
            ],
            "started_at": "2025-03-01T09:30:00Z",
            "finished_at": "2025-03-01T09:42:00Z",
            "duration_s": 720.0,
            "error": "the file was not found",
            "group_run_url": f"https://connect.example.com/api/v1/groups/{GROUP}/runs/1",
        }

    @pytest.mark.parametrize("notice", [failed_notice(), failed_group_notice()], ids=["job", "group"])
    def test_each_kind_of_notice_survives_its_stored_form(self, notice: RunNotice | GroupRunNotice) -> None:
        assert NOTICES.validate_json(notice.model_dump_json()) == notice


class TestSignature:
    def test_matches_an_hmac_sha256_of_timestamp_dot_body_computed_from_rfc_2104(self) -> None:
        key, body = b"k" * 32, webhook_body(failed_notice(), PUBLIC)
        assert signature(key, "1740821400", body) == f"sha256={rfc2104_hmac_sha256(key, b'1740821400.' + body)}"

    def test_agrees_with_the_standard_library(self) -> None:
        assert signature(b"key", "7", b"{}") == "sha256=" + hmac.HMAC(b"key", b"7.{}", "sha256").hexdigest()

    def test_changes_with_the_timestamp_the_body_and_the_key(self) -> None:
        variants = {
            signature(b"key-1", "1", b"{}"),
            signature(b"key-1", "2", b"{}"),
            signature(b"key-1", "1", b"{ }"),
            signature(b"key-2", "1", b"{}"),
        }
        assert len(variants) == 4


def rfc2104_hmac_sha256(key: bytes, message: bytes) -> str:
    """HMAC by its definition: H((K ^ opad) || H((K ^ ipad) || m)), the key zero-padded to the block size."""
    block = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in block) + inner).hexdigest()


class TestDeliveryOutcome:
    @pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
    def test_2xx_is_delivered(self, code: int) -> None:
        assert http_attempt(code) == DELIVERED

    @pytest.mark.parametrize("code", [400, 401, 403, 404, 410, 413, 422])
    def test_other_4xx_refuse_for_good(self, code: int) -> None:
        assert http_attempt(code) == Attempt(problem=f"the receiver answered HTTP {code}", permanent=True)

    @pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504, 301, 302, 100])
    def test_timeouts_throttles_server_errors_and_redirects_are_retried(self, code: int) -> None:
        assert http_attempt(code) == Attempt(problem=f"the receiver answered HTTP {code}", permanent=False)

    @pytest.mark.parametrize(
        ("attempt", "attempts", "step"),
        [
            (DELIVERED, 1, "delivered"),
            (DELIVERED, 8, "delivered"),
            (Attempt(problem="HTTP 500"), 1, "retry"),
            (Attempt(problem="HTTP 500"), 7, "retry"),
            (Attempt(problem="HTTP 500"), 8, "failed"),  # out of attempts
            (Attempt(problem="HTTP 404", permanent=True), 1, "failed"),
        ],
    )
    def test_next_step(self, attempt: Attempt, attempts: int, step: str) -> None:
        assert next_step(attempt, attempts, max_attempts=8) == step
