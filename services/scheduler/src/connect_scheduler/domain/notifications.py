"""Notifications of a run's end (spec §7.5): which ended runs notify which channels, the message they carry,
the webhook signature, and what a failed delivery leads to.

A run notifies when its settings ask for its outcome: *succeeded* by `on_success`, *failed* and *stopped* by
`on_failure`; a *skipped* run never ran and notifies no one. Each channel is one delivery: one email to all of
the addresses, one POST to the webhook. The message is built from a `RunNotice`, the facts of the ended run,
so that group runs can reuse the same builders.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from connect_events import Notifications, RunCounts, RunEndedPayload, RunFailedPayload, RunStatus, run_key

Channel = Literal["email", "webhook"]
Step = Literal["delivered", "retry", "failed"]

# Which setting asks for which terminal status; a skipped run is absent: it never ran.
ASKED_BY: dict[RunStatus, Literal["on_success", "on_failure"]] = {
    RunStatus.SUCCEEDED: "on_success",
    RunStatus.FAILED: "on_failure",
    RunStatus.STOPPED: "on_failure",
}
SIGNATURE_SCHEME = "sha256"
RETRIED_CLIENT_ERRORS = frozenset({408, 429})  # a timeout and a throttle: the receiver may take it later
COUNT_LABELS = (
    ("rows_read", "Rows read"),
    ("inserted", "Inserted"),
    ("updated", "Updated"),
    ("unchanged", "Unchanged"),
    ("rejected", "Rejected"),
)


class RunNotice(BaseModel):
    """The facts a notification tells about one ended run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["job"] = "job"  # group runs join here
    id: int
    run_id: int
    name: str
    status: RunStatus
    counts: RunCounts
    started_at: datetime
    finished_at: datetime
    error: str | None = None

    @property
    def run(self) -> str:
        """The run's display id, `ID.RunID`."""
        return run_key(self.id, self.run_id)

    @property
    def duration(self) -> timedelta:
        """From start to end; never negative, whatever clocks the runner had."""
        return max(self.finished_at - self.started_at, timedelta(0))


@dataclass(frozen=True)
class Attempt:
    """How one try to deliver went: delivered (no problem), or a problem in our words, permanent when trying
    again cannot help (the receiver refused the message itself)."""

    problem: str | None = None
    permanent: bool = False


DELIVERED = Attempt()


def keeps(settings: Notifications) -> bool:
    """Whether a run requested with `settings` may notify at all, so its settings are worth keeping."""
    return (settings.on_success or settings.on_failure) and bool(settings.emails or settings.webhook_url)


def deliveries(settings: Notifications, status: RunStatus) -> list[tuple[Channel, tuple[str, ...]]]:
    """The deliveries a run that ended `status` owes: (channel, its target: the addresses, or the URL)."""
    asked_by = ASKED_BY.get(status)
    if asked_by is None or not getattr(settings, asked_by):
        return []
    owed: list[tuple[Channel, tuple[str, ...]]] = []
    if settings.emails:
        owed.append(("email", settings.emails))
    if settings.webhook_url:
        owed.append(("webhook", (settings.webhook_url,)))
    return owed


def job_run_notice(name: str, status: RunStatus, ended: RunEndedPayload) -> RunNotice:
    """The notice of a job's run that ended `status`; a failure brings its error."""
    return RunNotice(
        id=ended.job_id,
        run_id=ended.run_id,
        name=name,
        status=status,
        counts=ended.counts,
        started_at=ended.started_at,
        finished_at=ended.finished_at,
        error=ended.error if isinstance(ended, RunFailedPayload) else None,
    )


def log_url(public_url: str, notice: RunNotice) -> str:
    """Where the gateway serves the run's execution log."""
    return f"{public_url.rstrip('/')}/api/v1/runs/{notice.run}/log"


def email_subject(notice: RunNotice) -> str:
    """E.g. `Connect: job 12.3 "Nightly" failed`."""
    return f'Connect: {notice.kind} {notice.run} "{notice.name}" {notice.status.value}'


def email_text(notice: RunNotice, public_url: str) -> str:
    """The plain-text body: what ended how, when, for how long, its counts, its error and its log."""
    lines = [
        f'Run {notice.run} of {notice.kind} "{notice.name}" {notice.status.value}.',
        "",
        f"Started: {notice.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
        f"Duration: {format_duration(notice.duration)}",
        *(f"{label}: {getattr(notice.counts, field)}" for field, label in COUNT_LABELS),
    ]
    if notice.error is not None:
        lines.append(f"Error: {notice.error}")
    return "\n".join([*lines, "", f"Log: {log_url(public_url, notice)}", ""])


def webhook_body(notice: RunNotice, public_url: str) -> bytes:
    """The JSON document POSTed to a webhook: the notice's facts, the run's display id, its duration in
    seconds and its log link."""
    facts = notice.model_dump(mode="json")
    facts.update(run=notice.run, duration_s=notice.duration.total_seconds(), log_url=log_url(public_url, notice))
    return json.dumps(facts, separators=(",", ":"), ensure_ascii=False).encode()


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 under `key` of the timestamp header's value, a `.` and the raw body, so a
    receiver can refuse a replayed old message as well as a changed one."""
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}={digest}"


def http_attempt(status_code: int) -> Attempt:
    """A webhook's answer: 2xx delivered; any other 4xx but 408 and 429 refuses the message for good; the
    rest (5xx, 408, 429, a redirect, which is not followed) may pass later."""
    if 200 <= status_code < 300:
        return DELIVERED
    permanent = 400 <= status_code < 500 and status_code not in RETRIED_CLIENT_ERRORS
    return Attempt(problem=f"the receiver answered HTTP {status_code}", permanent=permanent)


def next_step(attempt: Attempt, attempts: int, max_attempts: int) -> Step:
    """After the `attempts`-th try: done, try again later, or give up (refused for good, or out of tries)."""
    if attempt.problem is None:
        return "delivered"
    if attempt.permanent or attempts >= max_attempts:
        return "failed"
    return "retry"


def format_duration(duration: timedelta) -> str:
    """E.g. `45 s`, `3 min 5 s`, `2 h 0 min 7 s`, to the second."""
    seconds = round(duration.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min {seconds} s"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
