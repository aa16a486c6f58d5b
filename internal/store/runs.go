package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/proffconnect/proffsync/internal/massupdate"
)

var _ massupdate.RunStore = (*Store)(nil)

// abandonedReason is the error of a run whose process died while it was running.
const abandonedReason = "the process running it stopped"

// CreateRun inserts r with status running, a fresh time-ordered id and, when r.StartedAt is zero, the
// current time. A scheduled run whose due time another run already served fails with
// massupdate.ErrAlreadyServed.
func (s *Store) CreateRun(ctx context.Context, r *massupdate.Run) error {
	if r.StartedAt.IsZero() {
		r.StartedAt = s.now()
	}
	r.StartedAt = r.StartedAt.UTC().Truncate(time.Microsecond) // what PostgreSQL keeps
	if r.Trigger == "" {
		return errors.New("create run: trigger is required")
	}
	id := newRunID(r.StartedAt)
	var settings []byte
	if len(r.Settings) > 0 {
		if !json.Valid(r.Settings) {
			return errors.New("create run: settings are not valid JSON")
		}
		settings = r.Settings
	}
	// record_limit is an integer column: a larger limit (any int `run --limit` takes) is no limit in
	// practice, and is kept as the column's largest value; the engine goes by the limit it was asked for.
	limit := min(max(r.Limit, 0), math.MaxInt32)
	var pid *uint32
	var start *time.Time
	s.mu.Lock()
	if s.lockSession != nil {
		pid, start = &s.lockSession.pid, &s.lockSession.start
	}
	s.mu.Unlock()
	_, err := s.pool.Exec(ctx, `INSERT INTO runs (id, trigger, status, dry_run, record_limit, started_at,
		resumed_from, checkpoint, settings, scheduled_for, lock_pid, lock_backend_start, reverts)
		VALUES ($1, $2, 'running', $3, $4, $5, NULLIF($6, ''), $7, $8, $9, $10, $11, NULLIF($12, ''))`,
		id, string(r.Trigger), r.DryRun, limit, r.StartedAt, r.ResumedFrom, r.Checkpoint, settings,
		r.ScheduledFor, pid, start, pgText(r.Reverts))
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "runs_schedule_once" {
			return massupdate.ErrAlreadyServed
		}
		return fmt.Errorf("create run: %w", s.scrub(err))
	}
	r.ID, r.Status = id, massupdate.Running
	return nil
}

// MarkAbandoned marks as interrupted every run left `running` whose process no longer holds the run lock
// (its session is gone). A run whose process still holds the lock is left alone, so calling it without the
// lock is harmless too. A session is known by pid and start time, so a reused pid does not keep a dead
// run alive; when PostgreSQL hides another role's start time, the pid alone decides.
func (s *Store) MarkAbandoned(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE runs r SET status = 'interrupted', finished_at = $1, error = $2
		WHERE r.status = 'running' AND NOT EXISTS (`+lockHoldersSQL+`
			AND a.pid = r.lock_pid AND (a.backend_start IS NULL OR a.backend_start = r.lock_backend_start))`,
		now.UTC(), abandonedReason, runLockKey)
	if err != nil {
		return 0, fmt.Errorf("mark abandoned runs: %w", s.scrub(err))
	}
	return int(tag.RowsAffected()), nil
}

// lockHoldersSQL selects the sessions holding the advisory lock $3 in this database. A bigint advisory
// key shows in pg_locks split into classid (high half) and objid (low half), with objsubid 1.
const lockHoldersSQL = `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
			AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND ((l.classid::bigint << 32) | l.objid::bigint) = $3`

// notContinuedSQL holds for a run (aliased r) that no other run names as the run it continues: the link
// resumed_by is written just after the continuing run is created, and a process that died in between left
// only the continuing run's resumed_from.
const notContinuedSQL = `NOT EXISTS (SELECT 1 FROM runs c WHERE c.resumed_from = r.id AND c.id <> $1)`

// LatestInterrupted returns the newest interrupted run that may be resumed: not a dry run, not resumed yet,
// and a sync run. An interrupted revert is continued by `revert RUN_ID` again (InterruptedRevert), and an
// interrupted retry by `run --retry` again: resumed as a sync, the one would write a revert's checkpoint
// into an ordinary run and the other would go on over every selected record, not the failed ones.
func (s *Store) LatestInterrupted(ctx context.Context) (*massupdate.Run, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM runs r
		WHERE status = 'interrupted' AND resumed_by IS NULL AND NOT dry_run AND trigger NOT IN ('revert', 'retry')
		AND `+notContinuedSQL+`
		ORDER BY started_at DESC, id DESC LIMIT 1`, "")
	if err != nil {
		return nil, fmt.Errorf("find interrupted run: %w", s.scrub(err))
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find interrupted run: %w", s.scrub(err))
	}
	return &r, nil
}

// MarkResumed links an interrupted run to the run that continues it. A run is resumed once only.
func (s *Store) MarkResumed(ctx context.Context, interruptedID, byID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE runs r SET resumed_by = $2
		WHERE id = $3 AND status = 'interrupted' AND resumed_by IS NULL AND NOT dry_run AND `+notContinuedSQL,
		byID, byID, interruptedID)
	if err != nil {
		return fmt.Errorf("mark run %s resumed: %w", interruptedID, s.scrub(err))
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	r, err := s.GetRun(ctx, interruptedID)
	if err != nil {
		return fmt.Errorf("mark run %s resumed: %w", interruptedID, err)
	}
	var by string
	if r.ResumedBy == "" {
		err := s.pool.QueryRow(ctx, `SELECT id FROM runs WHERE resumed_from = $1 AND id <> $2 ORDER BY started_at LIMIT 1`,
			interruptedID, byID).Scan(&by)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("mark run %s resumed: %w", interruptedID, s.scrub(err))
		}
	}
	switch {
	case r.ResumedBy != "":
		return fmt.Errorf("mark run %s resumed: it was resumed already by run %s", interruptedID, r.ResumedBy)
	case by != "":
		return fmt.Errorf("mark run %s resumed: it was resumed already by run %s", interruptedID, by)
	case r.DryRun:
		return fmt.Errorf("mark run %s resumed: a dry run is never resumed", interruptedID)
	default:
		return fmt.Errorf("mark run %s resumed: it is %s, not interrupted", interruptedID, r.Status)
	}
}

// SaveBatch records a batch in one transaction: its record outcomes, its field changes, the checkpoint, the
// run's running totals and the batch's sync state (SaveSyncTx). It retries on connection errors for up to Options.RetryFor; a retry after a
// commit whose answer was lost is harmless (rows are keyed by run and record, totals are absolute).
func (s *Store) SaveBatch(ctx context.Context, runID string, b massupdate.Batch) error {
	n := len(b.Results)
	recIDs, orgs, countries, outcomes, reasons := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n)
	lookups, syncedOld, syncedNew := make([]string, n), make([]*string, n), make([]*string, n)
	for i, r := range b.Results {
		// Org number, country and reason come from Salesforce (or quote it): bounded, and the reason, which
		// may quote an error, scrubbed.
		recIDs[i], orgs[i], countries[i], outcomes[i], reasons[i] = pgText(r.RecordID),
			bounded(pgText(r.OrgNumber), maxShortText), bounded(pgText(r.Country), maxShortText), string(r.Outcome),
			s.storedText(pgText(r.Reason), maxLongText)
		lookups[i] = r.Lookup
		if r.LastSyncedSet {
			o, err := json.Marshal(pgJSONValue(r.LastSyncedOld))
			if err != nil {
				return fmt.Errorf("save batch of run %s: old last-synced value of %s: %w", runID, r.RecordID, err)
			}
			nv, err := json.Marshal(pgJSONValue(r.LastSyncedNew))
			if err != nil {
				return fmt.Errorf("save batch of run %s: new last-synced value of %s: %w", runID, r.RecordID, err)
			}
			os, ns := string(o), string(nv)
			syncedOld[i], syncedNew[i] = &os, &ns
		}
	}
	chIDs, fields, olds, news := make([]string, len(b.Changes)), make([]string, len(b.Changes)),
		make([]string, len(b.Changes)), make([]string, len(b.Changes))
	for i, c := range b.Changes {
		o, err := json.Marshal(pgJSONValue(c.Old))
		if err != nil {
			return fmt.Errorf("save batch of run %s: old value of %s: %w", runID, c.Field, err)
		}
		n, err := json.Marshal(pgJSONValue(c.New))
		if err != nil {
			return fmt.Errorf("save batch of run %s: new value of %s: %w", runID, c.Field, err)
		}
		chIDs[i], fields[i], olds[i], news[i] = pgText(c.RecordID), pgText(c.Field), string(o), string(n)
	}
	err := s.retry(ctx, "save batch", func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// The run row first: it checks the run is still running and serialises writers of one run.
			tag, err := tx.Exec(ctx, `UPDATE runs SET checkpoint = CASE WHEN $2 = '' THEN checkpoint ELSE $2 END,
				selected = $3, missing_org_number = $4, invalid_org_number = $5, not_found = $6, unchanged = $7,
				updated = $8, failed = $9, proff_calls = $10, salesforce_calls = $11,
				lookups_fresh = $12, lookups_cached = $13, lookups_deferred = $14
				WHERE id = $1 AND status = 'running'`,
				runID, pgText(b.Checkpoint), b.Counts.Selected, b.Counts.MissingOrgNumber, b.Counts.InvalidOrgNumber,
				b.Counts.NotFound, b.Counts.Unchanged, b.Counts.Updated, b.Counts.Failed,
				b.APICalls.Proff, b.APICalls.Salesforce, b.Lookups.Fresh, b.Lookups.Cached, b.Lookups.Deferred)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return s.notRunning(ctx, tx, runID)
			}
			if len(recIDs) > 0 {
				if _, err := tx.Exec(ctx, `INSERT INTO run_records (run_id, record_id, org_number, country, outcome, reason,
						lookup, last_synced_old, last_synced_new)
					SELECT $1, r, o, c, oc, re, l, so::jsonb, sn::jsonb
					FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
						AS t(r, o, c, oc, re, l, so, sn)
					ON CONFLICT (run_id, record_id) DO NOTHING`,
					runID, recIDs, orgs, countries, outcomes, reasons, lookups, syncedOld, syncedNew); err != nil {
					return err
				}
			}
			if len(chIDs) > 0 {
				if _, err := tx.Exec(ctx, `INSERT INTO field_changes (run_id, record_id, field, old_value, new_value)
					SELECT $1, r, f, o::jsonb, n::jsonb FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS t(r, f, o, n)
					ON CONFLICT (run_id, record_id, field) DO NOTHING`,
					runID, chIDs, fields, olds, news); err != nil {
					return err
				}
			}
			return s.SaveSyncTx(ctx, tx, b.Sync)
		})
	})
	if err != nil {
		return fmt.Errorf("save batch of run %s: %w", runID, s.scrub(err))
	}
	return nil
}

// errNotRunning says a batch came for a run that is no longer running (another process marked it
// abandoned): its results must not be mixed into a closed run.
var errNotRunning = errors.New("the run is no longer running")

func (s *Store) notRunning(ctx context.Context, db DBTX, runID string) error {
	var status string
	err := db.QueryRow(ctx, "SELECT status FROM runs WHERE id = $1", runID).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return massupdate.ErrRunNotFound
	}
	if err != nil {
		return err
	}
	if status == string(massupdate.Interrupted) {
		// Another process found this run's session dead and closed it: as far as anyone else can tell, this
		// process lost the lock, and it must stop rather than write on.
		return fmt.Errorf("%w: %w (another process marked it interrupted)", massupdate.ErrLockLost, errNotRunning)
	}
	return fmt.Errorf("%w (status %s)", errNotRunning, status)
}

// FinishRun stores the final status, error, counts, API calls and finish time (now when r.FinishedAt is
// nil). It retries on connection errors for up to Options.RetryFor.
func (s *Store) FinishRun(ctx context.Context, r *massupdate.Run) error {
	if r.FinishedAt == nil {
		t := s.now().UTC().Truncate(time.Microsecond)
		r.FinishedAt = &t
	}
	switch r.Status {
	case massupdate.Succeeded, massupdate.Partial, massupdate.StatusFail, massupdate.Interrupted:
	default:
		return fmt.Errorf("finish run %s: %q is not a final status", r.ID, r.Status)
	}
	// The run's error may quote a server: scrubbed here too, whatever the caller did (not bounded: it is
	// proffsync's own message, and its end says why the run stopped).
	runError := s.storedText(pgText(r.Error), 0)
	neverValued := make([]string, len(r.NeverValued)) // not nil: the column is NOT NULL
	for i, p := range r.NeverValued {
		neverValued[i] = bounded(pgText(p), maxShortText)
	}
	err := s.retry(ctx, "finish run", func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `UPDATE runs SET status = $2, error = $3, finished_at = $4,
			selected = $5, missing_org_number = $6, invalid_org_number = $7, not_found = $8, unchanged = $9,
			updated = $10, failed = $11, proff_calls = $12, salesforce_calls = $13,
			checkpoint = CASE WHEN $14 = '' THEN checkpoint ELSE $14 END,
			lookups_fresh = $15, lookups_cached = $16, lookups_deferred = $17, never_valued = $18
			WHERE id = $1`,
			r.ID, string(r.Status), runError, r.FinishedAt.UTC(), r.Counts.Selected, r.Counts.MissingOrgNumber,
			r.Counts.InvalidOrgNumber, r.Counts.NotFound, r.Counts.Unchanged, r.Counts.Updated, r.Counts.Failed,
			r.APICalls.Proff, r.APICalls.Salesforce, pgText(r.Checkpoint),
			r.Lookups.Fresh, r.Lookups.Cached, r.Lookups.Deferred, neverValued)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return massupdate.ErrRunNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish run %s: %w", r.ID, s.scrub(err))
	}
	return nil
}

// runColumns are the columns scanRun reads, in order.
const runColumns = `id, trigger, status, dry_run, record_limit, started_at, finished_at, coalesce(resumed_from, ''),
	coalesce(resumed_by, ''), checkpoint, selected, missing_org_number, invalid_org_number, not_found, unchanged,
	updated, failed, proff_calls, salesforce_calls, error, settings, scheduled_for,
	lookups_fresh, lookups_cached, lookups_deferred, coalesce(reverts, ''), never_valued`

func scanRun(row pgx.CollectableRow) (massupdate.Run, error) {
	var r massupdate.Run
	var trigger, status string
	var settings []byte
	err := row.Scan(&r.ID, &trigger, &status, &r.DryRun, &r.Limit, &r.StartedAt, &r.FinishedAt, &r.ResumedFrom,
		&r.ResumedBy, &r.Checkpoint, &r.Counts.Selected, &r.Counts.MissingOrgNumber, &r.Counts.InvalidOrgNumber,
		&r.Counts.NotFound, &r.Counts.Unchanged, &r.Counts.Updated, &r.Counts.Failed, &r.APICalls.Proff,
		&r.APICalls.Salesforce, &r.Error, &settings, &r.ScheduledFor,
		&r.Lookups.Fresh, &r.Lookups.Cached, &r.Lookups.Deferred, &r.Reverts, &r.NeverValued)
	if err != nil {
		return r, err
	}
	r.Trigger, r.Status = massupdate.Trigger(trigger), massupdate.Status(status)
	r.StartedAt = r.StartedAt.UTC()
	if r.FinishedAt != nil {
		t := r.FinishedAt.UTC()
		r.FinishedAt = &t
	}
	if r.ScheduledFor != nil {
		t := r.ScheduledFor.UTC()
		r.ScheduledFor = &t
	}
	if len(settings) > 0 {
		r.Settings = json.RawMessage(settings)
	}
	return r, nil
}

// newRunID returns a UUID version 7: its first 48 bits are the Unix time in milliseconds, so ids sort by
// creation time, and the rest is random, so replicas never collide.
func newRunID(t time.Time) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // cannot happen on supported platforms
	}
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(b[0:6], ms[2:8])
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
