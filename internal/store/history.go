package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/massupdate"
)

// maxRunID bounds the ids worth asking PostgreSQL about: anything longer is not a run id of ours.
const maxRunID = 64

// ListRuns returns up to limit runs, newest first (limit <= 0: 20).
func (s *Store) ListRuns(ctx context.Context, limit int) ([]massupdate.Run, error) {
	if limit <= 0 {
		limit = 20
	}
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM runs ORDER BY started_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", s.scrub(err))
	}
	runs, err := pgx.CollectRows(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", s.scrub(err))
	}
	if runs == nil {
		runs = []massupdate.Run{}
	}
	return runs, nil
}

// GetRun returns one run, or massupdate.ErrRunNotFound for an unknown or malformed id.
func (s *Store) GetRun(ctx context.Context, id string) (massupdate.Run, error) {
	return getRun(ctx, s, s.pool, id)
}

func getRun(ctx context.Context, s *Store, db DBTX, id string) (massupdate.Run, error) {
	if id == "" || len(id) > maxRunID {
		return massupdate.Run{}, fmt.Errorf("run %q: %w", id, massupdate.ErrRunNotFound)
	}
	rows, err := db.Query(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id)
	if err != nil {
		return massupdate.Run{}, fmt.Errorf("get run %s: %w", id, s.scrub(err))
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return massupdate.Run{}, fmt.Errorf("run %q: %w", id, massupdate.ErrRunNotFound)
	}
	if err != nil {
		return massupdate.Run{}, fmt.Errorf("get run %s: %w", id, s.scrub(err))
	}
	return r, nil
}

// RunDetail returns one run in full, as `history show` prints it: the summary, how many times each field
// was changed, every record that was neither updated nor unchanged with its reason, and every field change.
// The reads share one snapshot, so a run still being written shows a consistent picture.
func (s *Store) RunDetail(ctx context.Context, id string) (massupdate.Detail, error) {
	var d massupdate.Detail
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		r, err := getRun(ctx, s, tx, id)
		if err != nil {
			return err
		}
		d.Run = r.Summary()

		d.FieldChanges = map[string]int64{}
		rows, err := tx.Query(ctx, `SELECT field, count(*) FROM field_changes WHERE run_id = $1 GROUP BY field`, id)
		if err != nil {
			return fmt.Errorf("count field changes: %w", err)
		}
		var field string
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&field, &n}, func() error { d.FieldChanges[field] = n; return nil }); err != nil {
			return fmt.Errorf("count field changes: %w", err)
		}

		rows, err = tx.Query(ctx, `SELECT record_id, org_number, country, outcome, reason FROM run_records
			WHERE run_id = $1 AND outcome NOT IN ('updated', 'unchanged') ORDER BY record_id`, id)
		if err != nil {
			return fmt.Errorf("read records: %w", err)
		}
		d.Records, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (massupdate.RecordResult, error) {
			var rr massupdate.RecordResult
			var outcome string
			err := row.Scan(&rr.RecordID, &rr.OrgNumber, &rr.Country, &outcome, &rr.Reason)
			rr.Outcome = massupdate.Outcome(outcome)
			return rr, err
		})
		if err != nil {
			return fmt.Errorf("read records: %w", err)
		}

		rows, err = tx.Query(ctx, `SELECT record_id, field, old_value::text, new_value::text FROM field_changes
			WHERE run_id = $1 ORDER BY record_id, field`, id)
		if err != nil {
			return fmt.Errorf("read field changes: %w", err)
		}
		d.Changes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (massupdate.FieldChange, error) {
			var c massupdate.FieldChange
			var o, n string
			if err := row.Scan(&c.RecordID, &c.Field, &o, &n); err != nil {
				return c, err
			}
			if err := json.Unmarshal([]byte(o), &c.Old); err != nil {
				return c, fmt.Errorf("old value of %s: %w", c.Field, err)
			}
			if err := json.Unmarshal([]byte(n), &c.New); err != nil {
				return c, fmt.Errorf("new value of %s: %w", c.Field, err)
			}
			return c, nil
		})
		if err != nil {
			return fmt.Errorf("read field changes: %w", err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, massupdate.ErrRunNotFound) {
			return massupdate.Detail{}, err
		}
		return massupdate.Detail{}, fmt.Errorf("run detail %s: %w", id, s.scrub(err))
	}
	if d.Records == nil {
		d.Records = []massupdate.RecordResult{}
	}
	if d.Changes == nil {
		d.Changes = []massupdate.FieldChange{}
	}
	return d, nil
}
