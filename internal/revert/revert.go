// Package revert undoes a run (`proffsync revert RUN_ID`): for every field the run wrote, it puts the old
// value back where Salesforce still holds the value the run wrote, and leaves a field changed since alone,
// as a conflict naming both values. The revert is itself a run (trigger revert, Reverts = the run it
// undoes) with its own record outcomes and field changes, so that it can be reverted in turn; it takes the
// run lock, writes in batches of at most massupdate.MaxBatch, records a checkpoint per batch and is
// continued by the next `revert` of the same run when it was interrupted.
//
// The engine here declares what it consumes (Store, Reader, massupdate.RecordWriter); the store and the
// Salesforce client implement them. What must never happen here: a Proff call (a revert needs none), a
// write in a dry run, a field written that the reverted run did not write, or a value overwritten that
// someone changed after the run.
package revert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/runctx"
)

// Target is one record the reverted run wrote: its field changes (Old before the run, New as the run wrote
// it) and, when the run set it, the last-synced field's values.
type Target struct {
	RecordID  string
	OrgNumber string
	Country   string
	Changes   []Change
	// LastSyncedSet says the run wrote the last-synced field: LastSyncedOld was there before, LastSyncedNew
	// is what the run wrote.
	LastSyncedSet                bool
	LastSyncedOld, LastSyncedNew any
}

// Change is one field the reverted run wrote: Old was there before, New is what the run wrote, as JSON
// values as Salesforce holds them. OldCut says the history keeps Old shortened (a very long text), so it
// cannot be put back.
type Change struct {
	Field    string
	Old, New any
	OldCut   bool
}

// Store is what a revert needs of the run store.
type Store interface {
	massupdate.RunStore
	// GetRun returns a run, or an error wrapping massupdate.ErrRunNotFound.
	GetRun(ctx context.Context, id string) (massupdate.Run, error)
	// InterruptedRevert returns the newest interrupted, not yet continued, non-dry revert of runID, or nil.
	InterruptedRevert(ctx context.Context, runID string) (*massupdate.Run, error)
	// RevertTargets returns, in Id order, up to limit records with Id greater than afterID that run runID
	// wrote (a mapped field or the last-synced field).
	RevertTargets(ctx context.Context, runID, afterID string, limit int) ([]Target, error)
}

// Reader reads the current values of records by Id.
type Reader interface {
	// Describe returns the object's fields by API name, as the integration user sees them.
	Describe(ctx context.Context) (map[string]mapping.Field, error)
	// Current calls page with the records of ids that exist, in ascending Id order, with Values holding
	// the fields the revert may write.
	Current(ctx context.Context, ids []string, page func([]massupdate.Record) error) error
}

// Options wire an Engine.
type Options struct {
	Store  Store
	Reader Reader
	Writer massupdate.RecordWriter
	// LastSyncedField is the configured last-synced field ("" for none): restored where the run set it.
	LastSyncedField string
	// Calls returns the API calls made so far; the revert records the difference. Nil: none counted.
	Calls    func() massupdate.APICalls
	Clock    clock.Clock     // the revert's stamps; nil: clock.System
	Logger   *slog.Logger    // nil: discard
	Settings json.RawMessage // the config the revert used: never secrets
	// PageSize is how many records are read from the store and from Salesforce at once (default 2000).
	PageSize int
}

// Request is one revert.
type Request struct {
	RunID  string // the run to undo, resolved (not a prefix)
	DryRun bool
}

// Refusals: nothing was recorded.
var (
	// ErrDryRunTarget: a dry run wrote nothing, so there is nothing to revert.
	ErrDryRunTarget = errors.New("a dry run wrote nothing to Salesforce: there is nothing to revert")
	// ErrRunningTarget: the run is still running; its writes are not all known yet.
	ErrRunningTarget = errors.New("the run is still running: revert it once it has ended")
)

// Engine runs reverts.
type Engine struct {
	o   Options
	log *slog.Logger
}

// New returns an engine; Store, Reader and Writer are required.
func New(o Options) (*Engine, error) {
	if o.Store == nil || o.Reader == nil || o.Writer == nil {
		return nil, errors.New("revert: Store, Reader and Writer are required")
	}
	o.Clock = clock.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Calls == nil {
		o.Calls = func() massupdate.APICalls { return massupdate.APICalls{} }
	}
	if o.PageSize <= 0 {
		o.PageSize = 2000
	}
	return &Engine{o: o, log: o.Logger}, nil
}

// Run reverts req.RunID. Like massupdate.Engine.Run it returns (nil, err) when nothing was recorded (the
// run is unknown, a dry run or still running; another run holds the lock), else the revert run as it ended
// and, when it did not succeed or end partial, the error that stopped it.
func (e *Engine) Run(ctx context.Context, req Request) (*massupdate.Run, error) {
	st := e.o.Store
	target, err := st.GetRun(ctx, req.RunID)
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", req.RunID, err)
	}
	if target.DryRun {
		return nil, fmt.Errorf("revert run %s: %w", target.ID, ErrDryRunTarget)
	}
	lock, release, err := massupdate.LockRun(ctx, st, e.o.Clock.Now(), e.log)
	if err != nil {
		return nil, err
	}
	defer release()
	// Read again under the lock: a run left running by a dead process is interrupted by now, and one
	// still running belongs to a live process (which cannot be, as this one holds the lock, unless it is
	// another database's).
	if target, err = st.GetRun(ctx, req.RunID); err != nil {
		return nil, fmt.Errorf("read run %s: %w", req.RunID, err)
	}
	if target.Status == massupdate.Running {
		return nil, fmt.Errorf("revert run %s: %w", target.ID, ErrRunningTarget)
	}
	var prev *massupdate.Run
	if !req.DryRun {
		if prev, err = st.InterruptedRevert(ctx, target.ID); err != nil {
			return nil, err
		}
	}
	r := &reverter{e: e, req: req, lock: lock, baseline: e.o.Calls()}
	r.run = &massupdate.Run{Trigger: massupdate.Revert, Status: massupdate.Running, DryRun: req.DryRun,
		StartedAt: e.o.Clock.Now(), Settings: e.o.Settings}
	r.run.Reverts = target.ID
	if prev != nil {
		// Continue where the interrupted revert stopped; until this one records a batch, its checkpoint is
		// the old one, so that continuing it in turn starts there too.
		r.run.ResumedFrom, r.run.Checkpoint = prev.ID, prev.Checkpoint
	}
	if err := st.CreateRun(ctx, r.run); err != nil {
		return nil, fmt.Errorf("create the revert run: %w", err)
	}
	ctx = runctx.WithRunID(ctx, r.run.ID)
	e.log.InfoContext(ctx, "revert started", slog.String("reverts", target.ID), slog.Bool("dry_run", req.DryRun),
		slog.String("resumed_from", r.run.ResumedFrom))
	if prev != nil {
		if err := st.MarkResumed(ctx, prev.ID, r.run.ID); err != nil {
			r.stop(massupdate.Interrupted, fmt.Errorf("link the continued revert %s: %w", prev.ID, err))
			return r.finish(ctx)
		}
	}
	r.execute(ctx)
	return r.finish(ctx)
}

// reverter is one revert in progress.
type reverter struct {
	e        *Engine
	req      Request
	run      *massupdate.Run
	lock     massupdate.RunLock
	fields   map[string]mapping.Field // describe, by lower-case name
	baseline massupdate.APICalls

	stopErr    error
	stopStatus massupdate.Status
}

// stop notes why the revert ends early; the first reason is kept, except that a failure outranks an
// interruption (as in the run engine).
func (r *reverter) stop(status massupdate.Status, err error) {
	if r.stopErr == nil || (status == massupdate.StatusFail && r.stopStatus != massupdate.StatusFail) {
		r.stopErr, r.stopStatus = err, status
	}
}

// stopOn classifies an adapter's error: rejected credentials and anything unknown fail the revert; a spent
// quota, a cut call, a lost lock or shutdown (whatever error the cut call made of it) interrupt it, to be
// continued.
func (r *reverter) stopOn(ctx context.Context, op string, err error) {
	switch {
	case errors.Is(err, massupdate.ErrQuotaExhausted), errors.Is(err, massupdate.ErrLockLost),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil:
		r.stop(massupdate.Interrupted, fmt.Errorf("%s: %w", op, err))
	default:
		r.stop(massupdate.StatusFail, fmt.Errorf("%s: %w", op, err))
	}
}

// stopped tells whether the revert must not go on: stopped already, shut down, or the lock is lost.
func (r *reverter) stopped(ctx context.Context) bool {
	if r.stopErr != nil {
		return true
	}
	select {
	case <-r.lock.Lost():
		r.stop(massupdate.Interrupted, massupdate.ErrLockLost)
		return true
	default:
	}
	if err := context.Cause(ctx); err != nil {
		r.stop(massupdate.Interrupted, fmt.Errorf("revert interrupted: %w", err))
		return true
	}
	return false
}

func (r *reverter) execute(ctx context.Context) {
	// The Salesforce client describes once: a describe the caller read to check the fields costs no second call.
	fields, err := r.e.o.Reader.Describe(ctx)
	if err != nil {
		r.stopOn(ctx, "describe the Salesforce object", err)
		return
	}
	r.fields = make(map[string]mapping.Field, len(fields))
	for name, f := range fields {
		r.fields[strings.ToLower(name)] = f
	}
	for !r.stopped(ctx) {
		targets, err := r.e.o.Store.RevertTargets(ctx, r.run.Reverts, r.run.Checkpoint, r.e.o.PageSize)
		if err != nil {
			r.stopOn(ctx, "read what the run wrote", err)
			return
		}
		if len(targets) == 0 {
			return
		}
		current, err := r.current(ctx, targets)
		if err != nil {
			r.stopOn(ctx, "read the records' current values", err)
			return
		}
		b := &batch{}
		for _, t := range targets {
			if b.add(r.evaluate(t, current[t.RecordID])) && !r.flush(ctx, b) {
				return
			}
		}
		if !r.flush(ctx, b) {
			return
		}
		c := r.run.Counts
		r.e.log.InfoContext(ctx, "revert progress", slog.Int64("selected", c.Selected), slog.Int64("updated", c.Updated),
			slog.Int64("unchanged", c.Unchanged), slog.Int64("failed", c.Failed), slog.String("checkpoint", r.run.Checkpoint))
	}
}

// current reads the targets' records from Salesforce, by Id.
func (r *reverter) current(ctx context.Context, targets []Target) (map[string]*massupdate.Record, error) {
	ids := make([]string, len(targets))
	for i, t := range targets {
		ids[i] = t.RecordID
	}
	out := make(map[string]*massupdate.Record, len(targets))
	err := r.e.o.Reader.Current(ctx, ids, func(recs []massupdate.Record) error {
		for i := range recs {
			out[recs[i].ID] = &recs[i]
		}
		return nil
	})
	return out, err
}

// done is one record evaluated: its result, its write (nil: none) and the changes the write makes.
type done struct {
	res     massupdate.RecordResult
	update  *massupdate.Update
	changes []massupdate.FieldChange
}

// evaluate decides what to put back on one record.
func (r *reverter) evaluate(t Target, rec *massupdate.Record) done {
	d := done{res: massupdate.RecordResult{RecordID: t.RecordID, OrgNumber: t.OrgNumber, Country: t.Country}}
	if rec == nil {
		d.res.Outcome = massupdate.Failed
		d.res.Reason = "the record is gone from Salesforce (deleted, or hidden from the integration user): nothing restored"
		return d
	}
	fields := map[string]any{}
	var conflicts []string
	for _, c := range t.Changes {
		f, ok := r.fields[strings.ToLower(c.Field)]
		if !ok {
			conflicts = append(conflicts, c.Field+" is no longer on the object, or the integration user cannot see it")
			continue
		}
		cur := rec.Values[c.Field]
		switch {
		case mapping.Equal(cur, c.New, f) && c.OldCut:
			conflicts = append(conflicts, c.Field+": the value before the run was longer than the history keeps, so it cannot be put back")
		case mapping.Equal(cur, c.New, f):
			fields[c.Field] = c.Old
			d.changes = append(d.changes, massupdate.FieldChange{RecordID: t.RecordID, Field: c.Field, Old: mapping.Plain(cur), New: c.Old})
		case mapping.Equal(cur, c.Old, f):
			// Put back already (by an earlier revert, or by hand): nothing to do, and no conflict.
		default:
			conflicts = append(conflicts, fmt.Sprintf("conflict: %s holds %s, the run wrote %s", c.Field, shown(mapping.Plain(cur)), shown(c.New)))
		}
	}
	mapped := len(fields) > 0
	if name := r.e.o.LastSyncedField; t.LastSyncedSet && name != "" {
		// The stamp is bookkeeping, not the customer's data: put back where it still holds the run's stamp;
		// a later stamp is a later run's, and true, so it stays without a conflict.
		if f, ok := r.fields[strings.ToLower(name)]; ok {
			cur := rec.Values[name]
			if mapping.Equal(cur, t.LastSyncedNew, f) {
				fields[name] = t.LastSyncedOld
				d.res.LastSyncedOld, d.res.LastSyncedNew, d.res.LastSyncedSet = mapping.Plain(cur), t.LastSyncedOld, true
			}
		}
	}
	switch {
	case len(conflicts) > 0:
		// A conflict fails the record (README: Contract, exit 2 "when some records failed or conflicted"),
		// and its other fields are still put back.
		d.res.Outcome, d.res.Reason = massupdate.Failed, strings.Join(conflicts, "; ")
	case mapped:
		d.res.Outcome = massupdate.Updated
	default:
		// Nothing of the run's is left, or only its last-synced stamp (which alone counts as unchanged).
		d.res.Outcome = massupdate.Unchanged
	}
	if len(fields) > 0 {
		d.update = &massupdate.Update{RecordID: t.RecordID, Fields: fields}
	}
	return d
}

// shown is a value in a reason: as JSON (strings quoted, null), cut to a readable length.
func shown(v any) string {
	b, err := json.Marshal(v)
	s := string(b)
	if err != nil {
		s = fmt.Sprint(v)
	}
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// batch is what is written and recorded together.
type batch struct {
	records []done
	updates int
}

// add puts a record into the batch and tells whether the batch is full.
func (b *batch) add(d done) bool {
	b.records = append(b.records, d)
	if d.update != nil {
		b.updates++
	}
	return b.updates >= massupdate.MaxBatch
}

// flush writes the batch (unless dry), records it with its checkpoint and empties it; false when the revert
// must stop.
func (r *reverter) flush(ctx context.Context, b *batch) bool {
	if len(b.records) == 0 {
		return true
	}
	if r.stopped(ctx) {
		return false
	}
	if !r.write(ctx, b) {
		return false
	}
	out := massupdate.Batch{Checkpoint: b.records[len(b.records)-1].res.RecordID, Counts: r.run.Counts}
	for _, d := range b.records {
		out.Counts.Add(d.res.Outcome)
		out.Results = append(out.Results, d.res)
		out.Changes = append(out.Changes, d.changes...) // a failed write left none
	}
	out.APICalls = r.calls()
	// What Salesforce took must be recorded even when shutdown comes now.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := r.e.o.Store.SaveBatch(sctx, r.run.ID, out); err != nil {
		r.stop(massupdate.Interrupted, fmt.Errorf("record a batch (Salesforce holds what was written; the continued revert finds it put back): %w", err))
		return false
	}
	r.run.Counts, r.run.Checkpoint, r.run.APICalls = out.Counts, out.Checkpoint, out.APICalls
	*b = batch{}
	return true
}

// write sends the batch's updates and gives each record its outcome; false when the revert must stop (the
// batch then stays unrecorded, for the continued revert).
func (r *reverter) write(ctx context.Context, b *batch) bool {
	var updates []massupdate.Update
	var idx []int
	for i := range b.records {
		if u := b.records[i].update; u != nil {
			updates, idx = append(updates, *u), append(idx, i)
		}
	}
	if len(updates) == 0 || r.req.DryRun {
		return true
	}
	if lc, ok := r.lock.(massupdate.LockChecker); ok {
		if err := lc.Check(ctx); err != nil {
			r.stop(massupdate.Interrupted, fmt.Errorf("check the run lock before writing: %w", err))
			return false
		}
	}
	// A write on the wire is not cut by shutdown: what Salesforce took must be known and recorded.
	results, err := r.e.o.Writer.Write(context.WithoutCancel(ctx), updates)
	if err == nil && len(results) != len(updates) {
		err = fmt.Errorf("the write answered %d results for %d records", len(results), len(updates))
	}
	switch {
	case err != nil && (errors.Is(err, massupdate.ErrUnauthorized) || errors.Is(err, massupdate.ErrQuotaExhausted)):
		r.stopOn(ctx, "write to Salesforce", err)
		return false
	case err != nil:
		for _, i := range idx {
			d := &b.records[i]
			d.res.Outcome, d.res.Reason = massupdate.Failed, join("write failed: "+err.Error(), d.res.Reason)
			d.changes, d.res.LastSyncedSet, d.res.LastSyncedOld, d.res.LastSyncedNew = nil, false, nil, nil
		}
		return true
	}
	for k, i := range idx {
		d := &b.records[i]
		if results[k].Err != nil {
			d.res.Outcome, d.res.Reason = massupdate.Failed, join(results[k].Err.Error(), d.res.Reason)
			d.changes, d.res.LastSyncedSet, d.res.LastSyncedOld, d.res.LastSyncedNew = nil, false, nil, nil
		}
	}
	return true
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

func (r *reverter) calls() massupdate.APICalls {
	c := r.e.o.Calls()
	return massupdate.APICalls{Proff: c.Proff - r.baseline.Proff, Salesforce: c.Salesforce - r.baseline.Salesforce}
}

// finish records the revert's end on a context shutdown does not cancel.
func (r *reverter) finish(ctx context.Context) (*massupdate.Run, error) {
	switch {
	case r.stopErr != nil:
		r.run.Status, r.run.Error = r.stopStatus, r.stopErr.Error()
	case r.run.Counts.Failed > 0:
		r.run.Status = massupdate.Partial
	default:
		r.run.Status = massupdate.Succeeded
	}
	now := r.e.o.Clock.Now()
	r.run.FinishedAt = &now
	r.run.APICalls = r.calls()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := r.e.o.Store.FinishRun(fctx, r.run); err != nil {
		// The database holds the revert as running; the next start marks it interrupted, and the next
		// revert of the same run continues it.
		r.run.Status, r.run.Error = massupdate.Interrupted, join(fmt.Sprintf("record the end of the revert: %v", err), r.run.Error)
		return r.run, errors.Join(r.stopErr, fmt.Errorf("record the end of the revert: %w", err))
	}
	c := r.run.Counts
	r.e.log.InfoContext(ctx, "revert finished", slog.String("status", string(r.run.Status)), slog.Int64("selected", c.Selected),
		slog.Int64("updated", c.Updated), slog.Int64("unchanged", c.Unchanged), slog.Int64("failed", c.Failed),
		slog.Int64("salesforce_calls", r.run.APICalls.Salesforce), slog.String("error", r.run.Error))
	return r.run, r.stopErr
}
