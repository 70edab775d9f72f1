"""The stream-statistics worker on the real broker, as a real process: run events in, `/stats` and `/metrics`
out; killed with SIGKILL, its successor rebuilds the tables from their changelogs and goes on counting, neither
losing nor counting twice what the killed one had done."""

from __future__ import annotations

import random
import signal
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from connect_devstack import _proc
from connect_devstack.services import Service
from connect_events import Event
from tests.polling import until
from tests.unit.catalog import catalog_builders as b

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(kafka_bootstrap: str, unique: str) -> Iterator[Service]:
    state = Path(tempfile.mkdtemp(prefix="connect-stats-"))
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "STATS_APP_ID": f"connect-stats-{unique}",
        "STATS_METRICS_PORT": str(_proc.free_port()),
    }
    service = Service("stats", state, env)
    service.start()
    yield service
    service.stop()


def url(worker: Service, path: str) -> str:
    return f"http://127.0.0.1:{worker.env['STATS_METRICS_PORT']}{path}"


async def get(worker: Service, path: str) -> httpx.Response | None:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return await client.get(url(worker, path))
    except httpx.TransportError:
        return None  # not listening yet


async def publish(producer: AIOKafkaProducer, events: list[Event]) -> None:
    for event in events:
        await producer.send_and_wait(event.TOPIC, event.model_dump_json().encode(), key=event.partition_key.encode())


def ended_runs(job_id: int, first: int, failed: int, succeeded: int) -> list[Event]:
    """Requests and ends of runs `first`, `first + 1`, ... of `job_id`, ended just now, `failed` of them failed."""
    started = datetime.now(UTC) - timedelta(seconds=90)
    events: list[Event] = []
    for i in range(failed + succeeded):
        run_id = first + i
        end = b.run_failed if i < failed else b.run_succeeded
        events += [b.run_requested(job_id=job_id, run_id=run_id), end(job_id=job_id, run_id=run_id, started_at=started)]
    return events


async def test_statistics_survive_a_killed_worker(worker: Service, producer: AIOKafkaProducer, unique: str) -> None:
    job_id = random.randrange(10**8, 10**9)
    job_type = "import_custom_table"
    # Other tests publish runs of this type to the same broker: the job's own figures are read from /stats.
    await publish(producer, ended_runs(job_id, 1, failed=1, succeeded=3))

    async def counted(n: int) -> bool:
        answer = await get(worker, "/stats")
        if answer is None or answer.status_code != 200:
            return False
        job = answer.json()["jobs"].get(str(job_id))
        return job is not None and job["runs_ended_1h"] == n

    await until(lambda: counted(4), timeout_s=60)
    before = await get(worker, "/stats")
    assert before is not None
    job = before.json()["jobs"][str(job_id)]
    assert (job["rows_per_second"], job["runs_failed_1h"]) == (pytest.approx(10 / 90.25), 1)
    metrics = await get(worker, "/metrics")
    assert metrics is not None
    assert f'connect_stats_rows_per_second{{job_id="{job_id}"}}' in metrics.text
    assert f'connect_stats_failure_ratio{{job_type="{job_type}",window="1h"}}' in metrics.text

    worker.kill(signal.SIGKILL)
    await publish(producer, ended_runs(job_id, 5, failed=1, succeeded=0))
    worker.start()
    await until(lambda: counted(5), timeout_s=90)
    after = await get(worker, "/stats")
    assert after is not None
    assert after.json()["jobs"][str(job_id)]["runs_failed_1h"] == 2  # the first worker's failure, and the new one
    ready = await get(worker, "/readyz")
    assert ready is not None
    assert ready.status_code == 200
