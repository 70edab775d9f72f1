"""A scheduler database of its own per test module, reset before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest

from connect_runtime.db import Conn
from connect_scheduler.bootstrap import prepare_database
from tests.databases import drop_databases

RESET = """
TRUNCATE events, job_runs, job_idempotency_keys, job_run_stops, job_names, outbox, consumer_offsets,
    handled_commands, run_status, job_schedules, notifications, run_notice_settings, job_groups, group_names,
    group_member_runs, group_schedules;
UPDATE counters SET value = 0;
"""


@pytest.fixture(scope="module")
async def scheduler_dsn(database_url: str) -> AsyncIterator[str]:
    name = f"sched_{uuid4().hex[:8]}"
    yield await prepare_database(database_url, name)
    await drop_databases(database_url, name)


@pytest.fixture(scope="module")
async def pool(scheduler_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(scheduler_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[Conn]:
    async with pool.acquire() as conn:
        await conn.execute(RESET)
        yield conn
