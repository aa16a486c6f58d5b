package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/revert"
)

// The reads behind `revert RUN_ID` and `run --retry RUN_ID`, and the revert link of the history pages.

var _ revert.Store = (*Store)(nil)

// InterruptedRevert returns the revert of runID to continue: the newest non-dry revert of that run, when it
// was interrupted and nobody continued it yet; nil otherwise (a newer revert that ended supersedes an
// older interrupted one).
func (s *Store) InterruptedRevert(ctx context.Context, runID string) (*massupdate.Run, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM runs r
		WHERE trigger = 'revert' AND reverts = $1 AND NOT dry_run
		ORDER BY started_at DESC, id DESC LIMIT 1`, runID)
	if err != nil {
		return nil, fmt.Errorf("find an interrupted revert of run %s: %w", runID, s.scrub(err))
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find an interrupted revert of run %s: %w", runID, s.scrub(err))
	}
	if r.Status != massupdate.Interrupted || r.ResumedBy != "" {
		return nil, nil
	}
	var continued bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE resumed_from = $1)`, r.ID).Scan(&continued); err != nil {
		return nil, fmt.Errorf("find an interrupted revert of run %s: %w", runID, s.scrub(err))
	}
	if continued {
		return nil, nil
	}
	return &r, nil
}

// revertTargetsSQL reads one page of the records a run wrote, in Id order, with each one's field changes:
// the records that have field changes or a last-synced stamp, walked along run_records' primary key, each
// checked against field_changes' primary key, so that a page costs its own rows, not the run's.
//
// $1 run id, $2 the last record Id of the previous page ("" for the first), $3 records per page.
const revertTargetsSQL = `
WITH k AS (
	SELECT rr.record_id, rr.org_number, rr.country, rr.last_synced_old::text AS so, rr.last_synced_new::text AS sn
	FROM run_records rr
	WHERE rr.run_id = $1 AND rr.record_id > $2
		AND (rr.last_synced_new IS NOT NULL
			OR EXISTS (SELECT 1 FROM field_changes f WHERE f.run_id = $1 AND f.record_id = rr.record_id))
	ORDER BY rr.record_id LIMIT $3
)
SELECT k.record_id, k.org_number, k.country, k.so, k.sn, fc.field, fc.old_value::text, fc.new_value::text
FROM k LEFT JOIN field_changes fc ON fc.run_id = $1 AND fc.record_id = k.record_id
ORDER BY k.record_id, fc.field`

// RevertTargets returns, in Id order, up to limit records with Id greater than afterID that run runID wrote
// (a mapped field or the last-synced field), with what it wrote and what was there before.
func (s *Store) RevertTargets(ctx context.Context, runID, afterID string, limit int) ([]revert.Target, error) {
	rows, err := s.pool.Query(ctx, revertTargetsSQL, runID, pgText(afterID), limit)
	if err != nil {
		return nil, fmt.Errorf("read what run %s wrote: %w", runID, s.scrub(err))
	}
	defer rows.Close()
	var out []revert.Target
	for rows.Next() {
		var id, org, country string
		var so, sn, field, oldV, newV *string
		if err := rows.Scan(&id, &org, &country, &so, &sn, &field, &oldV, &newV); err != nil {
			return nil, fmt.Errorf("read what run %s wrote: %w", runID, s.scrub(err))
		}
		if len(out) == 0 || out[len(out)-1].RecordID != id {
			t := revert.Target{RecordID: id, OrgNumber: org, Country: country}
			if sn != nil {
				t.LastSyncedSet = true
				if err := unmarshalJSON(so, &t.LastSyncedOld); err != nil {
					return nil, fmt.Errorf("read what run %s wrote: last-synced value of %s: %w", runID, id, err)
				}
				if err := unmarshalJSON(sn, &t.LastSyncedNew); err != nil {
					return nil, fmt.Errorf("read what run %s wrote: last-synced value of %s: %w", runID, id, err)
				}
			}
			out = append(out, t)
		}
		if field == nil {
			continue
		}
		c := revert.Change{Field: *field}
		if err := unmarshalJSON(oldV, &c.Old); err != nil {
			return nil, fmt.Errorf("read what run %s wrote: old value of %s: %w", runID, *field, err)
		}
		if err := unmarshalJSON(newV, &c.New); err != nil {
			return nil, fmt.Errorf("read what run %s wrote: new value of %s: %w", runID, *field, err)
		}
		c.OldCut = wasCut(c.Old)
		t := &out[len(out)-1]
		t.Changes = append(t.Changes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read what run %s wrote: %w", runID, s.scrub(err))
	}
	return out, nil
}

// wasCut tells whether a stored text value is one that bounded cut: the history does not hold it whole, so
// it cannot be put back.
func wasCut(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasSuffix(s, truncatedMark) && utf8.RuneCountInString(s) == maxLongText
}

func unmarshalJSON(text *string, v *any) error {
	if text == nil {
		*v = nil
		return nil
	}
	return json.Unmarshal([]byte(*text), v)
}

// RevertFields returns the fields run runID wrote, by name, and whether it set the last-synced field on any
// record: what a revert of it reads and may write.
func (s *Store) RevertFields(ctx context.Context, runID string) (fields []string, lastSynced bool, err error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT field FROM field_changes WHERE run_id = $1 ORDER BY field`, runID)
	if err != nil {
		return nil, false, fmt.Errorf("read the fields run %s wrote: %w", runID, s.scrub(err))
	}
	if fields, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, false, fmt.Errorf("read the fields run %s wrote: %w", runID, s.scrub(err))
	}
	err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM run_records WHERE run_id = $1 AND last_synced_new IS NOT NULL)`,
		runID).Scan(&lastSynced)
	if err != nil {
		return nil, false, fmt.Errorf("read the fields run %s wrote: %w", runID, s.scrub(err))
	}
	return fields, lastSynced, nil
}

// FailedRecordIDs returns, in Id order, the records that ended failed in run runID: what `run --retry`
// reads again.
func (s *Store) FailedRecordIDs(ctx context.Context, runID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT record_id FROM run_records WHERE run_id = $1 AND outcome = 'failed' ORDER BY record_id`, runID)
	if err != nil {
		return nil, fmt.Errorf("read the failed records of run %s: %w", runID, s.scrub(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the failed records of run %s: %w", runID, s.scrub(err))
	}
	return ids, nil
}

// RevertedBy returns the newest revert (not a dry run) of run runID, "" when none: the pages link it.
func (s *Store) RevertedBy(ctx context.Context, runID string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id FROM runs WHERE reverts = $1 AND trigger = 'revert' AND NOT dry_run
		ORDER BY started_at DESC, id DESC LIMIT 1`, runID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find the revert of run %s: %w", runID, s.scrub(err))
	}
	return id, nil
}
