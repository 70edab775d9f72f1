"""DDL of the `scheduler` database: event store, what jobs need of their runs, job names, handled commands, id
counters, the run view, notifications, groups (names, members, member runs, due rows), outbox and offsets."""

from __future__ import annotations

from connect_runtime.offsets import OFFSETS_DDL
from connect_runtime.outbox import OUTBOX_DDL
from connect_scheduler.adapters.due import SCHEDULES_DDL
from connect_scheduler.adapters.group_members import GROUP_MEMBERS_DDL
from connect_scheduler.adapters.group_store import GROUP_NAMES_DDL
from connect_scheduler.adapters.job_store import JOB_RUNS_DDL
from connect_scheduler.adapters.notifications import NOTIFICATIONS_DDL

DATABASE = "scheduler"

EVENT_STORE_DDL = """
CREATE TABLE IF NOT EXISTS events (
    stream_id      text        NOT NULL,
    stream_version int         NOT NULL,
    event_id       uuid        NOT NULL UNIQUE,
    topic          text        NOT NULL,
    type           text        NOT NULL,
    data           jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, stream_version)
);
-- A job's own events without its run history: see event_store.load_without_runs.
CREATE INDEX IF NOT EXISTS events_without_runs ON events (stream_id, stream_version) WHERE type NOT LIKE 'run.%';

-- Job names are unique case-insensitively; one row per live (not deleted) job.
CREATE TABLE IF NOT EXISTS job_names (
    lower_name text   PRIMARY KEY,
    job_id     bigint NOT NULL UNIQUE
);

-- One row per command handled (accepted or refused), written with its reply: see adapters/handled_commands.py.
CREATE TABLE IF NOT EXISTS handled_commands (
    command_id uuid        PRIMARY KEY,
    handled_at timestamptz NOT NULL DEFAULT now()
);

-- Transactional id sequences: unlike a Postgres SEQUENCE, a rolled-back create gives its id back.
CREATE TABLE IF NOT EXISTS counters (
    name  text   PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('job_id', 0) ON CONFLICT (name) DO NOTHING;
"""

# Each run's status as read from connect.runs: see adapters/run_view.py.
RUN_STATUS_DDL = """
CREATE TABLE IF NOT EXISTS run_status (
    job_id     bigint      NOT NULL,
    run_id     bigint      NOT NULL,
    status     text        NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (job_id, run_id)
);
"""

SCHEDULER_DDL = (
    EVENT_STORE_DDL
    + JOB_RUNS_DDL
    + GROUP_NAMES_DDL
    + GROUP_MEMBERS_DDL
    + RUN_STATUS_DDL
    + NOTIFICATIONS_DDL
    + SCHEDULES_DDL
    + OUTBOX_DDL
    + OFFSETS_DDL
)
