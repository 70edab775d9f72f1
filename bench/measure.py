"""What the benchmarks measure alike: a job's run through the API, a checkpoint before a timed part, the stages the
runner logged, and a process's peak memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import asyncpg
import httpx

RUN_TIMEOUT_S = 3600.0


async def run_job(api: httpx.AsyncClient, job_id: int) -> tuple[float, dict[str, object]]:
    """Run a job and wait for its terminal status; returns (seconds, run)."""
    began = time.perf_counter()
    answer = await api.post(f"/api/v1/jobs/{job_id}/run")
    if answer.status_code != 202:
        raise RuntimeError(f"run of job {job_id} refused ({answer.status_code}): {answer.text}")
    run = answer.json()["run"]
    while time.perf_counter() - began < RUN_TIMEOUT_S:
        got = await api.get(f"/api/v1/runs/{run}")
        if got.status_code == 200 and got.json()["status"] in ("succeeded", "failed", "stopped"):
            body: dict[str, object] = got.json()
            if body["status"] != "succeeded":
                raise RuntimeError(
                    f"run {run} ended {body['status']}: error_code={body.get('error_code')} error={body.get('error')}"
                )
            return time.perf_counter() - began, body
        await asyncio.sleep(0.05)
    raise RuntimeError(f"run {run} not ended after {RUN_TIMEOUT_S:.0f}s")


async def checkpoint(dsn: str) -> None:
    """Write out everything so far, so the next timed part starts from the same state as the other one."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def stage_times(log_file: Path, run: str) -> list[tuple[str, float]]:
    """The run's stages and how long each took, from the runner's log (its execution-log entries)."""
    stages: list[tuple[str, float]] = []
    for line in log_file.read_text().splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("run") == run and "duration_ms" in entry:
                stages.append((str(entry["stage"]), int(entry["duration_ms"]) / 1000))
    return stages


def reset_peak_memory(pid: int) -> bool:
    """Start VmHWM afresh (Linux: writing 5 to clear_refs); False where that is not allowed (the peak then is
    the process' peak since it started)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_mib(pid: int, field: str) -> float | None:
    """A `/proc/<pid>/status` memory field (VmHWM, VmRSS) in MiB, None when it cannot be read."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return None
