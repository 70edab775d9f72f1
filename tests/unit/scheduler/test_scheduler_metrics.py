"""The scheduler's metrics: commands by type and outcome with their wait, fires by outcome with their lateness."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY

from connect_events import CommandRejected, CommandRejectedPayload, RunJobNow, RunJobNowPayload
from connect_scheduler.domain.slots import Decision, Due, Slot
from connect_scheduler.metrics import observe_command, observe_fires
from tests.unit.scheduler.scheduler_builders import T0, meta


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_refused_command_is_counted_by_its_code_with_its_wait() -> None:
    command = RunJobNow(**meta(), payload=RunJobNowPayload(job_id=7))
    reply = CommandRejected.model_construct(payload=CommandRejectedPayload.model_construct(code="invalid_state"))
    counted = sample("connect_commands_total", type="job.run_now", outcome="invalid_state")
    waited = sample("connect_command_latency_seconds_sum", type="job.run_now")
    observe_command(command, reply, T0 + timedelta(seconds=2))
    assert sample("connect_commands_total", type="job.run_now", outcome="invalid_state") - counted == 1
    assert sample("connect_command_latency_seconds_sum", type="job.run_now") - waited == 2


def test_fires_are_counted_by_outcome_with_their_lateness() -> None:
    lateness = sample("connect_scheduler_lateness_seconds_sum", kind="job")
    fires = sample("connect_scheduler_fires_total", kind="job", outcome="requested")
    row = Due(7, Slot(fire_at=T0, due_at=T0, expires_at=None))
    observe_fires("job", [(row, Decision("requested"))], T0 + timedelta(seconds=3))
    assert sample("connect_scheduler_fires_total", kind="job", outcome="requested") - fires == 1
    assert sample("connect_scheduler_lateness_seconds_sum", kind="job") - lateness == 3
