-- What incremental sync, revert and retry add to a run (issues 12, 13, 15).

-- Runs started by `run --retry RUN_ID` and `revert RUN_ID`.
ALTER TABLE runs DROP CONSTRAINT runs_trigger_check;
ALTER TABLE runs ADD CONSTRAINT runs_trigger_check
    CHECK (trigger IN ('manual', 'schedule', 'demo', 'retry', 'revert'));

-- lookups_*: the companies looked up fresh, served from stored values, and deferred by sync.max_lookups
-- (the summary's "lookups"), running totals like the counts. reverts: the run a revert undid (a plain id,
-- like resumed_from, so pruning the old run keeps the fact). never_valued: the mapped data points that had
-- no value in any document the run found, most likely misspelt.
ALTER TABLE runs
    ADD COLUMN lookups_fresh    bigint NOT NULL DEFAULT 0,
    ADD COLUMN lookups_cached   bigint NOT NULL DEFAULT 0,
    ADD COLUMN lookups_deferred bigint NOT NULL DEFAULT 0,
    ADD COLUMN reverts          text,
    ADD COLUMN never_valued     text[] NOT NULL DEFAULT '{}';

-- The last-synced field's value before and as the run wrote it (NULL when the run did not write it): not a
-- mapped field, so not in field_changes, but a revert must put it back.
ALTER TABLE run_records
    ADD COLUMN last_synced_old jsonb,
    ADD COLUMN last_synced_new jsonb;
