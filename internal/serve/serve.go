// Package serve is the inside of `proffsync serve`: the schedule loop that starts the nightly Mass Update
// at each due time of the admin's cron, the daily pruning, and the HTTP endpoints /healthz, /readyz and
// /metrics, with a graceful shutdown around them.
//
// What must never happen here: a scheduled run while the schedule is disabled (README: Privacy, P5); a due time
// run twice by this process (across daylight-saving changes, long runs or clock jumps); a secret or an
// error text with one in a log line or an HTTP answer. The package knows nothing of Salesforce, Proff or
// SQL: the caller hands in Run, Prune and Ready, wired to the engine and the store.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/metrics"
	"github.com/proffconnect/proffsync/internal/runctx"
	"github.com/proffconnect/proffsync/internal/secret"
)

// wakeEvery bounds each wait of the schedule loop. The loop waits on a timer, which runs on the monotonic
// clock: were it set for hours ahead, a wall clock that jumps meanwhile (NTP, a suspended VM) would have
// the due time fire late. Waking at least once a minute moves the schedule with the wall clock; every
// wake-up is only a reason to look at Now again.
const wakeEvery = time.Minute

// PruneEvery is how often Prune runs (and once at start).
const PruneEvery = 24 * time.Hour

// Options configure a Server.
type Options struct {
	// Enabled is schedule.enabled: while false nothing is ever scheduled (P5).
	Enabled bool
	// Cron is five standard fields or a descriptor (@daily, @every 6h); Timezone an IANA zone ("" local).
	Cron, Timezone string
	// Addr is the HTTP address for /healthz, /readyz and /metrics; "" serves no HTTP.
	Addr string
	// Run runs the scheduled Mass Update for the due time: the caller wires the engine with trigger
	// schedule, ScheduledFor=due, and resumes an interrupted run when one exists. Its ctx is cancelled at
	// shutdown; the engine then records the run interrupted. It returns the run as recorded (or nil) and
	// an error wrapping massupdate.ErrLocked or ErrAlreadyServed when the due time was not run.
	// The server observes the returned run in Metrics, so the caller must not.
	Run func(ctx context.Context, due time.Time) (*massupdate.Run, error)
	// Prune deletes what is older than the retention and logs the counts; run at start and daily. May be nil.
	Prune func(ctx context.Context) error
	// Ready reports whether the process can serve (PostgreSQL reachable, migrations applied). nil: ready.
	Ready func(ctx context.Context) error
	// Metrics is served on /metrics; nil creates a fresh one.
	Metrics *metrics.Metrics
	// Clock drives the schedule and /readyz's cache; nil is clock.System.
	Clock clock.Clock
	// Logger; nil discards.
	Logger *slog.Logger
	// ShutdownTimeout bounds the shutdown: the run in progress ending and HTTP closing. Default 30s.
	ShutdownTimeout time.Duration
	// HTTP bounds the HTTP server's connections; zero fields take DefaultHTTPLimits' values.
	HTTP HTTPLimits
	// ReadyCache is how long /readyz answers from its last check (default 1s): a probe or a scraper
	// polling it must not cost a database round trip per request.
	ReadyCache time.Duration
	// Pages, when set, serves everything but /healthz, /readyz and /metrics: the read-only history pages,
	// which do their own access control (those three stay open).
	Pages http.Handler
}

// HTTPLimits bound what one client can hold of the HTTP server. The endpoints are small and unauthenticated:
// without these, idle or slow connections pile up until the process runs out of file descriptors and
// /healthz stops answering.
type HTTPLimits struct {
	// ReadHeaderTimeout bounds the wait for a request's headers (a connection that sends nothing is closed
	// after it); ReadTimeout the whole request.
	ReadHeaderTimeout, ReadTimeout time.Duration
	// WriteTimeout bounds the answer; a /metrics scrape is well under it.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes int
	// MaxConns is the most connections served at once; further ones wait in the kernel's accept queue
	// until a connection closes (the timeouts above make sure one does).
	MaxConns int
}

// DefaultHTTPLimits suit probes and a Prometheus scrape every 15-60 s: the scraper keeps its connection
// alive between scrapes, and a scrape times out on its side after 10 s by default.
var DefaultHTTPLimits = HTTPLimits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       10 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       90 * time.Second,
	MaxHeaderBytes:    16 << 10,
	MaxConns:          64,
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	d := DefaultHTTPLimits
	pick := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	pick(&l.ReadTimeout, d.ReadTimeout)
	pick(&l.WriteTimeout, d.WriteTimeout)
	pick(&l.IdleTimeout, d.IdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConns <= 0 {
		l.MaxConns = d.MaxConns
	}
	return l
}

// Server is a `proffsync serve` process: schedule, pruning and HTTP.
type Server struct {
	opts     Options
	tt       timetable // nil when the schedule is disabled and no cron is given
	loc      *time.Location
	clock    clock.Clock
	log      *slog.Logger
	metrics  *metrics.Metrics
	handler  http.Handler
	stopping atomic.Bool

	mu      sync.Mutex
	ln      net.Listener
	started bool

	ready readiness
	// atConnLimit, when set (tests), is called each time the HTTP server waits for a connection to close
	// before it accepts the next.
	atConnLimit func()
}

// readiness is /readyz's cached check. Its mutex is held during a check, so that requests arriving
// meanwhile wait for that check instead of each making their own.
type readiness struct {
	mu      sync.Mutex
	checked time.Time // zero: never
	err     error
	logged  bool // a check has been logged; with err, the state it logged
	wasErr  bool
}

// New checks the options and parses the schedule. A malformed cron or an unknown timezone is an error,
// also while the schedule is disabled, so that enabling it later cannot reveal a broken config.
func New(o Options) (*Server, error) {
	s := &Server{opts: o, clock: clock.Or(o.Clock), log: o.Logger, metrics: o.Metrics}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	if s.opts.ShutdownTimeout <= 0 {
		s.opts.ShutdownTimeout = 30 * time.Second
	}
	if s.opts.ReadyCache <= 0 {
		s.opts.ReadyCache = time.Second
	}
	s.opts.HTTP = s.opts.HTTP.withDefaults()
	if o.Enabled || strings.TrimSpace(o.Cron) != "" {
		tt, loc, err := parseTimetable(o.Cron, o.Timezone)
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		s.tt, s.loc = tt, loc
	}
	if o.Enabled && o.Run == nil {
		return nil, errors.New("serve: the schedule is enabled but no Run is given")
	}
	s.handler = s.newHandler()
	return s, nil
}

// Handler serves /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds Options.Addr now, so that a caller can report a bind error (or the port of ":0") before
// Run; Run binds it itself otherwise. It returns nil when Addr is "".
func (s *Server) Listen() (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr(), nil
	}
	if s.opts.Addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("serve: listen on %s: %w", s.opts.Addr, err)
	}
	s.ln = ln
	return ln.Addr(), nil
}

// Run serves until ctx is done, then shuts down: the scheduler stops, a run in progress sees its ctx
// cancelled and is waited for, and HTTP closes, all within ShutdownTimeout. It returns nil after a clean
// shutdown, and an error when HTTP could not be served or the shutdown overran its time.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("serve: Run called twice")
	}
	s.started = true
	s.mu.Unlock()

	if _, err := s.Listen(); err != nil {
		return err
	}
	var httpSrv *http.Server
	httpErr := make(chan error, 1)
	if s.ln != nil {
		l := s.opts.HTTP
		httpSrv = &http.Server{Handler: s.handler, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
			WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes,
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
		s.log.Info("serving /healthz, /readyz and /metrics", slog.String("addr", s.ln.Addr().String()))
		ln := newLimitListener(s.ln, l.MaxConns, s.atConnLimit)
		go func() {
			defer func() {
				if p := recover(); p != nil {
					httpErr <- fmt.Errorf("internal error (panic): %s", panicLine(p))
				}
			}()
			if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				httpErr <- err
			}
		}()
	}

	// The loop (and a run in progress) is cancelled by stopLoop only, after readiness has gone to 503: were
	// it derived from ctx, a run could see the cancellation while /readyz still said ready.
	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoop()
	loopDone := make(chan struct{})
	loopErr := make(chan error, 1)
	go func() {
		defer close(loopDone)
		defer func() {
			// Run and Prune are guarded where they are called; this is the loop's own bug. A schedule that
			// silently stopped would be worse than a process that exits with an error and is restarted.
			if p := recover(); p != nil {
				loopErr <- fmt.Errorf("internal error (panic): %s", panicLine(p))
			}
		}()
		s.loop(loopCtx)
	}()

	var failure error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", slog.String("reason", context.Cause(ctx).Error()))
	case err := <-httpErr:
		failure = fmt.Errorf("serve: http: %w", err)
		s.log.Error("HTTP server failed; shutting down", slog.String("error", err.Error()))
	case err := <-loopErr:
		failure = fmt.Errorf("serve: schedule: %w", err)
		s.log.Error("the schedule loop failed; shutting down", slog.String("error", safe(err)))
	}
	s.stopping.Store(true)
	stopLoop()

	// The shutdown has its own time: the ctx that asked for it is already done.
	sdCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	select {
	case <-loopDone:
	case <-sdCtx.Done():
		s.log.Error("the run in progress did not stop within the shutdown timeout",
			slog.Duration("shutdown_timeout", s.opts.ShutdownTimeout))
		failure = errors.Join(failure, fmt.Errorf("serve: the run in progress did not stop within %s", s.opts.ShutdownTimeout))
	}
	if httpSrv != nil {
		if err := httpSrv.Shutdown(sdCtx); err != nil {
			httpSrv.Close()
			failure = errors.Join(failure, fmt.Errorf("serve: close http: %w", err))
		}
	}
	if failure == nil {
		s.log.Info("stopped")
	}
	return failure
}

// loop drives the schedule and the pruning from the injected clock. One goroutine does both, so a prune
// never overlaps a scheduled run of this process (a prune that falls due during a run waits for its end).
//
// Policy for due times that pass while a run is in progress (or while the clock jumped ahead): they are
// coalesced into one run, started as soon as the loop is free again and serving the latest of them. A due
// time is never run twice, and a backlog never turns into a burst of runs.
func (s *Server) loop(ctx context.Context) {
	now := s.clock.Now()
	if !s.opts.Enabled {
		// P5: say so at start, so an operator who expected a nightly sync learns why none happens.
		s.log.Info("the schedule is disabled (schedule.enabled is false): no Mass Update will run from serve; health, metrics and pruning still work")
	}
	var next due
	if s.opts.Enabled {
		next = s.firstAfter(now)
		if next.at.IsZero() {
			s.log.Warn("the schedule never falls due", slog.String("cron", s.opts.Cron))
		} else {
			s.log.Info("schedule enabled", slog.String("cron", s.opts.Cron), slog.String("timezone", s.loc.String()),
				slog.Time("next_run", next.at))
		}
	}
	s.metrics.SetSchedule(s.opts.Enabled, next.at)
	nextPrune := now // once at start
	for {
		if ctx.Err() != nil {
			return
		}
		now = s.clock.Now()
		if s.opts.Prune != nil && !now.Before(nextPrune) {
			s.prune(ctx)
			nextPrune = now.Add(PruneEvery)
			continue
		}
		if !next.at.IsZero() && !now.Before(next.at) {
			served, coalesced := next, 0
			for {
				n := s.tt.next(served.wall)
				if n.at.IsZero() || n.at.After(now) {
					break
				}
				served, coalesced = n, coalesced+1
			}
			if coalesced > 0 {
				s.log.Info("due times coalesced into one run", slog.Int("due_times", coalesced+1),
					slog.Time("first", next.at), slog.Time("serving", served.at))
			}
			s.runDue(ctx, served.at)
			next = s.tt.next(served.wall)
			s.metrics.SetSchedule(true, next.at)
			if !next.at.IsZero() && ctx.Err() == nil {
				s.log.Info("next scheduled run", slog.Time("next_run", next.at))
			}
			continue
		}

		var wake time.Time
		if s.opts.Prune != nil {
			wake = nextPrune
		}
		if !next.at.IsZero() && (wake.IsZero() || next.at.Before(wake)) {
			wake = next.at
		}
		if wake.IsZero() {
			<-ctx.Done()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(min(wake.Sub(now), wakeEvery)):
		}
	}
}

// firstAfter is the first due time strictly after now. In an hour that autumn repeats, the wall clock
// already passed some due times once; resolve puts those in the past, so they are passed over rather
// than run late.
func (s *Server) firstAfter(now time.Time) due {
	d := s.tt.next(s.tt.cursor(now))
	for !d.at.IsZero() && !d.at.After(now) {
		d = s.tt.next(d.wall)
	}
	return d
}

func (s *Server) runDue(ctx context.Context, at time.Time) {
	// Every line below is logged with a context: once the run exists, the context carries its id and the
	// logger's runctx handler adds run_id, as it does for the engine's and the adapters' lines.
	log := s.log.With(slog.Time("due", at))
	log.InfoContext(ctx, "scheduled run starting")
	run, err := s.guardedRun(ctx, at)
	lctx := context.WithoutCancel(ctx) // a shutdown must not drop the line that says how the run ended
	if run != nil {
		s.metrics.ObserveRun(run)
		lctx = runctx.WithRunID(lctx, run.ID)
	}
	switch {
	case errors.Is(err, massupdate.ErrLocked):
		s.metrics.ScheduleSkipped(metrics.SkipLocked)
		log.InfoContext(lctx, "scheduled run skipped: another run holds the lock", slog.String("error", safe(err)))
	case errors.Is(err, massupdate.ErrAlreadyServed):
		s.metrics.ScheduleSkipped(metrics.SkipAlreadyServed)
		log.InfoContext(lctx, "scheduled run skipped: another replica already served this due time")
	case run != nil:
		// The engine returns the run with the error that stopped it: the status says how bad it is.
		level := slog.LevelInfo
		switch {
		case run.Status == massupdate.StatusFail:
			level = slog.LevelError
		case run.Status == massupdate.Interrupted && ctx.Err() == nil, run.Status == massupdate.Partial:
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{slog.String("status", string(run.Status)),
			slog.Int64("selected", run.Counts.Selected), slog.Int64("updated", run.Counts.Updated),
			slog.Int64("failed", run.Counts.Failed)}
		if err != nil {
			attrs = append(attrs, slog.String("error", safe(err)))
		}
		log.LogAttrs(lctx, level, "scheduled run ended", attrs...)
	case err != nil && ctx.Err() != nil:
		log.InfoContext(lctx, "scheduled run stopped by shutdown", slog.String("error", safe(err)))
	case err != nil:
		log.ErrorContext(lctx, "scheduled run failed", slog.String("error", safe(err)))
	default:
		log.InfoContext(lctx, "scheduled run ended")
	}
}

// guardedRun calls Run, turning a panic into its error: serve outlives a bug in one run and the next due
// time still runs. (The engine ends its own run failed on a panic; this catches what happens around it.)
func (s *Server) guardedRun(ctx context.Context, at time.Time) (run *massupdate.Run, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("scheduled run: internal error (panic): %s", panicLine(p))
		}
	}()
	return s.opts.Run(ctx, at)
}

// guardedPrune is Prune, a panic turned into its error.
func (s *Server) guardedPrune(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("prune: internal error (panic): %s", panicLine(p))
		}
	}()
	return s.opts.Prune(ctx)
}

// panicLine is a panic value's first line: a stack or a dump of values is no log line. Callers pass it
// through safe, which scrubs it.
func panicLine(p any) string {
	line, _, _ := strings.Cut(fmt.Sprint(p), "\n")
	return line
}

func (s *Server) prune(ctx context.Context) {
	if err := s.guardedPrune(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		s.log.Error("pruning failed; retrying in a day", slog.String("error", safe(err)))
	}
}

func (s *Server) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		// Status only: the endpoint is unauthenticated, and why the process is not ready (a database
		// address, a driver's error) goes to the log.
		if s.stopping.Load() || s.checkReady(r.Context()) != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", s.metrics.Handler())
	if s.opts.Pages != nil {
		mux.Handle("/", s.opts.Pages)
	}
	return mux
}

// checkReady returns Ready's answer, at most ReadyCache old. The detail is logged once per change of state.
func (s *Server) checkReady(ctx context.Context) error {
	if s.opts.Ready == nil {
		return nil
	}
	rd := &s.ready
	rd.mu.Lock()
	defer rd.mu.Unlock()
	now := s.clock.Now()
	if !rd.checked.IsZero() && now.Sub(rd.checked) < s.opts.ReadyCache && !now.Before(rd.checked) {
		return rd.err
	}
	// The check serves every caller until the next one: one caller hanging up must not cut it short.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.opts.Ready(cctx)
	rd.checked, rd.err = s.clock.Now(), err
	if !rd.logged || rd.wasErr != (err != nil) {
		switch {
		case err != nil:
			s.log.Warn("not ready", slog.String("error", safe(err)))
		case rd.logged:
			s.log.Info("ready again")
		}
		rd.logged, rd.wasErr = true, err != nil
	}
	return err
}

// safe is an error's text fit for a log line or an HTTP answer: credentials scrubbed, one short line.
func safe(err error) string {
	msg := urlUserinfo.ReplaceAllString(err.Error(), "://****@") // a DATABASE_URL password
	msg = strings.Join(strings.Fields(secret.Scrub(msg, nil)), " ")
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "…"
	}
	return msg
}

var urlUserinfo = regexp.MustCompile(`://[^/@\s]+@`)
