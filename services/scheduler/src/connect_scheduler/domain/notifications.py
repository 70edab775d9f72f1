"""Notifications of a run's end (spec §7.5): which ended runs notify which channels, the message they carry,
the webhook signature, and what a failed delivery leads to.

A run notifies when its settings ask for its outcome: *succeeded* by `on_success`, *failed* and *stopped* by
`on_failure`; a *skipped* run never ran and notifies no one. Each channel is one delivery: one email to all of
the addresses, one POST to the webhook. The message is built from a notice, the facts of the ended run: a job
run's (`RunNotice`, with its counts) or a group run's (`GroupRunNotice`, with its members), which a group sends
once, after the group run ends (spec §7.5).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from connect_events import (
    GroupRunEndedPayload,
    Notifications,
    RunCounts,
    RunEndedPayload,
    RunFailedPayload,
    RunStatus,
    run_key,
)
from connect_scheduler.domain.groups import GroupRunState, GroupState

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
# Each kind of notice's link: its label in an email and its field in a webhook's body.
LINKS = {"job": ("Log", "log_url"), "group": ("Group run", "group_run_url")}


class Notice(BaseModel):
    """The facts every notification tells about one ended run, of a job or of a group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    run_id: int
    name: str
    status: RunStatus
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


class RunNotice(Notice):
    """A job's ended run, with its counts."""

    kind: Literal["job"] = "job"
    counts: RunCounts


class MemberNotice(BaseModel):
    """A member of an ended group run: its job, and its run and how that ended (None: it never started)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: int
    run_id: int | None = None
    status: RunStatus | None = None

    def __str__(self) -> str:
        """E.g. `12.3 succeeded`, `14 not started`."""
        if self.run_id is None or self.status is None:
            return f"{self.job_id} not started"
        return f"{run_key(self.job_id, self.run_id)} {self.status.value}"


class GroupRunNotice(Notice):
    """A group's ended run (`GroupID.RunID`), with its members in running order."""

    kind: Literal["group"] = "group"
    members: tuple[MemberNotice, ...]


AnyNotice = RunNotice | GroupRunNotice
NOTICES: TypeAdapter[AnyNotice] = TypeAdapter(Annotated[AnyNotice, Field(discriminator="kind")])


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


def group_run_notice(
    group: GroupState, ended: GroupRunEndedPayload, last_member: RunStatus = RunStatus.SUCCEEDED
) -> GroupRunNotice:
    """The notice of `group`'s run that ended as `ended` says, with every member it was requested with.

    A group run moves on only after a success, so every member run before the last one started succeeded; the
    last one ended `last_member` (the end that ended the group run, or a success when the next member could
    not start); the rest never started.
    """
    run = group.run
    assert run is not None and run.run_id == ended.run_id, "a group run that ran ends the group's last run"
    members = tuple(_member_notice(run, position, last_member) for position in range(len(run.members)))
    return GroupRunNotice(
        id=ended.group_id,
        run_id=ended.run_id,
        name=group.definition.name,
        status=ended.status,
        started_at=ended.started_at,
        finished_at=ended.finished_at,
        error=ended.error,
        members=members,
    )


def _member_notice(run: GroupRunState, position: int, last_member: RunStatus) -> MemberNotice:
    job_id = run.members[position]
    if position > run.position:
        return MemberNotice(job_id=job_id)
    status = last_member if position == run.position else RunStatus.SUCCEEDED
    return MemberNotice(job_id=job_id, run_id=run.member_runs[position], status=status)


def link(public_url: str, notice: AnyNotice) -> str:
    """Where the gateway serves what happened: a job run's execution log, or the group run."""
    base = public_url.rstrip("/")
    if isinstance(notice, GroupRunNotice):
        return f"{base}/api/v1/groups/{notice.id}/runs/{notice.run_id}"
    return f"{base}/api/v1/runs/{notice.run}/log"


def email_subject(notice: AnyNotice) -> str:
    """E.g. `Connect: job 12.3 "Nightly" failed`, `Connect: group 7.2 "Morning loads" succeeded`."""
    return f'Connect: {notice.kind} {notice.run} "{notice.name}" {notice.status.value}'


def email_text(notice: AnyNotice, public_url: str) -> str:
    """The plain-text body: what ended how, when, for how long, its counts (a job's) or its members (a
    group's), its error and its link."""
    lines = [
        f'Run {notice.run} of {notice.kind} "{notice.name}" {notice.status.value}.',
        "",
        f"Started: {notice.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
        f"Duration: {format_duration(notice.duration)}",
    ]
    if isinstance(notice, GroupRunNotice):
        lines += ["Members:", *(f"  {member}" for member in notice.members)]
    else:
        lines += [f"{label}: {getattr(notice.counts, field)}" for field, label in COUNT_LABELS]
    if notice.error is not None:
        lines.append(f"Error: {notice.error}")
    return "\n".join([*lines, "", f"{LINKS[notice.kind][0]}: {link(public_url, notice)}", ""])


def webhook_body(notice: AnyNotice, public_url: str) -> bytes:
    """The JSON document POSTed to a webhook: the notice's facts, the run's display id, its duration in
    seconds and its link (`log_url` of a job run, `group_run_url` of a group run)."""
    facts = notice.model_dump(mode="json")
    facts.update(run=notice.run, duration_s=notice.duration.total_seconds())
    facts[LINKS[notice.kind][1]] = link(public_url, notice)
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
