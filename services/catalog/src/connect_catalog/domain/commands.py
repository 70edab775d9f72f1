"""Projection rule for the scheduler's replies: each command's outcome, for clients that were told "pending"."""

from __future__ import annotations

import json
from collections.abc import Sequence

from connect_catalog.domain.changes import Change, RecordCommandOutcome
from connect_events import CommandAccepted, CommandRejected, FieldError, ReplyEvent


def errors_json(errors: Sequence[FieldError]) -> str:
    """Field errors as a JSON array of `{"field", "message"}` objects."""
    return json.dumps([{"field": e.field, "message": e.message} for e in errors])


def project_reply(event: ReplyEvent) -> tuple[Change, ...]:
    """The command's outcome; the adapter keeps the first one recorded (the scheduler replies once)."""
    match event:
        case CommandAccepted(payload=p):
            accepted = RecordCommandOutcome(
                command_id=p.command_id,
                command_type=p.command_type,
                status="accepted",
                replied_at=event.occurred_at,
                target_type=p.target_type,
                target_id=p.target_id,
                target_version=p.target_version,
                run_id=p.run_id,
                errors_json=errors_json(p.errors),
            )
            return (accepted,)
        case CommandRejected(payload=p):
            rejected = RecordCommandOutcome(
                command_id=p.command_id,
                command_type=p.command_type,
                status="rejected",
                replied_at=event.occurred_at,
                code=p.code,
                message=p.message,
                errors_json=errors_json(p.errors),
                reason=p.reason,
            )
            return (rejected,)
    return ()
