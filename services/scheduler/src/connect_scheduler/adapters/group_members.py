"""Which group each job is in (`job_groups`: a job is in at most one group), and which group run each member
run belongs to (`group_member_runs`), both written in the transaction of the change they follow.

Membership is read and changed under a per-job transaction lock, so a group taking a job in and a command
deactivating, deleting or scheduling that job are decided one after the other, never both on stale facts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import asyncpg

from connect_runtime.db import Conn
from connect_scheduler.adapters.event_store import ConcurrencyError

GROUP_MEMBERS_DDL = """
CREATE TABLE IF NOT EXISTS job_groups (
    job_id   bigint PRIMARY KEY,
    group_id bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS job_groups_group_id ON job_groups (group_id);

CREATE TABLE IF NOT EXISTS group_member_runs (
    job_id       bigint NOT NULL,
    run_id       bigint NOT NULL,
    group_id     bigint NOT NULL,
    group_run_id bigint NOT NULL,
    PRIMARY KEY (job_id, run_id)
);
"""
# The two-key form of advisory locks is a key space of its own: no other lock of the service collides with it.
LOCK_JOB = "SELECT pg_advisory_xact_lock($1, $2)"
MEMBERSHIP_LOCK_CLASS = 7_100_007
GROUPS_OF = "SELECT job_id, group_id FROM job_groups WHERE job_id = ANY($1::bigint[])"
GROUP_OF = "SELECT group_id FROM job_groups WHERE job_id = $1"
LEAVE = "DELETE FROM job_groups WHERE group_id = $1"
JOIN = "INSERT INTO job_groups (job_id, group_id) VALUES ($1, $2)"
LINK_RUN = "INSERT INTO group_member_runs (job_id, run_id, group_id, group_run_id) VALUES ($1, $2, $3, $4)"
GROUP_RUN_OF = "SELECT group_id, group_run_id FROM group_member_runs WHERE job_id = $1 AND run_id = $2"
MEMBER_RUNS_AMONG = """
SELECT job_id, run_id FROM group_member_runs JOIN unnest($1::bigint[], $2::bigint[]) AS asked(job_id, run_id)
USING (job_id, run_id)
"""
MAX_BIGINT = 2**63 - 1
_INT4_KEYS = 2**31 - 1  # job ids beyond share a lock with a smaller one: more waiting, never less


async def lock_jobs(conn: Conn, job_ids: Iterable[int]) -> None:
    """Hold the membership lock of each job until the transaction ends (in id order, so two groups never
    deadlock)."""
    for key in sorted({job_id % _INT4_KEYS for job_id in job_ids}):
        await conn.execute(LOCK_JOB, MEMBERSHIP_LOCK_CLASS, key)


async def group_of(conn: Conn, job_id: int) -> int | None:
    """The group job `job_id` is in, if any, read under the job's membership lock."""
    if not 1 <= job_id <= MAX_BIGINT:
        return None  # names no job
    await lock_jobs(conn, [job_id])
    group_id: int | None = await conn.fetchval(GROUP_OF, job_id)
    return group_id


async def groups_of(conn: Conn, job_ids: Iterable[int]) -> Mapping[int, int]:
    """The group each of `job_ids` is in (jobs in none are absent); lock them first with `lock_jobs`."""
    ids = [job_id for job_id in job_ids if 1 <= job_id <= MAX_BIGINT]  # others name no job
    rows = await conn.fetch(GROUPS_OF, ids) if ids else []
    return {row["job_id"]: row["group_id"] for row in rows}


async def set_members(conn: Conn, group_id: int, members: Iterable[int]) -> None:
    """Make `members` the group's jobs (none: it has left them all, on delete)."""
    await conn.execute(LEAVE, group_id)
    try:
        await conn.executemany(JOIN, [(job_id, group_id) for job_id in members])
    except asyncpg.UniqueViolationError as exc:
        raise ConcurrencyError(f"a member of group {group_id} joined another group concurrently") from exc


async def link_run(conn: Conn, job_id: int, run_id: int, group_id: int, group_run_id: int) -> None:
    """Record that run `job_id.run_id` is a member run of group run `group_id.group_run_id`."""
    await conn.execute(LINK_RUN, job_id, run_id, group_id, group_run_id)


async def member_runs_among(conn: Conn, runs: Collection[tuple[int, int]]) -> set[tuple[int, int]]:
    """Those of `runs` (`(job_id, run_id)`) that are member runs of a group run, in one statement."""
    if not runs:
        return set()
    rows = await conn.fetch(MEMBER_RUNS_AMONG, [job for job, _ in runs], [run for _, run in runs])
    return {(row["job_id"], row["run_id"]) for row in rows}


async def group_run_of(conn: Conn, job_id: int, run_id: int) -> tuple[int, int] | None:
    """The group run (`group_id`, `group_run_id`) run `job_id.run_id` is a member run of, if any."""
    row = await conn.fetchrow(GROUP_RUN_OF, job_id, run_id)
    return None if row is None else (row["group_id"], row["group_run_id"])
