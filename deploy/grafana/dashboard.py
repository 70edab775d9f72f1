"""The "Connect" Grafana dashboard, built as code with grafana-foundation-sdk and reviewed like code.

    .venv/bin/python deploy/grafana/dashboard.py            # writes deploy/grafana/dashboards/connect.json
    .venv/bin/python deploy/grafana/dashboard.py --check    # exit 1 when the checked-in JSON is not what this builds

Every panel reads the metrics the services export (README, Operations); a test checks that each one used here is
exported by a running stack, and that the checked-in JSON is what this file builds.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DataSourceRef

OUTPUT = Path(__file__).with_name("dashboards") / "connect.json"
UID = "connect-overview"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


def p95(histogram: str, by: str, window: str, selector: str = "") -> str:
    """The 95th percentile of a histogram over `window`, per `by` labels."""
    labels = ", ".join(["le", *([by] if by else [])])
    return f"histogram_quantile(0.95, sum by ({labels}) (rate({histogram}_bucket{selector}[{window}])))"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    queries: tuple[Query, ...]
    description: str
    kind: str = "timeseries"  # or "stat"
    width: int = 12


ROWS: tuple[tuple[str, tuple[Chart, ...]], ...] = (
    (
        "Runs",
        (
            Chart(
                "Runs ended, by status",
                "short",
                (
                    Query(
                        'sum by (status) (increase(connect_runs_finished_total{job_type=~"$job_type"}[5m]))',
                        "{{status}}",
                    ),
                ),
                "Runs that ended in the last five minutes, per status (succeeded, failed, stopped, skipped).",
            ),
            Chart(
                "Runs running and queued",
                "short",
                (
                    Query('sum(connect_runs_running{job_type=~"$job_type"})', "running"),
                    Query('sum(connect_runs_queued{job_type=~"$job_type"})', "queued"),
                ),
                "Open runs from the catalog's read model: the queue's depth and the runs being executed.",
            ),
            Chart(
                "Oldest running run",
                "s",
                (Query("max(connect_run_oldest_running_seconds)", "age"),),
                "Age of the oldest running run; a run stuck running shows here first.",
                kind="stat",
                width=6,
            ),
            Chart(
                "Failure ratio (1 h)",
                "percentunit",
                (Query('max(connect_stats_failure_ratio{window="1h"})', "worst job type"),),
                "Failed over ended runs in the last hour, for the job type that fails most (stream statistics).",
                kind="stat",
                width=6,
            ),
            Chart(
                "Run duration p95, by job type",
                "s",
                (
                    Query(
                        p95("connect_run_duration_seconds", "job_type", "15m", '{job_type=~"$job_type"}'),
                        "{{job_type}}",
                    ),
                    Query(
                        'max by (job_type) (connect_stats_run_duration_seconds{quantile="0.95"})', "{{job_type}} (24 h)"
                    ),
                ),
                "The 95th percentile of an ended run's last attempt, over 15 minutes and (stream statistics) 24 hours.",
                width=12,
            ),
        ),
    ),
    (
        "Throughput",
        (
            Chart(
                "Rows per second, by job type",
                "rowsps",
                (Query('sum by (job_type) (rate(connect_run_rows_total{job_type=~"$job_type"}[5m]))', "{{job_type}}"),),
                "Rows read by imports and written by exports, counted when their runs end.",
            ),
            Chart(
                "Bytes per second, by job type",
                "Bps",
                (
                    Query(
                        'sum by (job_type) (rate(connect_run_bytes_total{job_type=~"$job_type"}[5m]))', "{{job_type}}"
                    ),
                ),
                "Bytes transferred by ended runs.",
            ),
            Chart(
                "Rows per second of run time, top jobs",
                "rowsps",
                (Query("topk(10, connect_stats_rows_per_second)", "job {{job_id}}"),),
                "Each job's rows over its run time, runs ended in the last hour (stream statistics).",
                width=24,
            ),
        ),
    ),
    (
        "Failures and rejects",
        (
            Chart(
                "Failure ratio, by job type",
                "percentunit",
                (
                    Query('connect_stats_failure_ratio{window="1h"}', "{{job_type}} 1 h"),
                    Query('connect_stats_failure_ratio{window="24h"}', "{{job_type}} 24 h"),
                ),
                "Failed over ended runs per job type, over one hour and 24 hours (stream statistics).",
            ),
            Chart(
                "Rejected rows, by reason",
                "short",
                (
                    Query(
                        'sum by (reason) (increase(connect_run_rejects_by_reason_total{job_type=~"$job_type"}[15m]))',
                        "{{reason}}",
                    ),
                ),
                "Rows rejected in the last 15 minutes, by the reason the run logged.",
            ),
        ),
    ),
    (
        "Scheduler and commands",
        (
            Chart(
                "Scheduler lateness p95",
                "s",
                (Query(p95("connect_scheduler_lateness_seconds", "kind", "10m"), "{{kind}}"),),
                "From a schedule's due time to the tick that fired it.",
            ),
            Chart(
                "Due backlog and fires",
                "short",
                (
                    Query("sum by (kind) (connect_scheduler_due_backlog)", "backlog {{kind}}"),
                    Query("sum by (outcome) (increase(connect_scheduler_fires_total[5m]))", "fired: {{outcome}}"),
                ),
                "Due rows a tick left for later, and what the ticks recorded.",
            ),
            Chart(
                "Command latency p95, by type",
                "s",
                (Query(p95("connect_command_latency_seconds", "type", "5m"), "{{type}}"),),
                "From a command's issue to the scheduler's decision.",
            ),
            Chart(
                "Commands refused, by code",
                "short",
                (
                    Query(
                        'sum by (outcome) (increase(connect_commands_total{outcome!="accepted"}[15m]))', "{{outcome}}"
                    ),
                ),
                "Commands the scheduler refused in the last 15 minutes, by refusal code.",
            ),
        ),
    ),
    (
        "Lags",
        (
            Chart(
                "Consumer lag, by group",
                "short",
                (Query("sum by (group) (connect_consumer_lag)", "{{group}}"),),
                "Records each consumer group has not handled yet.",
            ),
            Chart(
                "Projection and outbox lag p95",
                "s",
                (
                    Query(p95("connect_projection_lag_seconds", "topic", "5m"), "projection {{topic}}"),
                    Query(p95("connect_outbox_relay_lag_seconds", "", "5m"), "outbox relay"),
                ),
                "From an event's occurrence to the read models, and from a transaction to Kafka.",
            ),
            Chart(
                "Dead letters",
                "short",
                (Query("sum by (group) (increase(connect_dead_letters_total[1h]))", "{{group}}"),),
                "Records a consumer group gave up on in the last hour.",
            ),
            Chart(
                "Events projected per second",
                "short",
                (Query("sum by (topic) (rate(connect_events_projected_total[5m]))", "{{topic}}"),),
                "Events the catalog applied to the read models.",
            ),
        ),
    ),
    (
        "API",
        (
            Chart(
                "HTTP latency p95, by route",
                "s",
                (Query(p95("connect_http_request_duration_seconds", "route", "5m"), "{{route}}"),),
                "Gateway requests by route template (never ids).",
            ),
            Chart(
                "HTTP requests per second, by status",
                "reqps",
                (
                    Query(
                        "sum by (status) (rate(connect_http_request_duration_seconds_count[5m]))",
                        "{{status}}",
                    ),
                ),
                "All gateway answers, by status code; 5xx should stay at zero.",
            ),
        ),
    ),
)


def chart(spec: Chart, height: int = 8) -> timeseries.Panel | stat.Panel:
    panel = timeseries.Panel() if spec.kind == "timeseries" else stat.Panel()
    panel.title(spec.title).description(spec.description).unit(spec.unit).datasource(DATASOURCE)
    panel.height(height).span(spec.width)
    for index, query in enumerate(spec.queries):
        target = prometheus.Dataquery().expr(query.expr).legend_format(query.legend).ref_id(chr(ord("A") + index))
        panel.with_target(target)
    return panel


def build() -> dict[str, object]:
    """The dashboard as Grafana's JSON model."""
    board = (
        dashboard.Dashboard("Connect")
        .uid(UID)
        .description("Runs, throughput, failures, scheduler, lags and API latency of Connect")
        .tags(["connect"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(
            dashboard.QueryVariable("job_type")
            .label("Job type")
            .datasource(DATASOURCE)
            .query("label_values(connect_runs_requested_total, job_type)")
            .include_all(True)
            .all_value(".*")
            .multi(True)
        )
    )
    for title, charts in ROWS:
        board.with_row(dashboard.Row(title))
        for spec in charts:
            board.with_panel(chart(spec))
    model: dict[str, object] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return model


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the checked-in JSON instead of writing")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is not what {Path(__file__).name} builds: run it to regenerate", file=sys.stderr)
            raise SystemExit(1)
        return
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(OUTPUT)


if __name__ == "__main__":
    main()
