"""The runner's tables in the audience database: ledger, attempts (with the requests the retry poller keeps),
stop requests, rejects, archive steps still to do, outbox, consumer offsets. Changes are additive (`ADD COLUMN IF
NOT EXISTS`), so a database of an older runner is upgraded in place."""

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

# The latest attempt's runner and start, its heartbeat (NULL once the run ended) and the request's ids, so the
# reaper can end a run without its request. Rows of older runners get the upgrade's time as their heartbeat:
# a run left unfinished then is reaped `abandon_after_s` later; those of ended runs are cleared at once.
ATTEMPTS_DDL = """
ALTER TABLE run_attempts
    ADD COLUMN IF NOT EXISTS runner         text,
    ADD COLUMN IF NOT EXISTS started_at     timestamptz,
    ADD COLUMN IF NOT EXISTS heartbeat_at   timestamptz DEFAULT now(),
    ADD COLUMN IF NOT EXISTS request_id     uuid,
    ADD COLUMN IF NOT EXISTS correlation_id uuid;
CREATE INDEX IF NOT EXISTS run_attempts_heartbeat ON run_attempts (heartbeat_at) WHERE heartbeat_at IS NOT NULL;
UPDATE run_attempts a SET heartbeat_at = NULL
WHERE a.heartbeat_at IS NOT NULL
  AND EXISTS (SELECT 1 FROM run_ledger l WHERE l.job_id = a.job_id AND l.run_id = a.run_id);
CREATE TABLE IF NOT EXISTS run_stops (
    job_id       bigint      NOT NULL,
    run_id       bigint      NOT NULL,
    requested_at timestamptz NOT NULL,
    actor        text        NOT NULL,
    PRIMARY KEY (job_id, run_id)
);
"""

# How many of the run's attempts failed transiently, and, while it waits for the next one, when that begins.
RETRIES_DDL = """
ALTER TABLE run_attempts
    ADD COLUMN IF NOT EXISTS failed_attempts int NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS retry_at        timestamptz;
"""

# The request of a run the retry poller owns (from its first failed attempt until it ends), which it begins the
# run's later attempts from; the index holds those runs only. Runs that began waiting under an older runner get
# theirs when their request (never committed by that runner) is redelivered.
POLLED_DDL = """
ALTER TABLE run_attempts ADD COLUMN IF NOT EXISTS request bytea;
CREATE INDEX IF NOT EXISTS run_attempts_polled ON run_attempts (job_id, run_id) WHERE request IS NOT NULL;
"""

# The archive step of a run that ended, from the transaction ending it until the step is done (`PendingArchive`).
ARCHIVES_DDL = """
CREATE TABLE IF NOT EXISTS run_archives (
    job_id      bigint   NOT NULL,
    run_id      bigint   NOT NULL,
    remote_path text     NOT NULL,
    companions  text[]   NOT NULL,
    stamp       bigint[] NOT NULL,
    folder      text     NOT NULL,
    prefix      text     NOT NULL,
    move        boolean  NOT NULL,
    PRIMARY KEY (job_id, run_id)
);
"""

# The run's request and when its step was kept, so the reaper's sweep can carry out a step no request brings back
# (a run the retry poller ended: its request was committed long before). Rows kept before these columns have no
# request: only a redelivered request finishes them.
ARCHIVE_SWEEP_DDL = """
ALTER TABLE run_archives
    ADD COLUMN IF NOT EXISTS request    bytea,
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS run_archives_created ON run_archives (created_at) WHERE request IS NOT NULL;
"""

# Where an incremental export's next run starts (ADR 0012): rows modified since `since`, kept by the transaction
# that ends the job's last successful export.
EXPORT_MARKS_DDL = """
CREATE TABLE IF NOT EXISTS export_marks (
    job_id bigint      PRIMARY KEY,
    run_id bigint      NOT NULL,
    since  timestamptz NOT NULL
);
"""

# Which analytics feed deliveries a job has loaded (ADR 0013): the delivery's key and the identity (its manifest's
# SHA-256) of the version loaded, kept by the transaction that loads it.
FEED_DELIVERIES_DDL = """
CREATE TABLE IF NOT EXISTS feed_deliveries (
    job_id       bigint      NOT NULL,
    delivery     text        NOT NULL,
    identity     text        NOT NULL,
    run_id       bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, delivery)
);
"""

RUNNER_DDL = (
    LEDGER_DDL
    + ATTEMPTS_DDL
    + RETRIES_DDL
    + POLLED_DDL
    + ARCHIVES_DDL
    + ARCHIVE_SWEEP_DDL
    + OUTBOX_DDL
    + OFFSETS_DDL
    + EXPORT_MARKS_DDL
    + FEED_DELIVERIES_DDL
)
