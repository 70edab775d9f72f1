"""Running schemathesis' engine and saying what it covered and found (failures with a curl that repeats them)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemathesis.core.failures import Failure
from schemathesis.core.result import Ok
from schemathesis.engine import events as engine_events
from schemathesis.engine import from_schema
from schemathesis.engine.statistic import Statistic

# Headers every request carries; they do not matter for reproducing a failure.
_TRANSPORT_HEADERS = {
    "user-agent",
    "accept",
    "accept-encoding",
    "connection",
    "content-length",
    "x-schemathesis-testcaseid",
}


@dataclass
class FuzzReport:
    """What the run covered (operations, requests by phase and answer) and what it found."""

    statistic: Statistic = field(default_factory=Statistic)
    operations: int = 0
    links: str = "none"
    requests_by_phase: Counter[str] = field(default_factory=Counter)
    seconds_by_phase: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    requests_by_operation: Counter[str] = field(default_factory=Counter)
    statuses_by_operation: dict[str, Counter[int]] = field(default_factory=dict)
    # The exact request behind each failing case, for a curl that repeats it byte for byte.
    failing_requests: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stop_reason: str = ""
    elapsed_s: float = 0.0
    output_config: Any = None

    @property
    def requests(self) -> int:
        return self.statistic.total_cases

    @property
    def failures(self) -> Mapping[str, Any]:
        """Unique failures by operation label, as the schemathesis CLI groups them."""
        return self.statistic.failures

    @property
    def passed(self) -> bool:
        return not self.failures and not self.errors and self.stop_reason == "completed"

    def record(self, phase: str, recorder: Any) -> None:
        """Count the requests of one scenario and keep the requests that failed a check."""
        self.statistic.on_scenario_finished(recorder)
        for case_id, node in recorder.cases.items():
            label = node.value.operation.label
            self.requests_by_phase[phase] += 1
            self.requests_by_operation[label] += 1
            interaction = recorder.interactions.get(case_id)
            if interaction is None:
                continue
            if interaction.response is not None:
                self.statuses_by_operation.setdefault(label, Counter())[interaction.response.status_code] += 1
            if any(check.failure_info is not None for check in recorder.checks.get(case_id, [])):
                self.failing_requests[case_id] = interaction.request

    def summary(self, settings: str) -> str:
        """Operations, requests by phase and by operation with the statuses answered, failures."""
        phases = ", ".join(
            f"{phase} {n} in {self.seconds_by_phase[phase]:.0f} s"
            for phase, n in sorted(self.requests_by_phase.items())
        )
        lines = [
            f"schemathesis fuzz run ({settings}; stateful links: {self.links})",
            f"  {len(self.requests_by_operation)} of {self.operations} operations, {self.requests} requests "
            f"({phases}) in {self.elapsed_s:.0f} s, {self.stop_reason}",
        ]
        for label, n in sorted(self.requests_by_operation.items()):
            statuses = sorted(self.statuses_by_operation.get(label, Counter()).items())
            lines.append(f"    {n:5d}  {label:38s} " + " ".join(f"{s}×{c}" for s, c in statuses))
        lines.append(f"  {self.statistic.total_failures} unique failures, {len(self.errors)} errors")
        return "\n".join(lines)

    def findings(self) -> str:
        """Each failure: operation, check, status, the response and a curl that repeats it (markdown)."""
        blocks: list[str] = []
        for label, groups in sorted(self.failures.items()):
            for group in groups.values():
                checks = ", ".join(sorted({_check_name(f) for f in group.failures}))
                status = group.response.status_code if group.response is not None else "-"
                request = self.failing_requests.get(group.case_id or "")
                curl = curl_command(request) if request is not None else group.code_sample
                text = group.format(index=None, curl=curl, config=self.output_config)
                blocks.append(f"## {label} — {checks} — {status}\n\n```\n{text.strip()}\n```\n")
        blocks += [f"## error\n\n```\n{error}\n```\n" for error in self.errors]
        return "\n".join(blocks)


def run(schema: Any) -> FuzzReport:
    """Run every enabled phase and collect what the schemathesis CLI would show."""
    report = FuzzReport(output_config=schema.config.output)
    report.operations = sum(isinstance(result, Ok) for result in schema.get_all_operations())
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, engine_events.ScenarioFinished) and event.is_test_scenario:
            report.record(event.phase.value, event.recorder)
            report.seconds_by_phase[event.phase.value] += event.elapsed_time
        elif isinstance(event, engine_events.PhaseStarted) and event.payload is not None:
            p = event.payload
            report.links = f"{p.transitions_selected} of {p.transitions_total}, {p.inferred_transitions} inferred"
        elif isinstance(event, engine_events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, engine_events.FatalError):
            raise event.exception
        elif isinstance(event, engine_events.EngineFinished):
            report.stop_reason = event.stop_reason.value
            if event.failures:
                report.statistic.record_run_check_failures(event.failures, label="run checks")
    report.elapsed_s = time.monotonic() - started
    return report


def curl_command(request: Any) -> str:
    """A curl sending exactly `request`; ANSI-C quoting keeps control characters and non-UTF-8 bytes."""
    parts = ["curl", "-X", request.method, _quote(request.uri.encode())]
    for name, values in request.headers.items():
        if name.lower() not in _TRANSPORT_HEADERS:
            # HTTP sends header values as latin-1.
            parts += ["-H", _quote(f"{name}: {values[0]}".encode("latin-1", "replace"))]
    if request.body:
        parts += ["--data-binary", _quote(request.body)]
    return " ".join(parts)


def _quote(raw: bytes) -> str:
    if all(_plain(b) for b in raw):
        return f"'{raw.decode()}'"
    return "$'" + "".join(chr(b) if _plain(b) else f"\\x{b:02x}" for b in raw) + "'"


def _plain(byte: int) -> bool:
    return 0x20 <= byte < 0x7F and byte not in b"'\\"


def _check_name(failure: Failure) -> str:
    return failure.checks[0] if failure.checks else failure.title or type(failure).__name__
