-- Indexes for the history pages of serve (`GET /`, `GET /runs/{id}`), so that every page of a
-- 100,000-record run answers in well under 100 ms.

-- A record's past outcomes, newest run first, without touching the table: the pages show, for each failed
-- record on a page, how many runs in a row it has failed. outcome is carried in the index so the walk back
-- through a record's runs is an index-only scan.
CREATE INDEX run_records_by_record ON run_records (record_id, run_id) INCLUDE (outcome);

-- One run's field changes filtered by field (`?field=`) and counted per field, in record order.
CREATE INDEX field_changes_by_field ON field_changes (run_id, field, record_id);
