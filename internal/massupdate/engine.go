package massupdate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/transport"
)

// Progress shows how a run advances (a progress bar on a terminal). Its methods are called from one
// goroutine at a time.
type Progress interface {
	// Start is called once, before the first record, with the number of records the run expects (-1 when
	// unknown).
	Start(total int)
	// Add counts n records that ended with outcome o.
	Add(n int, o Outcome)
	// Finish is called once when the run ends, however it ends.
	Finish()
}

// Options wire an Engine to its adapters and carry the admin's settings.
type Options struct {
	Source RecordSource
	Lookup CompanyLookup
	Writer RecordWriter
	Store  RunStore

	Rules []mapping.Rule
	// Kinds gives the kind of every mappable Proff data point (the catalogue).
	Kinds map[string]mapping.Kind
	// DefaultCountry is used for records whose country is blank: NO, SE, DK or FI.
	DefaultCountry string
	// LastSyncedField, when set, is written (now, as a datetime or date) on every record that is written.
	LastSyncedField string
	// LastSyncedEveryCheck also writes it on records checked and found unchanged.
	LastSyncedEveryCheck bool

	// Concurrency is the number of lookups in flight (default 1); the Lookup itself keeps the rate.
	Concurrency int
	// RatePerSecond is the Proff rate, for the preview's estimate and the progress log.
	RatePerSecond float64

	// Calls returns the HTTP requests sent so far by this process (a transport.Tally); the run counts the
	// difference from its start. Nil: the run records zero calls.
	Calls func() APICalls
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives the run's log lines (default: discard).
	Logger *slog.Logger
	// Progress, when set, is told how the run advances.
	Progress Progress
	// Settings is stored with each run (what it ran with; never secrets).
	Settings json.RawMessage
	// Grace is how long lookups in flight may finish after ctx is cancelled (default 10 s).
	Grace time.Duration
	// ProgressEvery is the interval of the periodic progress log line (default 10 s).
	ProgressEvery time.Duration
	// BeforeLookups, when set, runs once the run is recorded and its mapping checked, before the first
	// record is read, with the run's context (so the calls it makes count for the run and are logged with
	// its id). The CLI fits the Proff rate to the token's limit there.
	BeforeLookups func(ctx context.Context)
	// Scrub removes secrets from a text the engine writes on its own account: the first line of a panic an
	// adapter raised, which becomes the run's error. Default: transport.Scrub without a secret list (the
	// credential patterns only); the CLI passes its scrubber, which knows the configured secrets.
	Scrub func(string) string
}

// Engine runs Mass Updates. One Engine may serve many runs, one at a time per database (the run lock).
type Engine struct {
	o        Options
	log      *slog.Logger
	defaultC orgnr.Country
	rules    []mapping.Rule
}

// New checks the options and returns an Engine.
func New(o Options) (*Engine, error) {
	var missing []string
	if o.Source == nil {
		missing = append(missing, "Source")
	}
	if o.Lookup == nil {
		missing = append(missing, "Lookup")
	}
	if o.Writer == nil {
		missing = append(missing, "Writer")
	}
	if o.Store == nil {
		missing = append(missing, "Store")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("massupdate: options lack %s", strings.Join(missing, ", "))
	}
	c, ok := orgnr.ParseCountry(o.DefaultCountry)
	if !ok {
		return nil, fmt.Errorf("massupdate: default country %q is not NO, SE, DK or FI", o.DefaultCountry)
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 10 * time.Second
	}
	if o.Scrub == nil {
		o.Scrub = func(s string) string { return transport.Scrub(s, nil) }
	}
	rules := make([]mapping.Rule, len(o.Rules))
	for i, r := range o.Rules {
		if r.Mode == "" {
			r.Mode = mapping.Overwrite
		}
		rules[i] = r
	}
	return &Engine{o: o, log: o.Logger, defaultC: c, rules: rules}, nil
}

// RunRequest is what one `run` asks for.
type RunRequest struct {
	Trigger      Trigger
	DryRun       bool
	Limit        int  // finish at most this many selected records; 0: all
	Resume       bool // continue the latest interrupted run from its checkpoint
	ScheduledFor *time.Time
}

// maxBatchRecords bounds the records one recorded batch holds (and so the memory held between writes): a
// batch is written and recorded when it holds MaxBatch updates or this many records, whichever comes first.
const maxBatchRecords = 5000

// Run performs one run. It returns (nil, nil) when Resume finds nothing to resume, (nil, err) when nothing
// was recorded (ErrLocked: another run holds the lock), else the run as it ended and, when it did not succeed
// or end partial, the error that stopped it. ExitCode maps the pair onto the contract's exit codes.
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
	lock, err := st.AcquireRunLock(ctx)
	if err != nil {
		return nil, fmt.Errorf("take the run lock: %w", err)
	}
	defer func() {
		if err := lock.Release(context.WithoutCancel(ctx)); err != nil {
			e.log.Warn("release the run lock", slog.String("error", err.Error()))
		}
	}()
	if n, err := st.MarkAbandoned(ctx, e.o.Now()); err != nil {
		return nil, fmt.Errorf("mark abandoned runs: %w", err)
	} else if n > 0 {
		e.log.Info("marked abandoned runs interrupted", slog.Int("runs", n))
	}
	var prev *Run
	if req.Resume {
		if prev, err = st.LatestInterrupted(ctx); err != nil {
			return nil, fmt.Errorf("find the run to resume: %w", err)
		}
		if prev == nil {
			e.log.Info("nothing to resume")
			return nil, nil
		}
	}
	r := &runner{e: e, req: req, log: e.log, baseline: e.calls(), start: e.o.Now(),
		soft: make(chan struct{}), hard: make(chan struct{}), lookedUp: make(chan struct{}, 1)}
	r.lastLog = r.start // the first progress line comes one interval into the run, not at its first batch
	r.run = &Run{Trigger: req.Trigger, Status: Running, DryRun: req.DryRun, Limit: req.Limit, StartedAt: r.start,
		Settings: e.o.Settings, ScheduledFor: req.ScheduledFor}
	if prev != nil {
		// The new run starts where the old one stopped; until it records a batch, its own checkpoint is the
		// old one, so that resuming it in turn starts there too.
		r.run.ResumedFrom, r.run.Checkpoint = prev.ID, prev.Checkpoint
	}
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
	r.log = e.log.With(slog.String("run_id", r.run.ID))
	r.log.Info("run started", slog.String("trigger", string(req.Trigger)), slog.Bool("dry_run", req.DryRun),
		slog.Int("limit", req.Limit), slog.String("resumed_from", r.run.ResumedFrom))
	if prev != nil {
		if err := st.MarkResumed(ctx, prev.ID, r.run.ID); err != nil {
			// This run names prev as the run it continues and has done nothing yet: it stands in for prev,
			// interrupted at prev's checkpoint, so that the next resume continues from there.
			r.stop(fmt.Errorf("link the resumed run %s: %w", prev.ID, err), Interrupted, true)
			return r.finish(ctx)
		}
	}
	return r.execute(transport.WithRunID(ctx, r.run.ID), lock)
}

func (e *Engine) calls() APICalls {
	if e.o.Calls == nil {
		return APICalls{}
	}
	return e.o.Calls()
}

// ExitCode maps what Run returned onto contract.md's exit codes: 0 success (and nothing to resume), 1 failed
// or an error before a run was recorded, 2 partial, 3 locked, 4 interrupted.
func ExitCode(run *Run, err error) int {
	if run == nil {
		switch {
		case err == nil:
			return 0
		case errors.Is(err, ErrLocked):
			return 3
		}
		return 1
	}
	switch run.Status {
	case Succeeded:
		return 0
	case Partial:
		return 2
	case Interrupted:
		return 4
	}
	return 1
}

// runner is one run in progress.
type runner struct {
	e        *Engine
	req      RunRequest
	run      *Run
	log      *slog.Logger
	baseline APICalls
	start    time.Time

	lock       RunLock
	fields     map[string]mapping.Field
	lastSynced *mapping.Field

	// Stopping. soft closes when no more records may be read or lookups dispatched; hard closes when nothing
	// more may be written or recorded (credentials rejected, lock lost, store gone, Salesforce quota spent).
	mu         sync.Mutex
	soft, hard chan struct{}
	softOnce   sync.Once
	hardOnce   sync.Once
	stopErr    error
	stopStatus Status
	cancelLook context.CancelFunc // cancels lookups in flight
	cancelWork context.CancelFunc // cancels a write in flight

	lookupCtx, writeCtx context.Context
	lookedUp            chan struct{} // a lookup finished (capacity 1)

	lastLog time.Time
}

// stop records why the run stops (the first reason is kept; failed outranks interrupted) and closes soft,
// and hard when hard is true.
func (r *runner) stop(err error, status Status, hard bool) { r.halt(err, status, hard, hard) }

// halt is stop, where a hard stop cuts a write in flight only when cutWrite is true. A stop that has nothing
// to do with Salesforce or the lock (the Proff token rejected) lets the write on the wire finish and be
// recorded: cutting it would not unsend it, only leave its records written but unknown.
func (r *runner) halt(err error, status Status, hard, cutWrite bool) {
	r.setReason(err, status)
	r.softOnce.Do(func() { close(r.soft) })
	if hard {
		r.hardOnce.Do(func() {
			close(r.hard)
			if r.cancelLook != nil {
				r.cancelLook()
			}
		})
	}
	if cutWrite && r.cancelWork != nil {
		r.cancelWork()
	}
}

// setReason records why the run will end early without stopping anything yet.
func (r *runner) setReason(err error, status Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopErr == nil || (status == StatusFail && r.stopStatus != StatusFail) {
		r.stopErr, r.stopStatus = err, status
	}
}

func (r *runner) stopped() (error, Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopErr, r.stopStatus
}

// recoverPanic, deferred at the top of every goroutine of a run and around the adapter calls made on the
// caller's goroutine, turns a panic (an adapter bug, a malformed answer a library chokes on) into the end of
// the run: failed, with the panic's first line, scrubbed, as its error. A panic must neither kill the
// process (`run` would exit 2, read as partial) nor leave the run `running` under `serve`. hard also stops
// the writes; soft (the reader) ends the run as a failed read does: what was read and looked up is still
// written and recorded. A write already on the wire is never cut: what Salesforce took must be recorded.
func (r *runner) recoverPanic(where string, hard bool) {
	if p := recover(); p != nil {
		r.halt(r.panicked(where, p), StatusFail, hard, false)
	}
}

// panicked logs a recovered panic and returns it as the run's error.
func (r *runner) panicked(where string, p any) error {
	msg, _, _ := strings.Cut(fmt.Sprint(p), "\n") // the first line only: a stack or a dump is no run error
	msg = strings.Join(strings.Fields(r.e.o.Scrub(msg)), " ")
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "") + "…"
	}
	r.log.Error("internal error: panic in the run", slog.String("where", where), slog.String("panic", msg))
	return fmt.Errorf("%s: internal error (panic): %s", where, msg)
}

// finishAfterPanic is the last resort of a run that panicked outside the guarded stages (linking a resumed
// run, recording its end): the run is recorded failed if the store lets it, and Run returns either way.
func (r *runner) finishAfterPanic(ctx context.Context, p any) (run *Run, err error) {
	r.halt(r.panicked("run", p), StatusFail, true, true)
	defer func() {
		if p := recover(); p != nil {
			// Recording the end panicked too: the database holds the run as running, and the next run marks
			// it interrupted once its lock's session is gone, as after a killed process.
			stopErr, _ := r.stopped()
			r.run.Status, r.run.Error = Interrupted, joinReason(r.panicked("record the end of the run", p).Error(), stopErr.Error())
			run, err = r.run, stopErr
		}
	}()
	return r.finish(ctx)
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// stopOnError classifies an adapter error into the stop it causes.
func (r *runner) stopOnError(op string, err error, hard bool) {
	switch {
	case errors.Is(err, ErrUnauthorized):
		r.stop(fmt.Errorf("%s: %w", op, err), StatusFail, true)
	case errors.Is(err, ErrQuotaExhausted):
		r.stop(fmt.Errorf("%s: %w", op, err), Interrupted, hard)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		r.stop(fmt.Errorf("%s: interrupted: %w", op, err), Interrupted, hard)
	default:
		r.stop(fmt.Errorf("%s: %w", op, err), StatusFail, hard)
	}
}

func (r *runner) execute(ctx context.Context, lock RunLock) (*Run, error) {
	r.lock = lock
	base := context.WithoutCancel(ctx) // keeps the run id; shutdown must not cut lookups in grace or the last writes
	r.lookupCtx, r.cancelLook = context.WithCancel(base)
	r.writeCtx, r.cancelWork = context.WithCancel(base)
	defer r.cancelLook()
	defer r.cancelWork()

	finished := make(chan struct{})
	var watchers sync.WaitGroup
	watchers.Add(2)
	go func() { // lock lost: stop at once, another process may take the lock
		defer watchers.Done()
		defer r.recoverPanic("watch the run lock", true)
		select {
		case <-lock.Lost():
			r.stop(ErrLockLost, Interrupted, true)
		case <-finished:
		}
	}()
	go func() { // shutdown: stop dispatching; lookups in flight get the grace period
		defer watchers.Done()
		defer r.recoverPanic("watch for shutdown", true)
		select {
		case <-ctx.Done():
			r.stop(fmt.Errorf("run interrupted: %w", context.Cause(ctx)), Interrupted, false)
			t := time.NewTimer(r.e.o.Grace)
			defer t.Stop()
			select {
			case <-t.C:
				r.cancelLook()
			case <-finished:
			}
		case <-finished:
		}
	}()
	defer func() { close(finished); watchers.Wait() }()

	if r.guardedPrepare(ctx) {
		r.pipeline(ctx)
	}
	if p := r.e.o.Progress; p != nil {
		p.Finish()
	}
	return r.finish(ctx)
}

// guardedPrepare is prepare, whose adapter calls run on the caller's goroutine: a panic in them fails the run.
func (r *runner) guardedPrepare(ctx context.Context) (ok bool) {
	defer r.recoverPanic("prepare the run", true)
	return r.prepare(ctx)
}

// prepare reads describe and checks the mapping against it before anything is written.
func (r *runner) prepare(ctx context.Context) bool {
	fields, err := r.e.o.Source.Describe(ctx)
	if err != nil {
		r.stopOnError("describe the Salesforce object", err, true)
		return false
	}
	r.fields = fields
	if err := mapping.Check(r.e.rules, r.e.o.Kinds, fields); err != nil {
		r.stop(err, StatusFail, true)
		return false
	}
	if name := r.e.o.LastSyncedField; name != "" {
		f, ok := fields[name]
		var problem string
		switch {
		case !ok:
			problem = "no such field, or the integration user cannot see it"
		case !f.Updateable:
			problem = "not updateable by the integration user"
		case f.Type != "datetime" && f.Type != "date":
			problem = "a " + f.Type + " field, not a datetime"
		}
		for _, rule := range r.e.rules {
			if strings.EqualFold(rule.Field, name) {
				problem = "also the target of the mapping of " + rule.Point
			}
		}
		if problem != "" {
			r.stop(fmt.Errorf("last-synced field %s: %s", name, problem), StatusFail, true)
			return false
		}
		r.lastSynced = &f
	}
	if f := r.e.o.BeforeLookups; f != nil {
		f(ctx)
	}
	if p := r.e.o.Progress; p != nil {
		total, err := r.e.o.Source.Count(ctx)
		if err != nil {
			r.log.Warn("count the selected records", slog.String("error", err.Error()))
			total = -1
		}
		if r.req.Limit > 0 && (total < 0 || total > r.req.Limit) {
			total = r.req.Limit
		}
		p.Start(total)
	}
	return true
}

// company is one distinct (country, org number) of the run: looked up once, its mapped values kept.
//
// A run keeps one for every distinct company it meets (that is what looking each up once costs), so it is
// kept small: the values packed into one byte slice, no channel, no copy of the key.
type company struct {
	finished atomic.Bool // set once values and err are
	values   packed
	err      error
}

// job is a lookup for a worker.
type job struct {
	co           *company
	country, org string
}

// errAbandoned marks a lookup that was never finished (the run stopped first).
var errAbandoned = errors.New("lookup abandoned")

// item is one selected record on its way through the run, in Id order.
type item struct {
	rec     Record
	country string
	org     string  // normalised when valid, else as read
	outcome Outcome // set already for missing and invalid org numbers
	reason  string
	co      *company
}

// classify reads a record's country and org number: the outcome when it needs no lookup.
func (e *Engine) classify(rec Record) item {
	it := item{rec: rec, org: strings.TrimSpace(rec.OrgNumber)}
	if it.org == "" {
		it.outcome, it.reason = MissingOrgNumber, "the record has no organisation number"
		return it
	}
	c := e.defaultC
	if raw := strings.TrimSpace(rec.Country); raw != "" {
		var ok bool
		if c, ok = orgnr.ParseCountry(raw); !ok {
			it.country = raw
			if len(raw) > 40 {
				raw = raw[:40] + "…"
			}
			it.outcome, it.reason = InvalidOrgNumber, fmt.Sprintf("country %q is not one proffsync reads as NO, SE, DK or FI", raw)
			return it
		}
	}
	it.country = string(c)
	n, err := orgnr.Normalize(c, it.org)
	switch {
	case errors.Is(err, orgnr.ErrMissing):
		it.outcome, it.reason = MissingOrgNumber, err.Error()
	case err != nil:
		it.outcome, it.reason = InvalidOrgNumber, err.Error()
	default:
		it.org = n
	}
	return it
}

type companyKey struct{ country, org string }

// companyIndex finds the companies a run has met. Canonical org numbers are at most ten digits, so a
// (country, number) pair packs into one uint64; anything else (never seen in practice) goes to a map by
// strings.
type companyIndex struct {
	packed map[uint64]*company
	other  map[companyKey]*company
}

func newCompanyIndex() *companyIndex {
	return &companyIndex{packed: map[uint64]*company{}, other: map[companyKey]*company{}}
}

func packKey(country, org string) (uint64, bool) {
	if len(org) == 0 || len(org) > 12 {
		return 0, false
	}
	var ci uint64
	switch country {
	case "NO":
		ci = 1
	case "SE":
		ci = 2
	case "DK":
		ci = 3
	case "FI":
		ci = 4
	default:
		return 0, false
	}
	n, err := strconv.ParseUint(org, 10, 64)
	if err != nil || n >= 1<<44 {
		return 0, false
	}
	// The length goes in too, so that leading zeros still tell numbers apart.
	return ci<<60 | uint64(len(org))<<52 | n, true
}

func (x *companyIndex) get(country, org string) *company {
	if k, ok := packKey(country, org); ok {
		return x.packed[k]
	}
	return x.other[companyKey{country, org}]
}

func (x *companyIndex) put(country, org string, co *company) {
	if k, ok := packKey(country, org); ok {
		x.packed[k] = co
		return
	}
	x.other[companyKey{country, org}] = co
}

var errLimit = errors.New("limit reached")

// maxRereads bounds how often one run reads its records again after a read failed part-way (each time only
// after the failed read handed over at least one record).
const maxRereads = 100

// pipeline streams the records, looks companies up concurrently and writes and records batches in Id order.
func (r *runner) pipeline(ctx context.Context) {
	queue := make(chan *item, 1024)
	jobs := make(chan job) // unbuffered: a lookup is dispatched only when a worker takes it
	var wg sync.WaitGroup
	for range r.e.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A lookup that panicked never finishes its company: the hard stop releases the committer waiting
			// for it, and the other workers drain the jobs until the reader closes them.
			defer r.recoverPanic("look up a company in Proff", true)
			r.work(jobs)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer r.recoverPanic("read the selected records", false)
		r.read(ctx, queue, jobs)
	}()

	func() {
		// The writes and the store run on this goroutine; after a panic the code below still releases
		// the reader and the workers.
		defer r.recoverPanic("write and record a batch", true)
		r.commit(queue)
	}()
	// Release the reader and the workers whatever ended the commit loop, and wait for them: nothing of
	// this run may go on after Run returns.
	r.softOnce.Do(func() { close(r.soft) })
	for range queue {
	}
	wg.Wait()
}

// read streams the selected records after the checkpoint and hands each to the committer in Id order,
// dispatching a lookup for each company it meets first.
func (r *runner) read(ctx context.Context, queue chan<- *item, jobs chan<- job) {
	defer close(queue)
	defer close(jobs)
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer r.recoverPanic("watch the read", true)
		select {
		case <-r.soft:
			cancel()
		case <-readCtx.Done():
		}
	}()
	companies := newCompanyIndex()
	n := 0
	last, progressed := "", false // the last record handed to the committer; whether this read handed one
	pageFn := func(page []Record) error {
		for i := range page {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if closed(r.soft) {
				return errAbandoned
			}
			it := r.e.classify(page[i])
			if it.outcome == "" {
				co := companies.get(it.country, it.org)
				if co == nil {
					co = &company{}
					select {
					case jobs <- job{co: co, country: it.country, org: it.org}:
						companies.put(it.country, it.org, co)
					case <-r.soft:
						return errAbandoned
					}
				}
				it.co = co
			}
			// Once its lookup is dispatched a record goes on to the committer even when the run is stopping:
			// the lookup in flight may finish within the grace period, and then the record is finished too.
			select {
			case queue <- &it:
				last, progressed = it.rec.ID, true
			case <-r.hard:
				return errAbandoned
			}
			// Stop right at the limit: reading one more page would cost a query call for nothing.
			if n++; r.req.Limit > 0 && n >= r.req.Limit {
				return errLimit
			}
		}
		return nil
	}
	after := r.run.Checkpoint
	var err error
	for rereads := 0; ; rereads++ {
		progressed = false
		err = r.e.o.Source.Records(readCtx, after, pageFn)
		// A read that fails after handing over records is read again after the last of them, in Id order as
		// before: a long query's server-side cursor expires (Salesforce: INVALID_QUERY_LOCATOR after 15 minutes
		// without a fetch, or when the user opens too many cursors), and a run reads a page only as fast as
		// Proff lets it look the page's companies up. A read that fails again at once is not retried.
		if err == nil || !progressed || rereads >= maxRereads || ctx.Err() != nil || closed(r.soft) ||
			errors.Is(err, errLimit) || errors.Is(err, errAbandoned) ||
			errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrQuotaExhausted) {
			break
		}
		r.log.Warn("the read of the selected records failed part-way; reading on after the last record read",
			slog.String("after", last), slog.String("error", err.Error()))
		after = last
	}
	switch {
	case err == nil, errors.Is(err, errLimit), errors.Is(err, errAbandoned):
	case ctx.Err() != nil:
		// Shutdown: the watcher records it too, but the run must not end before the reason is set.
		r.stop(fmt.Errorf("run interrupted: %w", context.Cause(ctx)), Interrupted, false)
	case closed(r.soft):
		// The read was cut because the run is stopping for another reason.
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrQuotaExhausted):
		r.stopOnError("read the selected records", err, false)
	default:
		// Nothing more can be read, but what was read goes on to its end: only the reason is recorded, and
		// lookups already dispatched are not abandoned.
		r.setReason(fmt.Errorf("read the selected records: %w", err), StatusFail)
	}
}

// work looks companies up until jobs closes. Every company a worker takes is looked up: the reader decides
// what is dispatched, and a lookup taken before a stop is in flight (a hard stop cuts it through lookupCtx).
func (r *runner) work(jobs <-chan job) {
	for j := range jobs {
		co := j.co
		vals, err := r.e.o.Lookup.Lookup(r.lookupCtx, j.country, j.org)
		switch {
		case err != nil && r.lookupCtx.Err() != nil:
			err = errAbandoned
		case errors.Is(err, ErrUnauthorized):
			r.halt(fmt.Errorf("look up a company in Proff: %w", err), StatusFail, true, false)
		case errors.Is(err, ErrQuotaExhausted):
			r.stop(fmt.Errorf("look up a company in Proff: %w", err), Interrupted, false)
		}
		if err == nil {
			co.values = r.keep(vals)
		}
		co.err = err
		co.finished.Store(true)
		// Wake the committer; one pending wake-up is enough, as it re-checks its record each time.
		select {
		case r.lookedUp <- struct{}{}:
		default:
		}
	}
}

// keep holds on to the values of the mapped points only, packed: memory grows per company by what the
// mapping needs, never by whole documents.
func (r *runner) keep(vals map[string]any) packed {
	return pack(r.e.rules, vals)
}

// done is one record evaluated: its result, and the write it needs.
type done struct {
	res     RecordResult
	update  *Update
	changes []FieldChange
	// written is the outcome once the write succeeds: updated, or unchanged when only the last-synced field
	// is written.
	written Outcome
}

// batch is what is written and recorded together.
type batch struct {
	records []done
	updates int
}

// commit takes the records in Id order as their lookups finish, and writes and records them in batches. It
// stops at the first record that cannot be finished: the checkpoint must never pass an unfinished record.
func (r *runner) commit(queue <-chan *item) {
	b := &batch{}
	for it := range queue {
		for it.co != nil && !it.co.finished.Load() {
			select {
			case <-r.lookedUp:
			case <-r.hard:
				return
			}
		}
		if closed(r.hard) {
			return
		}
		d, ok := r.evaluate(it)
		if !ok {
			// Only a stop leaves a lookup unfinished; make sure it is recorded as one.
			r.stop(fmt.Errorf("run interrupted before every lookup finished: %w", it.co.err), Interrupted, false)
			break
		}
		if d.update == nil && r.e.o.Progress != nil {
			r.e.o.Progress.Add(1, d.res.Outcome)
		}
		b.records = append(b.records, d)
		if d.update != nil {
			b.updates++
		}
		if b.updates >= MaxBatch || len(b.records) >= maxBatchRecords {
			if !r.flush(b) {
				return
			}
			b = &batch{}
		}
	}
	if !closed(r.hard) {
		r.flush(b)
	}
}

// evaluate decides a record's outcome and write; ok is false when the record cannot be finished in this run.
func (r *runner) evaluate(it *item) (done, bool) {
	d := done{res: RecordResult{RecordID: it.rec.ID, OrgNumber: it.org, Country: it.country, Outcome: it.outcome, Reason: it.reason}}
	if it.co == nil {
		return d, true
	}
	co := it.co
	switch {
	case co.err == nil:
	case errors.Is(co.err, ErrNotFound):
		d.res.Outcome, d.res.Reason = NotFound, "Proff has no company with this organisation number"
		return d, true
	case errors.Is(co.err, ErrCountryForbidden):
		d.res.Outcome, d.res.Reason = Failed, co.err.Error()
		return d, true
	case errors.Is(co.err, errAbandoned), errors.Is(co.err, ErrUnauthorized), errors.Is(co.err, ErrQuotaExhausted):
		return d, false
	default:
		// The Proff client names its operation ("proff lookup: …"); the reason says it once.
		d.res.Outcome, d.res.Reason = Failed, "Proff lookup failed: "+strings.TrimPrefix(co.err.Error(), "proff lookup: ")
		return d, true
	}

	fields := map[string]any{}
	var notes []string
	values := co.values.unpack(len(r.e.rules))
	for i, rule := range r.e.rules {
		v := values[i]
		if v == nil || !mapping.HasValue(v) {
			continue // a value Proff lacks never clears or changes a field
		}
		f := r.fields[rule.Field]
		cur := it.rec.Values[rule.Field]
		if rule.Mode == mapping.FillBlank && !mapping.IsEmpty(cur) {
			continue
		}
		nv, err := mapping.Convert(v, r.e.o.Kinds[rule.Point], f)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s not written: %s", rule.Field, err))
			continue
		}
		if mapping.Equal(cur, nv, f) {
			continue
		}
		fields[rule.Field] = nv
		d.changes = append(d.changes, FieldChange{RecordID: it.rec.ID, Field: rule.Field, Old: mapping.Plain(cur), New: nv})
	}
	d.res.Reason = strings.Join(notes, "; ")
	switch {
	case len(fields) > 0:
		d.res.Outcome, d.written = Updated, Updated
	case len(notes) > 0:
		// Nothing could be written and something did not fit: the admin has to see it.
		d.res.Outcome = Failed
		return d, true
	default:
		d.res.Outcome, d.res.Reason = Unchanged, ""
		if !r.e.o.LastSyncedEveryCheck || r.lastSynced == nil {
			return d, true
		}
		d.written = Unchanged
	}
	if r.lastSynced != nil {
		now := r.e.o.Now().UTC()
		if r.lastSynced.Type == "date" {
			fields[r.lastSynced.Name] = now.Format("2006-01-02")
		} else {
			fields[r.lastSynced.Name] = now.Format("2006-01-02T15:04:05.000Z")
		}
	}
	d.update = &Update{RecordID: it.rec.ID, Fields: fields}
	return d, true
}

// flush writes a batch's updates (unless dry), attributes the results and records the batch with its
// checkpoint. It returns false when the run must stop.
func (r *runner) flush(b *batch) bool {
	if len(b.records) == 0 {
		return true
	}
	wrote := false // Salesforce answered a write for this batch: it must be recorded, even if the run is stopping
	if b.updates > 0 && !r.req.DryRun {
		updates := make([]Update, 0, b.updates)
		idx := make([]int, 0, b.updates)
		for i := range b.records {
			if u := b.records[i].update; u != nil {
				updates = append(updates, *u)
				idx = append(idx, i)
			}
		}
		if closed(r.hard) {
			return false
		}
		if lc, ok := r.lock.(LockChecker); ok {
			if err := lc.Check(r.writeCtx); err != nil {
				r.stop(fmt.Errorf("check the run lock before writing: %w", err), Interrupted, true)
				return false
			}
		}
		results, err := r.e.o.Writer.Write(r.writeCtx, updates)
		if err == nil && len(results) != len(updates) {
			err = fmt.Errorf("the write answered %d results for %d records", len(results), len(updates))
		}
		for i := 0; err == nil && i < len(results); i++ {
			if id := results[i].RecordID; id != "" && id != updates[i].RecordID {
				err = fmt.Errorf("the write answered for record %s in the place of %s", id, updates[i].RecordID)
			}
		}
		switch {
		case err != nil && closed(r.hard):
			// The stop may have cut the write: not known to be written, so unfinished for the resumed run.
			return false
		case err != nil && (errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrQuotaExhausted) ||
			errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
			// Not written, or not known to be: these records stay unfinished for the resumed run.
			r.stopOnError("write to Salesforce", err, true)
			return false
		case err != nil:
			for _, i := range idx {
				d := &b.records[i]
				d.res.Outcome, d.res.Reason = Failed, joinReason("write failed: "+err.Error(), d.res.Reason)
			}
		default:
			wrote = true
			for k, i := range idx {
				d := &b.records[i]
				if results[k].Err != nil {
					d.res.Outcome, d.res.Reason = Failed, joinReason(results[k].Err.Error(), d.res.Reason)
				} else {
					d.res.Outcome = d.written
				}
			}
		}
	} else {
		for i := range b.records {
			if b.records[i].update != nil {
				b.records[i].res.Outcome = b.records[i].written
			}
		}
	}

	counts := r.run.Counts
	out := Batch{Results: make([]RecordResult, 0, len(b.records)), Checkpoint: b.records[len(b.records)-1].res.RecordID}
	for _, d := range b.records {
		counts.Add(d.res.Outcome)
		out.Results = append(out.Results, d.res)
		if d.res.Outcome == Updated {
			out.Changes = append(out.Changes, d.changes...)
		}
	}
	out.Counts, out.APICalls = counts, r.calls()
	sctx := r.writeCtx
	if wrote {
		// What Salesforce took is recorded whatever stops the run meanwhile (a lost lock, PostgreSQL away for
		// a moment: the store retries), so that `changes` lists every field written. The store refuses the
		// batch if another process has closed the run since.
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(context.WithoutCancel(r.writeCtx), 2*time.Minute)
		defer cancel()
	} else if closed(r.hard) {
		return false
	}
	if err := r.e.o.Store.SaveBatch(sctx, r.run.ID, out); err != nil {
		if closed(r.hard) {
			return false
		}
		r.stop(fmt.Errorf("record a batch (Salesforce holds what was written; the resumed run finds it unchanged): %w", err), Interrupted, true)
		return false
	}
	r.run.Counts, r.run.Checkpoint, r.run.APICalls = counts, out.Checkpoint, out.APICalls
	if closed(r.hard) {
		return false
	}
	if p := r.e.o.Progress; p != nil {
		for _, d := range b.records {
			if d.update != nil {
				p.Add(1, d.res.Outcome)
			}
		}
	}
	if now := r.e.o.Now(); now.Sub(r.lastLog) >= r.e.o.ProgressEvery {
		r.lastLog = now
		r.logProgress("run progress", now)
	}
	return true
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
	r.log.Info(msg, slog.Int64("selected", c.Selected), slog.Int64("updated", c.Updated),
		slog.Int64("unchanged", c.Unchanged), slog.Int64("not_found", c.NotFound), slog.Int64("failed", c.Failed),
		slog.Int64("missing_org_number", c.MissingOrgNumber), slog.Int64("invalid_org_number", c.InvalidOrgNumber),
		slog.Int64("proff_calls", r.run.APICalls.Proff), slog.Int64("salesforce_calls", r.run.APICalls.Salesforce),
		slog.Float64("records_per_second", perSec), slog.String("checkpoint", r.run.Checkpoint))
}

// finish stores the run's end on a context shutdown does not cancel.
func (r *runner) finish(ctx context.Context) (*Run, error) {
	stopErr, status := r.stopped()
	switch {
	case stopErr != nil:
		r.run.Status, r.run.Error = status, stopErr.Error()
	case r.run.Counts.Failed > 0:
		r.run.Status = Partial
	default:
		r.run.Status = Succeeded
	}
	now := r.e.o.Now()
	r.run.FinishedAt = &now
	r.run.APICalls = r.calls()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	ferr := r.e.o.Store.FinishRun(fctx, r.run)
	attrs := []any{slog.String("status", string(r.run.Status)), slog.Duration("duration", now.Sub(r.start))}
	switch {
	case stopErr == nil:
		r.logProgress("run finished", now)
	case status == Interrupted:
		// An interruption (shutdown, quota, lock or database lost) is expected operation, not an error.
		r.log.Warn("run interrupted", append(attrs, slog.String("reason", stopErr.Error()), slog.String("checkpoint", r.run.Checkpoint))...)
	default:
		r.log.Error("run failed", append(attrs, slog.String("error", stopErr.Error()))...)
	}
	if ferr != nil {
		r.log.Error("record the end of the run", slog.String("error", ferr.Error()))
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
