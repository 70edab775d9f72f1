-- Read models of the catalog database. The catalog service is their only writer; the gateway reads them.
-- Every table can be rebuilt from the event topics (offset 0).

CREATE TABLE IF NOT EXISTS processed_events (
    event_id uuid PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS tables (
    name        text PRIMARY KEY,           -- as defined (case kept); unique case-insensitively
    spec        jsonb       NOT NULL,       -- connect_events.TableSpec
    defined_at  timestamptz NOT NULL,
    defined_by  text        NOT NULL
);

-- Profile lists and PETs (issue 8, ADR 0011). A list's system columns are connect_events.SYSTEM_COLUMNS, the
-- same for every list, so only its custom columns are stored. Column additions follow the aggregate version.
CREATE TABLE IF NOT EXISTS lists (
    name        text PRIMARY KEY,           -- as defined (case kept); unique case-insensitively
    columns     jsonb       NOT NULL,       -- custom columns, in order: [connect_events.ColumnSpec]
    version     int         NOT NULL,       -- 1, plus one per column added
    defined_at  timestamptz NOT NULL,
    defined_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL        -- the last column added (or the definition)
);

CREATE TABLE IF NOT EXISTS pets (
    name        text PRIMARY KEY,           -- as defined (case kept); unique case-insensitively among PETs
    list_name   text        NOT NULL,       -- the list, as it was defined
    columns     jsonb       NOT NULL,       -- the PET's own columns (RIID_ besides), in order: [ColumnSpec]
    version     int         NOT NULL,
    defined_at  timestamptz NOT NULL,
    defined_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS pets_list_name ON pets (lower(list_name), lower(name));

-- Audiences (issue 9): a saved filter over a list and its PETs, replaced whole by each definition; a deleted one
-- is removed (its name may be defined again, at a later version).
CREATE TABLE IF NOT EXISTS audiences (
    key         text PRIMARY KEY,           -- the lower-cased name
    name        text        NOT NULL,       -- as defined
    list_name   text        NOT NULL,       -- the list, as it was defined
    spec        jsonb       NOT NULL,       -- connect_events.AudienceSpec
    version     int         NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  text        NOT NULL
);
CREATE INDEX IF NOT EXISTS audiences_list_name ON audiences (lower(list_name));

CREATE TABLE IF NOT EXISTS jobs (
    job_id         bigint PRIMARY KEY,
    name           text        NOT NULL,
    description    text        NOT NULL,
    job_type       text        NOT NULL,   -- settings.kind, e.g. import_custom_table
    state          text        NOT NULL,   -- active | inactive
    schedule_type  text        NOT NULL,   -- schedule.kind, e.g. on_demand
    definition     jsonb       NOT NULL,   -- connect_events.JobDefinition (holds no secret, only credential_ref)
    version        int         NOT NULL,   -- job aggregate version; clients send it back as expected_version
    expires_at     timestamptz,
    created_at     timestamptz NOT NULL,
    created_by     text        NOT NULL,
    updated_at     timestamptz NOT NULL,
    updated_by     text        NOT NULL,
    deleted        boolean     NOT NULL DEFAULT false,
    deleted_reason text,
    last_run_id    int                     -- previous run shown on the All jobs tab
);
-- Added with the job lifecycle (issue 7); ADD COLUMN IF NOT EXISTS upgrades a catalog created before it.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS errors jsonb NOT NULL DEFAULT '[]';  -- a draft's [{"field", "message"}]
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS previous_run_at timestamptz;  -- last_run_id's scheduled_for or request time
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS copied_from bigint;           -- the job this one is a copy of

-- The job's next fire, from whichever event said it last (job events on activation and edits, run events on
-- each scheduled fire). Apart from `jobs` because a run may be projected before its job (other topic), and
-- `as_of` keeps an older statement from replacing a newer one whatever order the topics are read in.
CREATE TABLE IF NOT EXISTS job_next_runs (
    job_id      bigint PRIMARY KEY,
    next_run_at timestamptz,               -- NULL: nothing scheduled (inactive, on demand, one time done, deleted)
    as_of       timestamptz NOT NULL       -- occurred_at of the event that said it
);

-- Who changed what and when, one entry per job event (the job's aggregate version).
CREATE TABLE IF NOT EXISTS job_history (
    job_id      bigint      NOT NULL,
    version     int         NOT NULL,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    what        text        NOT NULL,      -- created | copied | updated | activated | deactivated | deleted
    reason      text,                      -- deleted: user | expired
    copied_from bigint,                    -- copied: the job copied
    changed     jsonb       NOT NULL DEFAULT '[]',  -- updated: dotted paths of the definition that changed
    PRIMARY KEY (job_id, version)
);

CREATE TABLE IF NOT EXISTS runs (
    job_id            bigint      NOT NULL,
    run_id            int         NOT NULL,
    job_name          text        NOT NULL,
    status            text        NOT NULL,  -- queued | running | succeeded | failed | stopped | skipped
    trigger           text        NOT NULL,
    attempt           int         NOT NULL DEFAULT 0,  -- latest attempt that started (0: none yet)
    runner            text,                             -- the runner executing the latest attempt
    rows_read         bigint      NOT NULL DEFAULT 0,
    inserted          bigint      NOT NULL DEFAULT 0,
    updated           bigint      NOT NULL DEFAULT 0,
    unchanged         bigint      NOT NULL DEFAULT 0,
    rejected          bigint      NOT NULL DEFAULT 0,
    bytes_transferred bigint      NOT NULL DEFAULT 0,
    total_bytes       bigint,
    stage             text,
    error_code        text,
    error             text,
    requested_at      timestamptz NOT NULL,
    started_at        timestamptz,
    finished_at       timestamptz,
    duration_ms       bigint,
    PRIMARY KEY (job_id, run_id)
);
CREATE INDEX IF NOT EXISTS runs_requested_at ON runs (requested_at DESC);
CREATE INDEX IF NOT EXISTS runs_open ON runs (status) WHERE status IN ('queued', 'running');  -- the open-run gauges
ALTER TABLE runs ADD COLUMN IF NOT EXISTS scheduled_for timestamptz;  -- a scheduled fire: the time it stands for
ALTER TABLE runs ADD COLUMN IF NOT EXISTS group_id bigint;             -- a member run: its group run, shown as
ALTER TABLE runs ADD COLUMN IF NOT EXISTS group_run_id int;            -- GroupID.RunID
ALTER TABLE runs ADD COLUMN IF NOT EXISTS stop_requested boolean NOT NULL DEFAULT false;  -- asked before it ended
ALTER TABLE runs ADD COLUMN IF NOT EXISTS dry_run boolean NOT NULL DEFAULT false;  -- writes nothing (issue 8)
ALTER TABLE runs ADD COLUMN IF NOT EXISTS skipped bigint NOT NULL DEFAULT 0;     -- profile imports: rows not inserted
ALTER TABLE runs ADD COLUMN IF NOT EXISTS duplicates bigint NOT NULL DEFAULT 0;  -- earlier rows of a repeated key
ALTER TABLE runs ADD COLUMN IF NOT EXISTS filtered bigint NOT NULL DEFAULT 0;    -- analytics feeds: hits filtered out
ALTER TABLE runs ADD COLUMN IF NOT EXISTS job_type text;  -- settings.kind of the run's request (null: older rows)

CREATE TABLE IF NOT EXISTS run_log (
    job_id  bigint      NOT NULL,
    run_id  int         NOT NULL,
    seq     bigserial,
    at      timestamptz NOT NULL,
    level   text        NOT NULL,  -- INFO | WARN | ERROR
    message text        NOT NULL,
    PRIMARY KEY (job_id, run_id, seq)
);

-- The outcome of every command the scheduler answered (topic connect.replies), so a client whose write was
-- answered 202 "pending" can look it up by command id.
CREATE TABLE IF NOT EXISTS commands (
    command_id     uuid PRIMARY KEY,
    command_type   text        NOT NULL,  -- e.g. job.create
    status         text        NOT NULL,  -- accepted | rejected
    target_type    text,                  -- accepted: job | table | list | pet | group
    target_id      text,
    target_version int,
    run_id         int,                   -- accepted run-now: the run
    code           text,                  -- rejected: validation | not_found | conflict | invalid_state
    message        text,
    errors         jsonb       NOT NULL DEFAULT '[]',  -- [{"field", "message"}, ...]: rejected, or a draft's
    replied_at     timestamptz NOT NULL
);
ALTER TABLE commands ADD COLUMN IF NOT EXISTS reason text;  -- rejected: connect_events.RefusalReason

-- Groups (topic connect.groups, issue 7). A group's events travel in order on one partition, so its rows
-- follow its aggregate version; member runs and jobs live on other topics and are joined at read time.
CREATE TABLE IF NOT EXISTS groups (
    group_id        bigint PRIMARY KEY,
    name            text        NOT NULL,
    description     text        NOT NULL,
    schedule_type   text        NOT NULL,   -- schedule.kind, e.g. on_demand
    definition      jsonb       NOT NULL,   -- connect_events.GroupDefinition (members in running order)
    version         int         NOT NULL,   -- group aggregate version; clients send it back as expected_version
    expires_at      timestamptz,
    next_run_at     timestamptz,            -- NULL: nothing scheduled
    previous_run_at timestamptz,            -- the latest group run's fire time or request time
    last_run_id     int,
    created_at      timestamptz NOT NULL,
    created_by      text        NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL,
    deleted         boolean     NOT NULL DEFAULT false,
    deleted_reason  text                    -- user | expired
);

-- Each live group's members in running order. A job is in at most one group, but groups travel on different
-- partitions: one group's claim of a job may be read before another group's release of it, so a job's group
-- is its row with the latest `as_of` (the time of the definition that named it).
CREATE TABLE IF NOT EXISTS group_members (
    group_id bigint      NOT NULL,
    job_id   bigint      NOT NULL,
    position int         NOT NULL,      -- 0-based running order
    as_of    timestamptz NOT NULL,
    PRIMARY KEY (group_id, job_id)
);
CREATE INDEX IF NOT EXISTS group_members_job ON group_members (job_id, as_of DESC);

CREATE TABLE IF NOT EXISTS group_runs (
    group_id        bigint      NOT NULL,
    run_id          int         NOT NULL,
    group_name      text        NOT NULL,
    status          text        NOT NULL,  -- running | succeeded | failed | stopped | skipped
    trigger         text        NOT NULL,  -- manual | schedule
    members         jsonb       NOT NULL DEFAULT '[]',  -- job ids in running order, frozen at request time
    version         int         NOT NULL,  -- group run aggregate version
    requested_at    timestamptz NOT NULL,
    scheduled_for   timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz,
    duration_ms     bigint,
    stop_requested  boolean     NOT NULL DEFAULT false,
    failed_job_id   bigint,
    failed_run_id   int,
    error           text,
    PRIMARY KEY (group_id, run_id)
);

-- The member runs a group run started, in order (their statuses are the runs' own, joined at read time).
CREATE TABLE IF NOT EXISTS group_run_members (
    group_id      bigint NOT NULL,
    run_id        int    NOT NULL,
    position      int    NOT NULL,
    job_id        bigint NOT NULL,
    member_run_id int    NOT NULL,
    PRIMARY KEY (group_id, run_id, position)
);

CREATE TABLE IF NOT EXISTS group_run_log (
    group_id bigint      NOT NULL,
    run_id   int         NOT NULL,
    seq      bigserial,
    at       timestamptz NOT NULL,
    level    text        NOT NULL,  -- INFO | WARN | ERROR
    message  text        NOT NULL,
    PRIMARY KEY (group_id, run_id, seq)
);
