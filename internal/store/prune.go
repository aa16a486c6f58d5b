package store

import (
	"context"
	"errors"
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

// MaxRetentionDays is the longest retention proffsync accepts (a hundred years): the one bound that
// logs.retention_days and `prune --retention-days` share. Far below the 106,751 days at which a retention
// as a time.Duration overflows and the cut-off lands in the future.
const MaxRetentionDays = 36500

// ErrCutoffNotInPast is returned by Prune for a cut-off that is not before now: pruning up to it would
// delete the whole history, which no retention means.
var ErrCutoffNotInPast = errors.New("the prune cut-off is not in the past")

// RetentionCutoff returns the instant before which a retention of days (1 to MaxRetentionDays) prunes:
// the same time of day, days calendar days before now in now's location. Both `proffsync prune` and
// serve's daily prune compute their cut-off here. Calendar arithmetic cannot overflow as a Duration does,
// and keeps a day a day across a daylight-saving change.
func RetentionCutoff(now time.Time, days int) (time.Time, error) {
	if days < 1 || days > MaxRetentionDays {
		return time.Time{}, fmt.Errorf("retention of %d days: must be from 1 to %d", days, MaxRetentionDays)
	}
	return now.AddDate(0, 0, -days), nil
}

// Prune deletes the technical-log rows older than before, and the runs that finished before it together
// with their record outcomes and field changes (README: Privacy P9). A running run is never pruned, nor is a
// run without a finish time. A cut-off that is not in the past (by Options.Clock) is refused with
// ErrCutoffNotInPast and deletes nothing, whatever computed it.
func (s *Store) Prune(ctx context.Context, before time.Time) (PruneResult, error) {
	var res PruneResult
	before = before.UTC()
	if now := s.now(); !before.Before(now) {
		return PruneResult{}, fmt.Errorf("prune before %s (now %s): %w", before.Format(time.RFC3339),
			now.UTC().Format(time.RFC3339), ErrCutoffNotInPast)
	}
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
