"""The runner's tables in the audience database: ledger, attempts, rejects, outbox, consumer offsets."""

from __future__ import annotations

from connect_runner.domain.statements import STAGING_SCHEMA
from connect_runtime.offsets import OFFSETS_DDL
from connect_runtime.outbox import OUTBOX_DDL

AUDIENCE_DATABASE = "audience"

LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS run_ledger (
    job_id         bigint      NOT NULL,
    run_id         bigint      NOT NULL,
    status         text        NOT NULL CHECK (status IN ('succeeded', 'failed', 'stopped')),
    counts         jsonb       NOT NULL,
    finished_at    timestamptz NOT NULL,
    terminal_event bytea       NOT NULL,
    PRIMARY KEY (job_id, run_id)
);
CREATE TABLE IF NOT EXISTS run_attempts (
    job_id   bigint NOT NULL,
    run_id   bigint NOT NULL,
    attempt  int    NOT NULL,
    next_seq int    NOT NULL,
    PRIMARY KEY (job_id, run_id)
);
CREATE TABLE IF NOT EXISTS run_rejects (
    job_id   bigint NOT NULL,
    run_id   bigint NOT NULL,
    line_no  bigint NOT NULL,
    reason   text   NOT NULL,
    raw_line text,
    PRIMARY KEY (job_id, run_id, line_no)
);
CREATE SCHEMA IF NOT EXISTS "{STAGING_SCHEMA}";
"""

RUNNER_DDL = LEDGER_DDL + OUTBOX_DDL + OFFSETS_DDL
