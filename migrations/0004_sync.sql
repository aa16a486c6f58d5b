-- Incremental sync (issue 12): the values of each company's last lookup, the company each record pointed
-- at, and how far each country's change feed has been read.

-- One row per company (country, canonical org number) that a CRM record holds and that a real run looked
-- up: never a company only the change feed named, never one only a dry run looked up. vals holds only the
-- admin-selected data points, packed by the engine in rule order (README: Privacy P10: never whole documents);
-- mapping_key names the points and their order, so a changed mapping makes every company due once.
-- feed_changed_at is the newest change-feed entry seen for the company.
CREATE TABLE sync_companies (
    country         text        NOT NULL,
    org_number      text        NOT NULL,
    mapping_key     text        NOT NULL,
    vals            bytea       NOT NULL DEFAULT '\x',
    looked_up_at    timestamptz NOT NULL,
    status          text        NOT NULL CHECK (status IN ('found', 'not_found', 'failed')),
    feed_changed_at timestamptz,
    PRIMARY KEY (country, org_number)
);

-- The company each record pointed at when a real run last processed it: a record whose country or org
-- number changed in Salesforce since makes its new company due.
CREATE TABLE sync_records (
    record_id  text NOT NULL PRIMARY KEY,
    country    text NOT NULL,
    org_number text NOT NULL
);
-- pruning companies that no record points at any more.
CREATE INDEX sync_records_company ON sync_records (country, org_number);

-- Per country, the change feed's state: read_until is the start of the last read that succeeded (the next
-- asks from a day before it), covered_since the time since which every entry is marked on the companies,
-- unsupported_at when the country last answered that it has no feed (asked again a week later).
CREATE TABLE sync_feeds (
    country        text        NOT NULL PRIMARY KEY,
    read_until     timestamptz,
    covered_since  timestamptz,
    unsupported_at timestamptz
);

-- Whether a record's data came from a lookup in its run ('fresh') or from the values stored at an earlier
-- one ('stored'); '' when the record had nothing to look up (no or an invalid org number), and for runs
-- before incremental sync. `history show` says it per record.
ALTER TABLE run_records ADD COLUMN lookup text NOT NULL DEFAULT '' CHECK (lookup IN ('', 'fresh', 'stored'));
