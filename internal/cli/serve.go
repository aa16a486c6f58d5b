package cli

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/metrics"
	"github.com/proffconnect/proffsync/internal/serve"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/transport"
	"github.com/proffconnect/proffsync/internal/web"
)

func serveSpec() spec {
	return spec{name: "serve", summary: "long-running worker: schedule (when enabled), health, metrics, pruning",
		help: `Runs until SIGTERM/SIGINT. Runs the Mass Update on schedule.cron in schedule.timezone, and only while
schedule.enabled is true (an admin's choice); an interrupted run is resumed at the next due time.
Serves /healthz, /readyz and /metrics (Prometheus) on serve.http_addr, prunes logs and run details
older than logs.retention_days once a day, and on SIGTERM lets a run in progress end as interrupted.
With the schedule disabled no Proff token is needed.`,
		build: func(a *app, fs *flag.FlagSet) command {
			c := &serveCmd{app: a}
			fs.StringVar(&c.httpAddr, "http-addr", "", "address for /healthz, /readyz and /metrics (overrides serve.http_addr)")
			fs.DurationVar(&c.shutdown, "shutdown-timeout", 45*time.Second, "how long a run in progress may take to stop on SIGTERM")
			return c
		}}
}

type serveCmd struct {
	*app
	httpAddr string
	shutdown time.Duration
}

func (c *serveCmd) Validate() error {
	if c.httpAddr != "" {
		if _, _, err := net.SplitHostPort(c.httpAddr); err != nil {
			return usageError("serve: --http-addr %q is not host:port", c.httpAddr)
		}
	}
	return nil
}

func (c *serveCmd) Run(ctx context.Context) error {
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	if c.httpAddr != "" {
		cfg.Serve.HTTPAddr = c.httpAddr
	}
	if cfg.Schedule.Enabled {
		if err := firstErr(cfg.Env.RequireProff(), cfg.Env.RequireSalesforce()); err != nil {
			return err
		}
	}
	res, err := resolveMapping(cfg)
	if err != nil {
		return err
	}
	return c.serve(ctx, cfg, res, c.clock(), c.shutdown, nil)
}

// serve runs the worker on the schedule clock given (the app's; tests move a virtual one). listening, when
// set, is told the HTTP address once it is bound (tests).
func (a *app) serve(ctx context.Context, cfg *config.Config, res resolved, schedule clock.Clock,
	shutdown time.Duration, listening func(net.Addr)) error {
	st, err := a.openStore(ctx, cfg.Env, true)
	if err != nil {
		return err
	}
	defer st.Close()
	met := metrics.New()
	a.restoreMetrics(ctx, st, met)
	calllog := st.CallLog()
	rec := transport.Multi(calllog, met)
	if !cfg.Schedule.Enabled && cfg.Env.ProffAPIToken == "" {
		// serve itself says the schedule is disabled; say why no token is needed.
		a.log.InfoContext(ctx, "no Proff token is set: fine while the schedule is disabled (health, metrics and pruning work without it)")
	}
	// One notifier for the server's life: its HTTP client and connections serve every run.
	notifier := a.newNotifier(cfg, rec)

	runScheduled := func(ctx context.Context, due time.Time) (*massupdate.Run, error) {
		// Fresh adapters per run: a token revoked yesterday must not poison tonight's run.
		s := &session{cfg: cfg, st: st, res: res, tally: &transport.Tally{Next: rec}}
		var err error
		if s.sf, err = a.newSalesforce(cfg, s.tally); err != nil {
			return nil, err
		}
		if s.proff, err = a.newProffWith(cfg, res, s.tally, st); err != nil {
			return nil, err
		}
		eng, err := a.engine(s, nil)
		if err != nil {
			return nil, err
		}
		run, err := serve.ScheduledRun(eng)(ctx, due.UTC())
		met.AddRateLimitWait(s.proff.RateLimitWait())
		for _, fc := range s.proff.NumberFormCalls() {
			met.AddNumberFormCalls(fc.Country, fc.Form, fc.Calls)
		}
		if run != nil {
			notifier.Notify(ctx, *run)
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if ferr := calllog.Flush(fctx); ferr != nil {
			a.log.WarnContext(ctx, "technical log not fully written", slog.String("error", ferr.Error()))
		}
		cancel()
		return run, err
	}
	prune := func(ctx context.Context) error {
		// Calendar days, as `proffsync prune` counts them: a retention as a Duration can overflow.
		before, err := store.RetentionCutoff(a.now(), cfg.Logs.RetentionDays)
		if err != nil {
			return err
		}
		res, err := st.Prune(ctx, before)
		if err != nil {
			return err
		}
		companies, err := st.PruneSyncCompanies(ctx)
		if err != nil {
			return err
		}
		a.log.InfoContext(ctx, "pruned old logs and run details", slog.Int("retention_days", cfg.Logs.RetentionDays),
			slog.Int64("technical_log_rows", res.Calls), slog.Int64("runs", res.Runs),
			slog.Int64("record_outcomes", res.Records), slog.Int64("field_changes", res.Changes),
			slog.Int64("stored_companies", companies))
		return nil
	}
	srv, err := serve.New(serve.Options{
		Enabled: cfg.Schedule.Enabled, Cron: cfg.Schedule.Cron, Timezone: cfg.Schedule.Timezone,
		Addr: cfg.Serve.HTTPAddr, Run: runScheduled, Prune: prune, Ready: st.Ready, Metrics: met,
		Clock: schedule, Logger: a.log, ShutdownTimeout: shutdown,
		Pages: web.New(web.Options{Store: st, Password: cfg.Env.UIPassword, Loopback: loopbackAddr(cfg.Serve.HTTPAddr),
			Logger: a.log, Clock: a.clock()}),
	})
	if err != nil {
		return &config.Error{Source: cfg.Path, Issues: []string{err.Error()}}
	}
	addr, err := srv.Listen()
	if err != nil {
		return err
	}
	if listening != nil {
		listening(addr)
	}
	if err := srv.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// restoreMetrics sets the last-run series from the store, so that a restarted server does not show 0 as
// the last completed run (and "no completed run for 25 h" fire at every restart): the newest runs, and the
// newest completed ones, which a string of failed runs may have pushed out of the first list (real runs only:
// a dry run is no completed sync, and a string of them must not hide the last real one either).
func (a *app) restoreMetrics(ctx context.Context, st *store.Store, met *metrics.Metrics) {
	for _, f := range []store.RunFilter{{Limit: 5},
		{Limit: 20, Statuses: []massupdate.Status{massupdate.Succeeded, massupdate.Partial}, NotDry: true}} {
		runs, err := st.FindRuns(ctx, f)
		if err != nil {
			a.log.WarnContext(ctx, "could not read the last runs for /metrics", slog.String("error", err.Error()))
			return
		}
		met.RestoreLast(runs)
	}
}

// loopbackAddr reports whether serve listens on a loopback address only (127.0.0.0/8, ::1, localhost): then
// the history pages need no password. An empty host (":8080") listens on every address.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
