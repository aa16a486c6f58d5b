package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PruneResult says how many rows Prune deleted.
type PruneResult struct {
	Calls   int64 `json:"calls"`
	Records int64 `json:"records"`
	Changes int64 `json:"changes"`
	Runs    int64 `json:"runs"`
}

// Prune deletes the technical-log rows older than before, and the runs that finished before it together
// with their record outcomes and field changes (privacy.md P9). A running run is never pruned, nor is a
// run without a finish time.
func (s *Store) Prune(ctx context.Context, before time.Time) (PruneResult, error) {
	var res PruneResult
	before = before.UTC()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM call_logs WHERE at < $1`, before)
		if err != nil {
			return fmt.Errorf("technical log: %w", err)
		}
		res.Calls = tag.RowsAffected()
		// Details first and counted apart, so the result says what went; the cascade then finds nothing.
		const old = `SELECT id FROM runs WHERE finished_at < $1 AND status <> 'running'`
		if tag, err = tx.Exec(ctx, `DELETE FROM run_records WHERE run_id IN (`+old+`)`, before); err != nil {
			return fmt.Errorf("record outcomes: %w", err)
		}
		res.Records = tag.RowsAffected()
		if tag, err = tx.Exec(ctx, `DELETE FROM field_changes WHERE run_id IN (`+old+`)`, before); err != nil {
			return fmt.Errorf("field changes: %w", err)
		}
		res.Changes = tag.RowsAffected()
		if tag, err = tx.Exec(ctx, `DELETE FROM runs WHERE finished_at < $1 AND status <> 'running'`, before); err != nil {
			return fmt.Errorf("runs: %w", err)
		}
		res.Runs = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return PruneResult{}, fmt.Errorf("prune before %s: %w", before.Format(time.RFC3339), s.scrub(err))
	}
	s.log.InfoContext(ctx, "pruned", "before", before, "calls", res.Calls, "records", res.Records,
		"changes", res.Changes, "runs", res.Runs)
	return res, nil
}
