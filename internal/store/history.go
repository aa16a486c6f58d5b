package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/massupdate"
)

// maxRunID bounds the ids worth asking PostgreSQL about: anything longer is not a run id of ours.
const maxRunID = 64

// ListRuns returns up to limit runs, newest first (limit <= 0: 20).
func (s *Store) ListRuns(ctx context.Context, limit int) ([]massupdate.Run, error) {
	return s.FindRuns(ctx, RunFilter{Limit: limit})
}

// RunFilter narrows FindRuns (history's --status and --since). The zero value is the 20 newest runs.
type RunFilter struct {
	Limit    int                 // at most this many runs; <= 0: 20
	Statuses []massupdate.Status // only runs with one of these statuses; empty: any
	Since    time.Time           // only runs started at or after it; zero: any
	NotDry   bool                // only runs that wrote (or would have), not dry runs
}

// runStatuses are the statuses a run row can hold (the CHECK of migrations/0001_init.sql).
var runStatuses = []massupdate.Status{massupdate.Running, massupdate.Succeeded, massupdate.Partial,
	massupdate.StatusFail, massupdate.Interrupted}

// FindRuns returns the runs f selects, newest first. Each run carries its Error, the reason a failed or
// interrupted run gives. A status that no run can have is an error, so that a typo in --status is not read
// as "no such runs".
func (s *Store) FindRuns(ctx context.Context, f RunFilter) ([]massupdate.Run, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 20
	}
	var statuses []string // nil is NULL: any status
	for _, st := range f.Statuses {
		if !slices.Contains(runStatuses, st) {
			return nil, fmt.Errorf("list runs: unknown status %q (running, succeeded, partial, failed, interrupted)", st)
		}
		statuses = append(statuses, string(st))
	}
	var since *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM runs
		WHERE ($2::text[] IS NULL OR status = ANY($2)) AND ($3::timestamptz IS NULL OR started_at >= $3)
			AND NOT ($4 AND dry_run)
		ORDER BY started_at DESC, id DESC LIMIT $1`, limit, statuses, since, f.NotDry)
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

// Latest is the run reference ResolveRunID reads as the newest run.
const Latest = "latest"

// MinRunIDPrefix is the shortest id prefix ResolveRunID accepts.
const MinRunIDPrefix = 4

// ErrAmbiguousRunID: a run id prefix names more than one run.
var ErrAmbiguousRunID = errors.New("ambiguous run id")

// AmbiguousRunIDError says how many runs a prefix names; it wraps ErrAmbiguousRunID.
type AmbiguousRunIDError struct {
	Prefix string
	Count  int
}

func (e *AmbiguousRunIDError) Error() string {
	return fmt.Sprintf("run id %q matches %d runs: give more of the id", e.Prefix, e.Count)
}

func (e *AmbiguousRunIDError) Unwrap() error { return ErrAmbiguousRunID }

// ResolveRunID turns what an operator typed where a run id is taken into the run's id: a full id, a prefix
// of MinRunIDPrefix characters or more that only one run has, or Latest (the newest run by start time).
// No match, and a shorter prefix, fail with massupdate.ErrRunNotFound; a prefix of several runs with an
// *AmbiguousRunIDError. Ids are lower-case hex, so the reference is matched without case.
func (s *Store) ResolveRunID(ctx context.Context, ref string) (string, error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if ref == Latest {
		var id string
		err := s.pool.QueryRow(ctx, `SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1`).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("latest run: %w", massupdate.ErrRunNotFound)
		}
		if err != nil {
			return "", fmt.Errorf("find the latest run: %w", s.scrub(err))
		}
		return id, nil
	}
	if len(ref) < MinRunIDPrefix || len(ref) > maxRunID {
		return "", fmt.Errorf("run %q (give the id, %d or more of its first characters, or %s): %w",
			ref, MinRunIDPrefix, Latest, massupdate.ErrRunNotFound)
	}
	// starts_with, not LIKE: a reference holding % or _ must not match as a pattern. An exact id comes
	// first, so that a full id is never ambiguous.
	var id string
	var n int
	err := s.pool.QueryRow(ctx, `SELECT id, count(*) OVER () FROM runs WHERE starts_with(id, $1)
		ORDER BY id = $1 DESC, started_at DESC LIMIT 1`, ref).Scan(&id, &n)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("run %q: %w", ref, massupdate.ErrRunNotFound)
	case err != nil:
		return "", fmt.Errorf("resolve run id %q: %w", ref, s.scrub(err))
	case id == ref || n == 1:
		return id, nil
	default:
		return "", &AmbiguousRunIDError{Prefix: ref, Count: n}
	}
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
	_, d, err := s.RunInFull(ctx, id)
	return d, err
}

// RunInFull is RunDetail together with the run it summarises (its settings and never-valued points, which
// the summary leaves out), read in one snapshot: what `history show` prints.
func (s *Store) RunInFull(ctx context.Context, id string) (massupdate.Run, massupdate.Detail, error) {
	var d massupdate.Detail
	var r massupdate.Run
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		r, err = getRun(ctx, s, tx, id)
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

		// Every record not unchanged: the ones with a reason, and the updated ones, so that history show can
		// say for each record it wrote whether its data was fresh from Proff or stored.
		rows, err = tx.Query(ctx, `SELECT record_id, org_number, country, outcome, reason, lookup FROM run_records
			WHERE run_id = $1 AND outcome <> 'unchanged' ORDER BY record_id`, id)
		if err != nil {
			return fmt.Errorf("read records: %w", err)
		}
		d.Records, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (massupdate.RecordResult, error) {
			var rr massupdate.RecordResult
			var outcome string
			err := row.Scan(&rr.RecordID, &rr.OrgNumber, &rr.Country, &outcome, &rr.Reason, &rr.Lookup)
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
		d.Changes, err = pgx.CollectRows(rows, scanFieldChange)
		if err != nil {
			return fmt.Errorf("read field changes: %w", err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, massupdate.ErrRunNotFound) {
			return massupdate.Run{}, massupdate.Detail{}, err
		}
		return massupdate.Run{}, massupdate.Detail{}, fmt.Errorf("run detail %s: %w", id, s.scrub(err))
	}
	if d.Records == nil {
		d.Records = []massupdate.RecordResult{}
	}
	if d.Changes == nil {
		d.Changes = []massupdate.FieldChange{}
	}
	return r, d, nil
}

// scanFieldChange reads one field_changes row (record_id, field, old, new as JSON text): history show and the
// history pages read changes the same way.
func scanFieldChange(row pgx.CollectableRow) (massupdate.FieldChange, error) {
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
}
