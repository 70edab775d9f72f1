"""Draw the dashboard's key panels from a real Prometheus (`make up OBS=1` prints its address) into PNG files.

    .venv/bin/python deploy/prometheus/plot_panels.py --prometheus http://127.0.0.1:PORT --minutes 15 --out docs/img

The queries read the same metrics as the dashboard's panels of those names (`deploy/grafana/dashboard.py`), over
windows suited to a short local run rather than the dashboard's; the figures in `docs/operations.md` were drawn
by this script from a real local run.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

# (file, title, unit, PromQL, legend label)
PANELS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "runs_by_status",
        "Runs ended per minute, by status",
        "runs/min",
        "sum by (status) (rate(connect_runs_finished_total[1m])) * 60",
        "{status}",
    ),
    (
        "throughput",
        "Rows per second loaded or written, by job type",
        "rows/s",
        "sum by (job_type) (rate(connect_run_rows_total[1m]))",
        "{job_type}",
    ),
    (
        "run_duration",
        "Run duration p95, by job type",
        "seconds",
        "histogram_quantile(0.95, sum by (le, job_type) (rate(connect_run_duration_seconds_bucket[2m])))",
        "{job_type}",
    ),
    (
        "http_latency",
        "Gateway latency p95, by route",
        "seconds",
        "topk(6, histogram_quantile(0.95, sum by (le, route) "
        "(rate(connect_http_request_duration_seconds_bucket[2m]))))",
        "{route}",
    ),
    (
        "lags",
        "Consumer lag, by group",
        "records",
        "sum by (group) (connect_consumer_lag)",
        "{group}",
    ),
    (
        "command_latency",
        "Command latency p95, by type",
        "seconds",
        "histogram_quantile(0.95, sum by (le, type) (rate(connect_command_latency_seconds_bucket[2m])))",
        "{type}",
    ),
)


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as answer:
        body = json.load(answer)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus refused the query {expr!r}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def draw(prometheus: str, minutes: float, out: Path) -> list[Path]:
    end = time.time()
    start = end - minutes * 60
    step = max(2.0, minutes * 60 / 300)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, title, unit, expr, legend in PANELS:
        series = query_range(prometheus, expr, start, end, step)
        figure, axes = plt.subplots(figsize=(8, 3.2), dpi=100)
        for one in series:
            times = [datetime.fromtimestamp(float(t), UTC) for t, _ in one["values"]]
            values = [float(v) for _, v in one["values"]]
            axes.plot(times, values, label=legend.format_map(_Labels(one["metric"])))
        axes.set_title(title)
        axes.set_ylabel(unit)
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        axes.grid(alpha=0.3)
        if series:
            axes.legend(fontsize=7, loc="upper left")
        else:
            axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center")
        figure.tight_layout()
        path = out / f"{name}.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    return written


class _Labels(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prometheus", required=True, help="Prometheus' address, e.g. http://127.0.0.1:9090")
    parser.add_argument("--minutes", type=float, default=15.0, help="how far back to draw")
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="folder for the PNG files")
    args = parser.parse_args()
    for path in draw(args.prometheus.rstrip("/"), args.minutes, args.out):
        print(path)


if __name__ == "__main__":
    main()
