package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/runctx"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/transport"
)

func runSpec() spec {
	return spec{name: "run", summary: "one-off Mass Update now",
		help: `Selects the opted-in records in Salesforce, looks their companies up in Proff and writes the changed
mapped fields back. Exit codes: 0 success, 1 failed, 2 some records failed, 3 another run holds the
lock, 4 interrupted (resume with --resume), 64 usage, 78 configuration.

--retry RUN_ID runs over only the records that ended failed in RUN_ID (an id, a unique prefix of it, or
latest), read again from Salesforce by Id and still subject to the opt-in field and the filter; an
interrupted retry is continued by the same --retry again, not by --resume.
--full looks every selected company up in Proff, whatever the change feed, the stored values and
sync.max_lookups say.`,
		build: func(a *app, fs *flag.FlagSet) command {
			c := &runCmd{app: a, opts: runOptions{trigger: massupdate.Manual}}
			fs.BoolVar(&c.opts.dryRun, "dry-run", false, "compute and record what would change; write nothing to Salesforce")
			fs.IntVar(&c.opts.limit, "limit", 0, "finish at most N selected records")
			fs.BoolVar(&c.opts.resume, "resume", false, "continue the latest interrupted run from its checkpoint")
			fs.BoolVar(&c.opts.json, "json", false, "print the run summary as one JSON object on stdout")
			fs.BoolVar(&c.opts.full, "full", false, "look every selected company up in Proff (ignore the change feed, stored values and sync.max_lookups)")
			fs.StringVar(&c.opts.retryRef, "retry", "", "run over only the records that failed in RUN_ID (an id, a unique prefix, or latest)")
			return c
		}}
}

// runOptions are the flags of `run` (the demo sets its own).
type runOptions struct {
	dryRun, resume, json bool
	limit                int
	trigger              massupdate.Trigger
	// full is --full: every selected company looked up, whatever the feed, stored values and cap say.
	full bool
	// retryRef is --retry as typed (an id, a unique prefix, latest): the run whose failed records this run
	// takes again, resolved once the store is open.
	retryRef string
}

type runCmd struct {
	*app
	opts runOptions
}

func (c *runCmd) Validate() error {
	if c.opts.limit < 0 {
		return usageError("run: --limit must be 0 (no limit) or more")
	}
	if c.opts.dryRun && c.opts.resume {
		return usageError("run: --dry-run and --resume cannot be combined (a dry run is never resumed)")
	}
	c.opts.retryRef = strings.TrimSpace(c.opts.retryRef)
	if c.opts.retryRef != "" && c.opts.resume {
		return usageError("run: --retry and --resume cannot be combined (--resume continues an interrupted run; --retry takes a run's failed records again)")
	}
	if c.opts.retryRef != "" {
		c.opts.trigger = massupdate.Retry
	}
	return nil
}

func (c *runCmd) Run(ctx context.Context) error {
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	if err := firstErr(cfg.Env.RequireProff(), cfg.Env.RequireSalesforce()); err != nil {
		return err
	}
	res, err := resolveMapping(cfg)
	if err != nil {
		return err
	}
	st, err := c.openStore(ctx, cfg.Env, true)
	if err != nil {
		return err
	}
	defer st.Close()
	out, err := c.executeRun(ctx, cfg, res, st, c.opts)
	if err != nil {
		return err
	}
	return out.err()
}

// runOutcome is how a run ended for the command line: the recorded run (nil when none was recorded), the
// exit code, and the reason printed with it.
type runOutcome struct {
	run    *massupdate.Run
	code   int
	reason error
}

func (o runOutcome) err() error {
	if o.code == ExitOK {
		return nil
	}
	return &ExitError{Code: o.code, Err: o.reason}
}

// runExitCode maps what the engine's Run returned onto the exit codes: 0 success (and nothing to resume),
// 1 failed, 2 partial, 3 locked, 4 interrupted.
func runExitCode(run *massupdate.Run, err error) int {
	if run == nil {
		switch {
		case err == nil:
			return ExitOK
		case errors.Is(err, massupdate.ErrLocked):
			return ExitLocked
		}
		return ExitFailed
	}
	switch run.Status {
	case massupdate.Succeeded:
		return ExitOK
	case massupdate.Partial:
		return ExitPartial
	case massupdate.Interrupted:
		return ExitInterrupted
	}
	return ExitFailed
}

// executeRun wires the adapters to st, runs the engine and prints the summary. The caller decides what the
// outcome means (the demo accepts the failures it causes on purpose); err is for what went wrong before a
// run could start.
func (a *app) executeRun(ctx context.Context, cfg *config.Config, res resolved, st *store.Store, o runOptions) (runOutcome, error) {
	calllog := st.CallLog()
	s := &session{cfg: cfg, st: st, res: res, tally: &transport.Tally{Next: calllog}}
	// The run's api_calls count from here: the login and describe of the preflight are the run's calls.
	before := s.calls()
	var err error
	if s.sf, err = a.newSalesforce(cfg, s.tally); err != nil {
		return runOutcome{}, configErr(err)
	}
	if s.proff, err = a.newProffWith(cfg, res, s.tally, st); err != nil {
		return runOutcome{}, configErr(err)
	}
	var retried string // the run whose failed records this one takes again
	if o.retryRef != "" {
		src, id, failed, err := a.retrySource(ctx, st, s.sf, o.retryRef)
		if err != nil {
			return runOutcome{}, err
		}
		retried = id
		if failed == 0 {
			fmt.Fprintf(a.stderr, "nothing to retry: run %s has no failed records\n", retried)
			return runOutcome{code: ExitOK}, nil
		}
		s.source = src
	}
	if err := a.preflight(ctx, st, s, o); err != nil {
		if config.IsError(err) {
			return runOutcome{}, err
		}
		return a.notRun(err), nil
	}
	var progress massupdate.Progress
	if isTerminal(a.stderr) && !o.json {
		progress = newProgressBar(a.stderr)
	}
	eng, err := a.engine(s, progress)
	if err != nil {
		return runOutcome{}, err
	}
	req := o.request()
	req.CallsSince = &before
	run, runErr := eng.Run(ctx, req)
	if run != nil {
		a.logNumberForms(runctx.WithRunID(ctx, run.ID), s)
		a.notify(ctx, cfg, calllog, *run)
	}
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	if err := calllog.Flush(flushCtx); err != nil {
		a.log.WarnContext(ctx, "technical log not fully written", "error", err.Error())
	}
	cancel()
	out := runOutcome{run: run, code: runExitCode(run, runErr), reason: runErr}
	switch {
	case run == nil && runErr == nil:
		fmt.Fprintln(a.stderr, "nothing to resume: there is no interrupted run")
		return out, nil
	case run == nil:
		return a.notRun(runErr), nil
	}
	if o.json {
		if err := writeJSON(a.stdout, run.Summary()); err != nil {
			return out, err
		}
	} else {
		printSummary(a.stdout, run.Summary())
		if len(run.NeverValued) > 0 {
			printNeverValued(a.stdout, run.NeverValued)
			fmt.Fprintln(a.stdout)
		}
		fmt.Fprintf(a.stdout, "  details   proffsync history show %s\n", run.ID)
		printResumeHint(a.stdout, *run, retried) // the last line: how to go on
	}
	if out.reason == nil && run.Error != "" {
		out.reason = errors.New(run.Error)
	}
	if out.reason == nil && out.code == ExitPartial {
		out.reason = fmt.Errorf("%d records failed (see proffsync history show %s)", run.Counts.Failed, run.ID)
	}
	return out, nil
}

// request is the engine's request for these options. --retry's run is in the session's record source.
func (o runOptions) request() massupdate.RunRequest {
	return massupdate.RunRequest{Trigger: o.trigger, DryRun: o.dryRun, Limit: o.limit, Resume: o.resume, Full: o.full}
}

// notRun is the outcome of a run the engine did not record: locked out (3), or stopped by an error (1).
func (a *app) notRun(err error) runOutcome {
	out := runOutcome{code: runExitCode(nil, err), reason: err}
	var le *massupdate.LockedError
	if errors.As(err, &le) {
		out.reason = le // who holds the lock, without the engine's wording around it
	}
	return out
}

// preflight checks the mapping against describe before the engine records a run, so that a mapping
// Salesforce rejects is a configuration error (exit 78) with no run recorded. Its login and describe are
// the command's, made before the run exists: they are in the technical log without a run and not in the
// run's api_calls. It asks nothing of Salesforce when the run would not start anyway: another run holds the
// lock (exit 3, nothing done), or --resume finds nothing to resume.
func (a *app) preflight(ctx context.Context, st *store.Store, s *session, o runOptions) error {
	lock, err := st.AcquireRunLock(ctx)
	if err != nil {
		return err
	}
	// Released at once: the engine takes it for the run. A run that starts in between is found by the
	// engine's own attempt, as before.
	if err := lock.Release(ctx); err != nil {
		a.log.WarnContext(ctx, "release the run lock", "error", err.Error())
	}
	if o.resume {
		if prev, err := st.LatestInterrupted(ctx); err == nil && prev == nil {
			return nil
		}
	}
	return a.checkMapping(ctx, s.sf, s.res)
}

// logNumberForms says, once a run has ended, how many lookups each form of the organisation number took per
// country (digits, and the hyphenated fallback for Swedish and Finnish numbers): what the fallback cost.
func (a *app) logNumberForms(ctx context.Context, s *session) {
	counts := s.proff.NumberFormCalls()
	if len(counts) == 0 {
		return
	}
	attrs := make([]any, 0, len(counts))
	for _, fc := range counts {
		attrs = append(attrs, slog.Int64(fc.Country+"_"+fc.Form, fc.Calls))
	}
	a.log.InfoContext(ctx, "Proff lookups by form of the organisation number", attrs...)
}
