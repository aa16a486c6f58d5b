package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/transport"
)

// resolved is the admin's mapping, checked against the Proff catalogue.
type resolved struct {
	rules  []mapping.Rule
	points []proff.DataPoint
	kinds  map[string]mapping.Kind
}

// resolveMapping turns the config's mapping into engine rules, rejecting unknown and personal data points
// with every problem listed at once (a config error: exit 78).
func resolveMapping(cfg *config.Config) (resolved, error) {
	var res resolved
	res.kinds = map[string]mapping.Kind{}
	var issues []string
	for i, r := range cfg.Mapping {
		dp, err := proff.ResolvePoint(r.Proff)
		if err != nil {
			issues = append(issues, fmt.Sprintf("line %d: mapping[%d].proff: %v", r.Line, i, err))
			continue
		}
		res.rules = append(res.rules, mapping.Rule{Point: dp.Name, Field: r.Field, Mode: mapping.Mode(r.Mode)})
		if _, dup := res.kinds[dp.Name]; !dup {
			res.points = append(res.points, dp)
			res.kinds[dp.Name] = dp.Kind
		}
	}
	if len(issues) > 0 {
		return res, &config.Error{Source: cfg.Path, Issues: issues}
	}
	return res, nil
}

// session is one command's wired adapters.
type session struct {
	cfg   *config.Config
	st    *store.Store
	tally *transport.Tally
	sf    *salesforce.Client
	proff *proff.Client
	res   resolved
}

func (s *session) calls() massupdate.APICalls {
	p, sf := s.tally.Counts()
	return massupdate.APICalls{Proff: p, Salesforce: sf}
}

// newSalesforce builds the Salesforce adapter from the config.
func (a *app) newSalesforce(cfg *config.Config, rec transport.Recorder) (*salesforce.Client, error) {
	e := cfg.Env
	return salesforce.New(salesforce.Options{
		LoginURL: e.SFLoginURL, Flow: e.SFAuthFlow, ClientID: e.SFClientID, ClientSecret: e.SFClientSecret,
		Username: e.SFUsername, Password: e.SFPassword, JWTKey: e.SFJWTKey, APIVersion: e.SFAPIVersion,
		Object: cfg.Salesforce.Object, OrgNumberField: cfg.Salesforce.OrgNumberField,
		CountryField: cfg.Salesforce.CountryField, OptInField: cfg.Salesforce.OptInField,
		Filter: cfg.Salesforce.Filter, Fields: cfg.Fields(), LastSyncedField: cfg.Salesforce.LastSyncedField,
		ReservePercent: cfg.Salesforce.APIReservePercent, AllowedInstanceHosts: e.SFInstanceHosts,
		Recorder: rec, Logger: a.log,
	})
}

// newProff builds the Proff client from the config.
func (a *app) newProff(cfg *config.Config, res resolved, rec transport.Recorder) (*proff.Client, error) {
	return proff.New(proff.Options{
		BaseURL: cfg.Env.ProffAPIURL, Token: cfg.Env.ProffAPIToken,
		RatePerSecond: cfg.Proff.RateLimitPerSecond, Concurrency: cfg.Proff.Concurrency,
		Points: res.points, Recorder: rec, Logger: a.log,
	})
}

// engine wires the engine for a run.
func (a *app) engine(s *session, progress massupdate.Progress) (*massupdate.Engine, error) {
	cfg := s.cfg
	every := time.Duration(0) // the engine's default
	if progress != nil {
		every = 24 * time.Hour // the bar shows progress; periodic log lines would tear it
	}
	return massupdate.New(massupdate.Options{
		ProgressEvery: every,
		BeforeLookups: func(ctx context.Context) { a.fitRate(ctx, s) },
		Source:        s.sf, Lookup: s.proff, Writer: s.sf, Store: s.st,
		Rules: s.res.rules, Kinds: s.res.kinds,
		DefaultCountry: cfg.Salesforce.DefaultCountry, LastSyncedField: cfg.Salesforce.LastSyncedField,
		LastSyncedEveryCheck: cfg.Salesforce.LastSyncedEveryCheck,
		Concurrency:          cfg.Proff.Concurrency, RatePerSecond: cfg.Proff.RateLimitPerSecond,
		Calls: s.calls, Now: a.now, Logger: a.log, Progress: progress, Settings: cfg.Settings(),
		Scrub: a.scrub, // a panic's line becomes the run's error: it must not carry a configured secret
	})
}

// runOptions are the flags of `run`.
type runOptions struct {
	dryRun, resume, json bool
	limit                int
	trigger              massupdate.Trigger
}

// executeRun opens what a run needs, runs it and prints the outcome. It returns the contract's exit code
// as an *ExitError (nil for 0).
//
// after, when set, is called with the store and the recorded run once the summary is printed; it may
// replace the exit code (the demo does, for the failures it causes on purpose).
func (a *app) executeRun(ctx context.Context, cfg *config.Config, o runOptions,
	after func(ctx context.Context, st *store.Store, run *massupdate.Run, code int) (int, error)) error {
	res, err := resolveMapping(cfg)
	if err != nil {
		return err
	}
	st, err := a.openStore(ctx, cfg.Env, true)
	if err != nil {
		return err
	}
	defer st.Close()
	calllog := st.CallLog()
	s := &session{cfg: cfg, st: st, res: res, tally: &transport.Tally{Next: calllog}}
	if s.sf, err = a.newSalesforce(cfg, s.tally); err != nil {
		return configErr(err)
	}
	if s.proff, err = a.newProff(cfg, res, s.tally); err != nil {
		return configErr(err)
	}
	var bar *progressBar
	if isTerminal(a.stderr) && !o.json {
		bar = newProgressBar(a.stderr)
	}
	var progress massupdate.Progress
	if bar != nil {
		progress = bar
	}
	eng, err := a.engine(s, progress)
	if err != nil {
		return err
	}
	run, runErr := eng.Run(ctx, massupdate.RunRequest{Trigger: o.trigger, DryRun: o.dryRun, Limit: o.limit, Resume: o.resume})
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	if err := calllog.Flush(flushCtx); err != nil {
		a.log.Warn("technical log not fully written", "error", err.Error())
	}
	cancel()
	code := massupdate.ExitCode(run, runErr)
	switch {
	case run == nil && runErr == nil:
		fmt.Fprintln(a.stderr, "nothing to resume: there is no interrupted run")
		return nil
	case run == nil:
		var le *massupdate.LockedError
		if errors.As(runErr, &le) {
			return &ExitError{Code: ExitLocked, Err: le}
		}
		return &ExitError{Code: code, Err: runErr}
	}
	if o.json {
		if err := writeJSON(a.stdout, run.Summary()); err != nil {
			return err
		}
	} else {
		printSummary(a.stdout, run.Summary())
		fmt.Fprintf(a.stdout, "  details   proffsync history show %s\n", run.ID)
	}
	if after != nil {
		var err error
		if code, err = after(context.WithoutCancel(ctx), st, run, code); err != nil {
			return err
		}
	}
	if code == ExitOK {
		return nil
	}
	reason := runErr
	if reason == nil && run.Error != "" {
		reason = errors.New(run.Error)
	}
	if reason == nil && code == ExitPartial {
		reason = fmt.Errorf("%d records failed (see proffsync history show %s)", run.Counts.Failed, run.ID)
	}
	return &ExitError{Code: code, Err: reason}
}

func runCommand() command {
	c := command{name: "run", summary: "one-off Mass Update now",
		help: `Selects the opted-in records in Salesforce, looks their companies up in Proff and writes the changed
mapped fields back. Exit codes: 0 success, 1 failed, 2 some records failed, 3 another run holds the
lock, 4 interrupted (resume with --resume), 64 usage, 78 configuration.`}
	c.run = func(ctx context.Context, a *app, args []string) error {
		o := runOptions{trigger: massupdate.Manual}
		fs := a.flags(c)
		fs.BoolVar(&o.dryRun, "dry-run", false, "compute and record what would change; write nothing to Salesforce")
		fs.IntVar(&o.limit, "limit", 0, "finish at most N selected records")
		fs.BoolVar(&o.resume, "resume", false, "continue the latest interrupted run from its checkpoint")
		fs.BoolVar(&o.json, "json", false, "print the run summary as one JSON object on stdout")
		if _, err := a.parse(fs, args, 0); err != nil {
			return err
		}
		if o.limit < 0 {
			return usageError("run: --limit must be 0 (no limit) or more")
		}
		if o.dryRun && o.resume {
			return usageError("run: --dry-run and --resume cannot be combined (a dry run is never resumed)")
		}
		cfg, err := a.loadConfig()
		if err != nil {
			return err
		}
		if err := firstErr(cfg.Env.RequireProff(), cfg.Env.RequireSalesforce()); err != nil {
			return err
		}
		return a.executeRun(ctx, cfg, o, nil)
	}
	return c
}

func firstErr(errs ...error) error {
	var issues []string
	for _, err := range errs {
		var ce *config.Error
		if errors.As(err, &ce) {
			issues = append(issues, ce.Issues...)
		} else if err != nil {
			return err
		}
	}
	if len(issues) > 0 {
		return &config.Error{Source: "environment", Issues: issues}
	}
	return nil
}

// configErr reports an adapter that refused its settings (a bad URL, an unreadable key) as a configuration
// error: nothing was done, and exit 78 tells the operator to fix the environment, not to retry.
func configErr(err error) error {
	return &config.Error{Source: "environment", Issues: []string{err.Error()}}
}

// fitRate lowers the Proff rate to the token's per-minute limit, so that a rate set above the customer's
// agreement does not turn into 429s. It costs one call; when it fails the configured rate stays, and a
// rejected token then fails the run at its first lookup, recorded.
func (a *app) fitRate(ctx context.Context, s *session) {
	if err := s.proff.FitRateToToken(ctx); err != nil {
		a.log.Warn("could not read the Proff token's limits; keeping the configured rate", "error", err.Error())
	}
}
