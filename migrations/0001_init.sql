-- Runs, their per-record outcomes and field changes, and the technical log of HTTP calls (README: Privacy P8).

-- One row per run. Counts are the running totals the engine records with every batch, so an interrupted
-- run shows how far it got. settings is the config the run used (object, fields, filter, mapping): never a
-- secret. resumed_from/resumed_by are plain ids, not foreign keys, so pruning an old run does not erase
-- the fact that a newer one continued it.
CREATE TABLE runs (
    id                 text        PRIMARY KEY,
    trigger            text        NOT NULL CHECK (trigger IN ('manual', 'schedule', 'demo')),
    status             text        NOT NULL CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted')),
    dry_run            boolean     NOT NULL DEFAULT false,
    record_limit       integer     NOT NULL DEFAULT 0 CHECK (record_limit >= 0),
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz,
    selected           bigint      NOT NULL DEFAULT 0,
    missing_org_number bigint      NOT NULL DEFAULT 0,
    invalid_org_number bigint      NOT NULL DEFAULT 0,
    not_found          bigint      NOT NULL DEFAULT 0,
    unchanged          bigint      NOT NULL DEFAULT 0,
    updated            bigint      NOT NULL DEFAULT 0,
    failed             bigint      NOT NULL DEFAULT 0,
    proff_calls        bigint      NOT NULL DEFAULT 0,
    salesforce_calls   bigint      NOT NULL DEFAULT 0,
    resumed_from       text,
    resumed_by         text,
    checkpoint         text        NOT NULL DEFAULT '',
    error              text        NOT NULL DEFAULT '',
    settings           jsonb,
    scheduled_for      timestamptz,
    -- The run-lock session (backend pid and start) of the process running it, so that a run left
    -- `running` by a dead process can be told from a live one.
    lock_pid           integer,
    lock_backend_start timestamptz
);

-- A due time is served once across replicas: the second scheduled run for it fails to insert.
CREATE UNIQUE INDEX runs_schedule_once ON runs (scheduled_for) WHERE trigger = 'schedule';
-- history: newest first.
CREATE INDEX runs_started_at ON runs (started_at DESC, id DESC);
-- prune: finished runs by finish time.
CREATE INDEX runs_finished_at ON runs (finished_at) WHERE finished_at IS NOT NULL;
-- resume: the newest resumable interrupted run.
CREATE INDEX runs_resumable ON runs (started_at DESC) WHERE status = 'interrupted' AND resumed_by IS NULL AND NOT dry_run;
CREATE INDEX runs_running ON runs (status) WHERE status = 'running';

-- The outcome of every processed record. One row per record and run: a retried batch insert is a no-op.
CREATE TABLE run_records (
    run_id     text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    record_id  text NOT NULL,
    org_number text NOT NULL DEFAULT '',
    country    text NOT NULL DEFAULT '',
    outcome    text NOT NULL CHECK (outcome IN ('missing_org_number', 'invalid_org_number', 'not_found', 'unchanged', 'updated', 'failed')),
    reason     text NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, record_id)
);
-- history show: the records that were neither updated nor unchanged.
CREATE INDEX run_records_problems ON run_records (run_id, record_id) WHERE outcome NOT IN ('updated', 'unchanged');

-- Every mapped field written (or, in a dry run, that would have been written), old and new as Salesforce
-- holds them (JSON string, number, boolean or null). Only mapped fields ever land here (P10).
CREATE TABLE field_changes (
    run_id    text  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    record_id text  NOT NULL,
    field     text  NOT NULL,
    old_value jsonb NOT NULL,
    new_value jsonb NOT NULL,
    PRIMARY KEY (run_id, record_id, field)
);

-- The technical log: one row per HTTP call (P8). Never a header, never the body of a successful call; an
-- error row may keep a short scrubbed excerpt. run_id is not a foreign key: the log is written in the
-- background and must never lose a batch of rows because a run row is missing or was pruned first.
CREATE TABLE call_logs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id         text,
    correlation_id text             NOT NULL,
    service        text             NOT NULL,
    method         text             NOT NULL,
    endpoint       text             NOT NULL,
    status         integer          NOT NULL DEFAULT 0,
    duration_ms    double precision NOT NULL DEFAULT 0,
    attempt        integer          NOT NULL DEFAULT 1,
    error_class    text             NOT NULL DEFAULT '',
    error_excerpt  text             NOT NULL DEFAULT '',
    api_used       bigint           NOT NULL DEFAULT 0,
    api_max        bigint           NOT NULL DEFAULT 0,
    at             timestamptz      NOT NULL
);
CREATE INDEX call_logs_at ON call_logs (at);
CREATE INDEX call_logs_run_id ON call_logs (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX call_logs_correlation_id ON call_logs (correlation_id);
