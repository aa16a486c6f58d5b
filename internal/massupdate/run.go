package massupdate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/runctx"
)

// Run performs one run. It returns (nil, nil) when Resume finds nothing to resume, (nil, err) when nothing
// was recorded (ErrLocked: another run holds the lock), else the run as it ended and, when it did not succeed
// or end partial, the error that stopped it.
func (e *Engine) Run(ctx context.Context, req RunRequest) (out *Run, err error) {
	if req.DryRun && req.Resume {
		return nil, errors.New("a dry run cannot resume an interrupted run")
	}
	if req.Limit < 0 {
		return nil, fmt.Errorf("limit %d is negative", req.Limit)
	}
	if req.Trigger == "" {
		req.Trigger = Manual
	}
	st := e.o.Store
	lock, release, err := LockRun(ctx, st, e.o.Clock.Now(), e.log)
	if err != nil {
		return nil, err
	}
	defer release()
	var prev *Run
	if req.Resume {
		if prev, err = st.LatestInterrupted(ctx); err != nil {
			return nil, fmt.Errorf("find the run to resume: %w", err)
		}
		if prev == nil {
			e.log.InfoContext(ctx, "nothing to resume")
			return nil, nil
		}
	}
	r := e.newRunner(req, prev)
	if err := st.CreateRun(ctx, r.run); err != nil {
		return nil, fmt.Errorf("create the run: %w", err)
	}
	// The run is recorded running: whatever panics from here on, it must not stay so. The stages guard
	// themselves; this catches the rest. (Deferred after the lock's release, so it runs before it.)
	defer func() {
		if p := recover(); p != nil {
			out, err = r.finishAfterPanic(ctx, p)
		}
	}()
	// Every line of the run carries run_id through the context (runctx's handler), not the logger: the
	// adapters' lines get it the same way.
	ctx = runctx.WithRunID(ctx, r.run.ID)
	r.log.InfoContext(ctx, "run started", slog.String("trigger", string(req.Trigger)), slog.Bool("dry_run", req.DryRun),
		slog.Int("limit", req.Limit), slog.Bool("full", req.Full), slog.String("resumed_from", r.run.ResumedFrom))
	if prev != nil {
		if err := st.MarkResumed(ctx, prev.ID, r.run.ID); err != nil {
			// This run names prev as the run it continues and has done nothing yet: it stands in for prev,
			// interrupted at prev's checkpoint, so that the next resume continues from there.
			r.stop.abort(fmt.Errorf("link the resumed run %s: %w", prev.ID, err))
			return r.finish(ctx)
		}
	}
	return r.execute(ctx, lock)
}

// newRunner prepares a run, not yet recorded; prev is the run it resumes, if any.
func (e *Engine) newRunner(req RunRequest, prev *Run) *runner {
	r := &runner{e: e, req: req, log: e.log, stop: newStopper(), lookedUp: make(chan struct{}, 1),
		baseline: e.calls(), start: e.o.Clock.Now(), valued: make([]bool, len(e.rules))}
	if req.CallsSince != nil {
		r.baseline = *req.CallsSince
	}
	r.lastLog = r.start // the first progress line comes one interval into the run, not at its first batch
	r.run = &Run{Trigger: req.Trigger, Status: Running, DryRun: req.DryRun, Limit: req.Limit, StartedAt: r.start,
		Settings: e.o.Settings, ScheduledFor: req.ScheduledFor}
	if prev != nil {
		// The new run starts where the old one stopped; until it records a batch, its own checkpoint is the
		// old one, so that resuming it in turn starts there too.
		r.run.ResumedFrom, r.run.Checkpoint = prev.ID, prev.Checkpoint
	}
	return r
}

// runner is one run in progress. Its stages, each in a file of its own: read.go reads, classifies and
// dispatches the records, lookup.go looks their companies up, evaluate.go decides each record's write,
// commit.go writes, attributes and records the batches; stop.go is how any of them ends the run early.
type runner struct {
	e    *Engine
	req  RunRequest
	run  *Run
	log  *slog.Logger
	stop *stopper

	// What prepare learnt, read by the stages.
	lock       RunLock
	fields     map[string]mapping.Field
	lastSynced *mapping.Field

	lookedUp chan struct{} // a lookup finished (capacity 1): wakes the committer

	// What the committer saw of the documents: whether it found any company, and which rules' points had
	// a value in one (NeverValued).
	found  bool
	valued []bool

	// Progress: the API calls before the run (it counts the difference), its start, its last progress line.
	baseline       APICalls
	start, lastLog time.Time
}

// recoverPanic, deferred at the top of every goroutine of a run and around the adapter calls made on the
// caller's goroutine, turns a panic (an adapter bug, a malformed answer a library chokes on) into the end of
// the run: failed, with the panic's first line, scrubbed, as its error. A panic must neither kill the
// process (`run` would exit 2, read as partial) nor leave the run `running` under `serve`. stop is how hard:
// stop.crash also stops the writes; the reader's stop.fail ends the run as a failed read does, and what was
// read and looked up is still written and recorded. Neither cuts a write already on the wire: what
// Salesforce took must be recorded.
func (r *runner) recoverPanic(where string, stop func(error)) {
	if p := recover(); p != nil {
		stop(r.panicked(where, p))
	}
}

// panicked logs a recovered panic and returns it as the run's error.
func (r *runner) panicked(where string, p any) error {
	msg, _, _ := strings.Cut(fmt.Sprint(p), "\n") // the first line only: a stack or a dump is no run error
	msg = strings.Join(strings.Fields(r.e.o.Scrub(msg)), " ")
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "") + "…"
	}
	r.log.ErrorContext(r.logCtx(context.Background()), "internal error: panic in the run", slog.String("where", where), slog.String("panic", msg))
	return fmt.Errorf("%s: internal error (panic): %s", where, msg)
}

// finishAfterPanic is the last resort of a run that panicked outside the guarded stages (linking a resumed
// run, recording its end): the run is recorded failed if the store lets it, and Run returns either way.
func (r *runner) finishAfterPanic(ctx context.Context, p any) (run *Run, err error) {
	r.stop.reject(r.panicked("run", p))
	defer func() {
		if p := recover(); p != nil {
			// Recording the end panicked too: the database holds the run as running, and the next run marks
			// it interrupted once its lock's session is gone, as after a killed process.
			stopErr, _ := r.stop.reason()
			r.run.Status, r.run.Error = Interrupted, joinReason(r.panicked("record the end of the run", p).Error(), stopErr.Error())
			run, err = r.run, stopErr
		}
	}()
	return r.finish(ctx)
}

func (r *runner) execute(ctx context.Context, lock RunLock) (*Run, error) {
	r.lock = lock
	// The stages' contexts keep the run id, but shutdown must not cut the lookups in their grace period or
	// the last writes: only the stopper cuts them.
	lookups, writes, release := r.stop.bind(context.WithoutCancel(ctx))
	defer release()

	// finished ends when the run does: the watchers and the grace period's wait end with it.
	finished, end := context.WithCancel(context.WithoutCancel(ctx))
	var watchers sync.WaitGroup
	watchers.Add(2)
	go func() {
		defer watchers.Done()
		defer r.recoverPanic("watch the run lock", r.stop.crash)
		r.watchLock(lock, finished.Done())
	}()
	go func() {
		defer watchers.Done()
		defer r.recoverPanic("watch for shutdown", r.stop.crash)
		r.watchShutdown(ctx, finished)
	}()
	defer func() { end(); watchers.Wait() }()

	if r.guardedPrepare(ctx) {
		r.pipeline(ctx, lookups, writes)
	}
	if p := r.e.o.Progress; p != nil {
		p.Finish()
	}
	return r.finish(ctx)
}

// watchLock stops the run at once when its lock is lost: another process may take the lock.
func (r *runner) watchLock(lock RunLock, finished <-chan struct{}) {
	select {
	case <-lock.Lost():
		r.stop.abort(ErrLockLost)
	case <-finished:
	}
}

// watchShutdown stops the dispatch when ctx ends; the lookups in flight get the grace period (on the
// engine's clock), which ends early when the run does.
func (r *runner) watchShutdown(ctx, finished context.Context) {
	select {
	case <-ctx.Done():
	case <-finished.Done():
		return
	}
	r.stop.interrupt(fmt.Errorf("run interrupted: %w", context.Cause(ctx)))
	if r.e.o.Clock.Sleep(finished, r.e.o.Grace) == nil {
		r.stop.cutLookups()
	}
}

// guardedPrepare is prepare, whose adapter calls run on the caller's goroutine: a panic in them fails the run.
func (r *runner) guardedPrepare(ctx context.Context) (ok bool) {
	defer r.recoverPanic("prepare the run", r.stop.crash)
	return r.prepare(ctx)
}

// prepare reads describe and checks the mapping against it before anything is written.
func (r *runner) prepare(ctx context.Context) bool {
	fields, err := r.e.o.Source.Describe(ctx)
	if err != nil {
		r.stop.abortOn("describe the Salesforce object", err)
		return false
	}
	r.fields = fields
	if err := mapping.Check(r.e.rules, r.e.o.Kinds, fields); err != nil {
		r.stop.reject(err)
		return false
	}
	if name := r.e.o.LastSyncedField; name != "" {
		f := fields[name]
		if problem := r.lastSyncedProblem(fields); problem != "" {
			r.stop.reject(fmt.Errorf("last-synced field %s: %s", name, problem))
			return false
		}
		r.lastSynced = &f
	}
	if f := r.e.o.BeforeLookups; f != nil {
		f(ctx)
	}
	if p := r.e.o.Progress; p != nil {
		p.Start(r.expected(ctx))
	}
	return true
}

// lastSyncedProblem says why the configured last-synced field cannot be written ("": it can).
func (r *runner) lastSyncedProblem(fields map[string]mapping.Field) string {
	name := r.e.o.LastSyncedField
	f, ok := fields[name]
	var problem string
	if !ok {
		problem = "no such field, or the integration user cannot see it"
	} else if p := mapping.LastSyncedProblems(f); len(p) > 0 {
		problem = strings.Join(p, "; ")
	}
	for _, rule := range r.e.rules {
		if strings.EqualFold(rule.Field, name) {
			problem = "also the target of the mapping of " + rule.Point
		}
	}
	return problem
}

// expected is the number of records the run expects, for the progress bar (-1: unknown).
func (r *runner) expected(ctx context.Context) int {
	total, err := r.e.o.Source.Count(ctx)
	if err != nil {
		r.log.WarnContext(ctx, "count the selected records", slog.String("error", err.Error()))
		total = -1
	}
	if r.req.Limit > 0 && (total < 0 || total > r.req.Limit) {
		total = r.req.Limit
	}
	return total
}

// pipeline streams the records, looks companies up concurrently and writes and records batches in Id order:
// one reader, Concurrency workers, and the committer on this goroutine.
func (r *runner) pipeline(ctx, lookups, writes context.Context) {
	queue := make(chan *item, 1024)
	jobs := make(chan job) // unbuffered: a lookup is dispatched only when a worker takes it
	var wg sync.WaitGroup
	for range r.e.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A lookup that panicked never finishes its company: the hard stop releases the committer waiting
			// for it, and the other workers drain the jobs until the reader closes them.
			defer r.recoverPanic("look up a company in Proff", r.stop.crash)
			r.work(lookups, jobs)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer r.recoverPanic("read the selected records", r.stop.fail)
		r.read(ctx, queue, jobs)
	}()

	func() {
		// The writes and the store run on this goroutine; after a panic the code below still releases
		// the reader and the workers.
		defer r.recoverPanic("write and record a batch", r.stop.crash)
		r.commit(writes, queue)
	}()
	// Release the reader and the workers whatever ended the commit loop, and wait for them: nothing of
	// this run may go on after Run returns.
	r.stop.endReading()
	for range queue {
	}
	wg.Wait()
}

// neverValued lists the mapped points that had no value in any document the run found, in mapping order;
// nil when it found none (nothing can be said then).
func (r *runner) neverValued() []string {
	if !r.found {
		return nil
	}
	valued := map[string]bool{}
	for i, rule := range r.e.rules {
		valued[rule.Point] = valued[rule.Point] || r.valued[i]
	}
	var out []string
	for _, rule := range r.e.rules {
		if !valued[rule.Point] {
			out = append(out, rule.Point)
			valued[rule.Point] = true // once
		}
	}
	return out
}

// logCtx is ctx carrying the run's id, for a log line written where the run's context is not at hand.
func (r *runner) logCtx(ctx context.Context) context.Context {
	if r.run == nil || r.run.ID == "" || runctx.RunID(ctx) == r.run.ID {
		return ctx
	}
	return runctx.WithRunID(ctx, r.run.ID)
}

func joinReason(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

func (r *runner) calls() APICalls {
	c := r.e.calls()
	return APICalls{Proff: c.Proff - r.baseline.Proff, Salesforce: c.Salesforce - r.baseline.Salesforce}
}

func (r *runner) logProgress(msg string, now time.Time) {
	c := r.run.Counts
	elapsed := now.Sub(r.start).Seconds()
	var perSec float64
	if elapsed > 0 {
		perSec = float64(c.Selected) / elapsed
	}
	r.log.InfoContext(r.logCtx(context.Background()), msg, slog.Int64("selected", c.Selected), slog.Int64("updated", c.Updated),
		slog.Int64("unchanged", c.Unchanged), slog.Int64("not_found", c.NotFound), slog.Int64("failed", c.Failed),
		slog.Int64("missing_org_number", c.MissingOrgNumber), slog.Int64("invalid_org_number", c.InvalidOrgNumber),
		slog.Int64("lookups_fresh", r.run.Lookups.Fresh), slog.Int64("lookups_cached", r.run.Lookups.Cached),
		slog.Int64("lookups_deferred", r.run.Lookups.Deferred),
		slog.Int64("proff_calls", r.run.APICalls.Proff), slog.Int64("salesforce_calls", r.run.APICalls.Salesforce),
		slog.Float64("records_per_second", perSec), slog.String("checkpoint", r.run.Checkpoint))
}

// finish stores the run's end on a context shutdown does not cancel.
func (r *runner) finish(ctx context.Context) (*Run, error) {
	ctx = r.logCtx(ctx)
	stopErr, status := r.stop.reason()
	switch {
	case stopErr != nil:
		r.run.Status, r.run.Error = status, stopErr.Error()
	case r.run.Counts.Failed > 0:
		r.run.Status = Partial
	default:
		r.run.Status = Succeeded
	}
	now := r.e.o.Clock.Now()
	r.run.FinishedAt = &now
	r.run.APICalls = r.calls()
	r.run.NeverValued = r.neverValued()
	if len(r.run.NeverValued) > 0 {
		r.log.WarnContext(ctx, "mapped data point never had a value in this run: check the spelling",
			slog.Any("points", r.run.NeverValued))
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	ferr := r.e.o.Store.FinishRun(fctx, r.run)
	attrs := []any{slog.String("status", string(r.run.Status)), slog.Duration("duration", now.Sub(r.start))}
	switch {
	case stopErr == nil:
		r.logProgress("run finished", now)
	case status == Interrupted:
		// An interruption (shutdown, quota, lock or database lost) is expected operation, not an error.
		r.log.WarnContext(ctx, "run interrupted", append(attrs, slog.String("reason", stopErr.Error()), slog.String("checkpoint", r.run.Checkpoint))...)
	default:
		r.log.ErrorContext(ctx, "run failed", append(attrs, slog.String("error", stopErr.Error()))...)
	}
	if ferr != nil {
		r.log.ErrorContext(ctx, "record the end of the run", slog.String("error", ferr.Error()))
		// The database still holds the run as running, with the checkpoint of its last recorded batch: the next
		// start marks it interrupted (its lock's session is gone) and it can be resumed from there. Say so
		// now, as history will (exit 4: PostgreSQL lost), rather than report an end nobody recorded.
		ferr = fmt.Errorf("record the end of the run: %w", ferr)
		if r.run.Status != Interrupted {
			r.run.Error = joinReason(ferr.Error(), r.run.Error)
		}
		r.run.Status = Interrupted
		return r.run, errors.Join(stopErr, ferr)
	}
	return r.run, stopErr
}
