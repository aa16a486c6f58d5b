package store

// The stored state of incremental sync (issue 12, migrations/0004_sync.sql): per company the packed mapped
// values of its last lookup, per record the company it pointed at, per country the change feed's state.
// The planner (internal/incremental) decides with it; this file only keeps it. Every method costs one
// round trip for a whole page (unnest arrays, ANY), never one per record.
//
// What must never happen here: a company stored that no real run looked up (the feed's entries only mark
// companies already stored; a dry run never saves), a company marked fresh without the values of that
// lookup (SaveSyncTx runs in the transaction of the batch the values come from), or more than the
// admin-selected points (vals are the engine's packed mapped values, never a document: P10).

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/incremental"
)

// MaxStoredVals bounds one company's stored values. Mapped values are a few hundred bytes; a company whose
// values are larger is stored as failed without them, so that it is looked up again rather than served
// from a cut value, and one hostile document cannot bloat the table.
const MaxStoredVals = 64 << 10

// LoadSyncState reads what the planner needs for one page in one round trip: the company each of recordIDs
// pointed at when last processed, and the stored companies among keys.
func (s *Store) LoadSyncState(ctx context.Context, recordIDs []string, keys []incremental.CompanyKey) (incremental.State, error) {
	ids := make([]string, len(recordIDs))
	for i, id := range recordIDs {
		ids[i] = pgText(id)
	}
	countries, orgs := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		countries[i], orgs[i] = pgText(k.Country), pgText(k.Org)
	}
	var st incremental.State
	err := s.retry(ctx, "load sync state", func(ctx context.Context) error {
		st = incremental.State{Records: make(map[string]incremental.CompanyKey, len(ids)),
			Companies: make(map[incremental.CompanyKey]incremental.StoredCompany, len(keys))}
		b := &pgx.Batch{}
		b.Queue(`SELECT record_id, country, org_number FROM sync_records WHERE record_id = ANY($1::text[])`, ids)
		b.Queue(`SELECT c.country, c.org_number, c.mapping_key, c.vals, c.looked_up_at, c.status, c.feed_changed_at
			FROM sync_companies c JOIN unnest($1::text[], $2::text[]) AS k(country, org_number)
			ON c.country = k.country AND c.org_number = k.org_number`, countries, orgs)
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		rows, err := br.Query()
		if err != nil {
			return err
		}
		var id string
		var k incremental.CompanyKey
		if _, err := pgx.ForEachRow(rows, []any{&id, &k.Country, &k.Org}, func() error {
			st.Records[id] = k
			return nil
		}); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		var c incremental.StoredCompany
		var status string
		var feed *time.Time
		if _, err := pgx.ForEachRow(rows, []any{&k.Country, &k.Org, &c.MappingKey, &c.Vals, &c.LookedUpAt, &status, &feed},
			func() error {
				c.Status, c.FeedChangedAt = incremental.Status(status), time.Time{}
				if feed != nil {
					c.FeedChangedAt = *feed
				}
				st.Companies[k] = c // Scan copies a bytea: each company owns its Vals
				return nil
			}); err != nil {
			return err
		}
		return br.Close()
	})
	if err != nil {
		return incremental.State{}, fmt.Errorf("load sync state of %d records: %w", len(recordIDs), s.scrub(err))
	}
	return st, nil
}

// SaveSync stores a Save in a transaction of its own (tests and tools; a run stores it with its batch,
// through SaveSyncTx).
func (s *Store) SaveSync(ctx context.Context, save incremental.Save) error {
	if save.Empty() {
		return nil
	}
	err := s.retry(ctx, "save sync state", func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.SaveSyncTx(ctx, tx, save) })
	})
	if err != nil {
		return fmt.Errorf("save sync state: %w", s.scrub(err))
	}
	return nil
}

// SaveSyncTx upserts the companies looked up fresh and the records' company keys in the caller's
// transaction tx: SaveBatch calls it with the batch the values come from, so that a crash never leaves a
// company marked fresh whose values were not recorded. A company is never set back to an older lookup
// (a batch saved again after a lost commit, or out of order), and its feed mark is kept: the planner
// compares it with the lookup time.
func (s *Store) SaveSyncTx(ctx context.Context, tx pgx.Tx, save incremental.Save) error {
	if n := len(save.Companies); n > 0 {
		// One row per company: ON CONFLICT DO UPDATE may not touch a row twice in one statement.
		latest := make(map[incremental.CompanyKey]int, n)
		for i, c := range save.Companies {
			if j, ok := latest[c.Key]; !ok || save.Companies[j].LookedUpAt.Before(c.LookedUpAt) {
				latest[c.Key] = i
			}
		}
		countries, orgs, mkeys, statuses := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		vals, at := make([][]byte, 0, n), make([]time.Time, 0, n)
		for i, c := range save.Companies {
			if latest[c.Key] != i {
				continue
			}
			if !c.Status.Valid() {
				return fmt.Errorf("company %s %s: status %q is not found, not_found or failed", c.Key.Country, c.Key.Org, c.Status)
			}
			if c.LookedUpAt.IsZero() {
				return fmt.Errorf("company %s %s: no lookup time", c.Key.Country, c.Key.Org)
			}
			v, st := c.Vals, c.Status
			if st != incremental.Found {
				v = nil
			} else if len(v) > MaxStoredVals {
				v, st = nil, incremental.Failed
			}
			if v == nil {
				v = []byte{}
			}
			countries, orgs, mkeys = append(countries, pgText(c.Key.Country)), append(orgs, pgText(c.Key.Org)), append(mkeys, pgText(c.MappingKey))
			statuses, vals, at = append(statuses, string(st)), append(vals, v), append(at, c.LookedUpAt)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sync_companies (country, org_number, mapping_key, vals, looked_up_at, status)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::timestamptz[], $6::text[])
			ON CONFLICT (country, org_number) DO UPDATE SET mapping_key = EXCLUDED.mapping_key, vals = EXCLUDED.vals,
				looked_up_at = EXCLUDED.looked_up_at, status = EXCLUDED.status
			WHERE sync_companies.looked_up_at <= EXCLUDED.looked_up_at`,
			countries, orgs, mkeys, vals, at, statuses); err != nil {
			return fmt.Errorf("store %d companies' values: %w", len(countries), err)
		}
	}
	if n := len(save.Records); n > 0 {
		last := make(map[string]int, n)
		for i, r := range save.Records {
			last[r.RecordID] = i
		}
		ids, countries, orgs := make([]string, 0, len(last)), make([]string, 0, len(last)), make([]string, 0, len(last))
		for i, r := range save.Records {
			if last[r.RecordID] == i {
				ids, countries, orgs = append(ids, pgText(r.RecordID)), append(countries, pgText(r.Key.Country)), append(orgs, pgText(r.Key.Org))
			}
		}
		// Most records point where they pointed: the WHERE keeps those rows unwritten.
		if _, err := tx.Exec(ctx, `INSERT INTO sync_records (record_id, country, org_number)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
			ON CONFLICT (record_id) DO UPDATE SET country = EXCLUDED.country, org_number = EXCLUDED.org_number
			WHERE (sync_records.country, sync_records.org_number) IS DISTINCT FROM (EXCLUDED.country, EXCLUDED.org_number)`,
			ids, countries, orgs); err != nil {
			return fmt.Errorf("store %d records' companies: %w", len(ids), err)
		}
	}
	return nil
}

// MarkFeedChanges marks the stored companies among changes (country's feed entries) as changed at the
// newest of their entries, and, when advance is not nil, moves the country's feed state in the same
// transaction. Entries of companies that are not stored are dropped: the feed lists every company of the
// register, and only those a CRM record holds are kept.
func (s *Store) MarkFeedChanges(ctx context.Context, country string, changes []incremental.FeedChange, advance *incremental.FeedAdvance) error {
	orgs, at := make([]string, len(changes)), make([]time.Time, len(changes))
	for i, c := range changes {
		orgs[i], at[i] = pgText(c.Org), c.At
	}
	cc := pgText(country)
	err := s.retry(ctx, "mark feed changes", func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if len(orgs) > 0 {
				if _, err := tx.Exec(ctx, `UPDATE sync_companies c SET feed_changed_at = u.at
					FROM (SELECT org, max(at) AS at FROM unnest($2::text[], $3::timestamptz[]) AS t(org, at) GROUP BY org) u
					WHERE c.country = $1 AND c.org_number = u.org AND (c.feed_changed_at IS NULL OR c.feed_changed_at < u.at)`,
					cc, orgs, at); err != nil {
					return err
				}
			}
			if advance == nil {
				return nil
			}
			_, err := tx.Exec(ctx, `INSERT INTO sync_feeds (country, read_until, covered_since, unsupported_at)
				VALUES ($1, $2, $3, NULL)
				ON CONFLICT (country) DO UPDATE SET read_until = EXCLUDED.read_until,
					covered_since = EXCLUDED.covered_since, unsupported_at = NULL`,
				cc, advance.ReadUntil, advance.CoveredSince)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("mark %d change-feed entries of %s: %w", len(changes), country, s.scrub(err))
	}
	return nil
}

// FeedStates returns every country's stored feed state, by country.
func (s *Store) FeedStates(ctx context.Context) (map[string]incremental.FeedState, error) {
	out := map[string]incremental.FeedState{}
	err := s.retry(ctx, "read feed states", func(ctx context.Context) error {
		clear(out)
		rows, err := s.pool.Query(ctx, `SELECT country, read_until, covered_since, unsupported_at FROM sync_feeds`)
		if err != nil {
			return err
		}
		var cc string
		var until, covered, unsupported *time.Time
		_, err = pgx.ForEachRow(rows, []any{&cc, &until, &covered, &unsupported}, func() error {
			out[cc] = incremental.FeedState{Country: cc, ReadUntil: orZero(until), CoveredSince: orZero(covered),
				UnsupportedAt: orZero(unsupported)}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read change-feed states: %w", s.scrub(err))
	}
	return out, nil
}

// MarkFeedUnsupported remembers that country answered, at at, that it has no feed. How far an earlier feed
// was read is kept: should the country answer again, the planner's gap rule decides from it.
func (s *Store) MarkFeedUnsupported(ctx context.Context, country string, at time.Time) error {
	err := s.retry(ctx, "mark feed unsupported", func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO sync_feeds (country, unsupported_at) VALUES ($1, $2)
			ON CONFLICT (country) DO UPDATE SET unsupported_at = EXCLUDED.unsupported_at`, pgText(country), at)
		return err
	})
	if err != nil {
		return fmt.Errorf("remember that %s has no change feed: %w", country, s.scrub(err))
	}
	return nil
}

// PruneSyncCompanies deletes the stored companies that no record points at any more (records moved to
// another company): their values would never be served again. It returns how many went. Records deleted
// in Salesforce are not known here and keep their rows until the record Id is seen again or the tables
// are cleared.
func (s *Store) PruneSyncCompanies(ctx context.Context) (int64, error) {
	var n int64
	err := s.retry(ctx, "prune sync companies", func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM sync_companies c WHERE NOT EXISTS
			(SELECT 1 FROM sync_records r WHERE r.country = c.country AND r.org_number = c.org_number)`)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune stored companies: %w", s.scrub(err))
	}
	return n, nil
}

func orZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
