"""JSON log lines: the service on every one, and the run and correlation id of the work in hand."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from connect_runtime.logs import configure_logging, log_context


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    configure_logging("runner", "INFO")
    out = io.StringIO()
    root.handlers[0].setStream(out)  # type: ignore[attr-defined]
    yield out
    root.handlers[:], root.level = saved, level


def records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_every_line_is_json_naming_the_service(lines: io.StringIO) -> None:
    logging.getLogger("asyncssh").warning("from a library")
    [record] = records(lines)
    assert (record["service"], record["logger"], record["message"]) == ("runner", "asyncssh", "from a library")


def test_a_context_names_the_run_on_every_line_inside_it_and_extra_wins(lines: io.StringIO) -> None:
    log = logging.getLogger("connect_runner")
    with log_context(run="12.3", correlation_id="c-1"):
        log.info("inside")
        log.info("own run", extra={"run": "12.4"})
    log.info("after")
    inside, own, after = records(lines)
    assert (inside["run"], inside["correlation_id"]) == ("12.3", "c-1")
    assert own["run"] == "12.4"
    assert "run" not in after and "correlation_id" not in after


async def test_concurrent_runs_keep_their_own_context(lines: io.StringIO) -> None:
    log = logging.getLogger("connect_runner")

    async def run(key: str) -> None:
        with log_context(run=key):
            for _ in range(3):
                await asyncio.sleep(0)
                log.info("step", extra={"expected": key})

    await asyncio.gather(run("1.1"), run("2.1"))
    assert all(record["run"] == record["expected"] for record in records(lines))
