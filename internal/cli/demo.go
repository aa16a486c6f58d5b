package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store"
)

func demoSpec() spec {
	return spec{name: "demo", summary: "a complete Mass Update against the built-in sandbox",
		help: `Starts a local Salesforce emulator and a local Proff emulator seeded with a few hundred fictional
companies and accounts in Norway, Sweden, Denmark and Finland, then runs a complete Mass Update against
them and prints the run summary and its history. Needs PostgreSQL only (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/proffsync?sslmode=disable; the database is created if missing). No
credentials, no network. Some records fail on purpose (validation rules, a broken Proff answer) to show
what that looks like: the demo still exits 0 when exactly those failed.

Then a day passes in the sandbox: a few companies change in the register, the Norwegian ones in Proff's
change feed, and a second run looks up only what it must (sync.refresh_days 7 for the countries without a
feed) and serves every other company from the values stored at the first run. With --json only the first
run is made and printed.`,
		build: func(a *app, fs *flag.FlagSet) command {
			c := &demoCmd{app: a}
			fs.BoolVar(&c.json, "json", false, "print the run summary as one JSON object on stdout")
			fs.IntVar(&c.companies, "companies", 240, "how many fictional companies the sandbox holds")
			return c
		}}
}

type demoCmd struct {
	*app
	json      bool
	companies int
}

func (c *demoCmd) Validate() error {
	if c.companies < 1 || c.companies > 100000 {
		return usageError("demo: --companies must be between 1 and 100000")
	}
	return nil
}

func (c *demoCmd) Run(ctx context.Context) error {
	env, err := c.loadEnv()
	if err != nil {
		return err
	}
	// The database first: without it there is nothing to demonstrate, and the user needs to know how to get
	// one.
	st, err := c.openStore(ctx, env, true)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("the demo needs PostgreSQL: %w (Debian: pg_ctlcluster --skip-systemctl-redirect 15 main start; for example DATABASE_URL=postgres://postgres@127.0.0.1:5432/proffsync?sslmode=disable)", err)
		}
		return err
	}
	st.Close() // opened again below, once it knows the sandbox's secrets to scrub

	sb := sandbox.Start(sandbox.Options{Companies: c.companies})
	defer sb.Close()
	cfg, err := sb.Config(env.DatabaseURL)
	if err != nil {
		return err
	}
	c.secrets = append(c.secrets, cfg.Env.Secrets()...)
	// Sweden, Denmark and Finland have no change feed: a week between their lookups shows the second run
	// costing what changed, not what is there.
	cfg.Sync.ChangeFeed, cfg.Sync.RefreshDays = true, demoRefreshDays
	exp := sb.Expect
	if !c.json {
		fmt.Fprintf(c.stdout, "Sandbox: Salesforce emulator at %s, Proff emulator at %s\n", sb.SF.URL(), sb.Proff.URL())
		fmt.Fprintf(c.stdout, "  %d opted-in accounts (%d opted out) over %d fictional companies in NO, SE, DK and FI\n\n",
			exp.Selected, exp.OptedOut, c.companies)
	}
	res, err := resolveMapping(cfg)
	if err != nil {
		return err
	}
	if st, err = c.openStore(ctx, cfg.Env, true); err != nil {
		return err
	}
	defer st.Close()
	// Full: the database may hold values stored by an earlier demo, whose sandbox was another world.
	out, err := c.executeRun(ctx, cfg, res, st, runOptions{trigger: massupdate.Demo, json: c.json, full: true})
	if err != nil {
		return err
	}
	if out.run == nil {
		return out.err()
	}
	if !c.json {
		d, err := st.RunDetail(context.WithoutCancel(ctx), out.run.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "\n$ proffsync history show %s\n", out.run.ID)
		printDetailCapped(c.stdout, d, 12)
	}
	if !asDesigned(out, exp) {
		return out.err()
	}
	if c.json {
		return nil
	}
	fmt.Fprintf(c.stdout, "\nThe %d failed records failed on purpose (validation rules in the emulated org, broken Proff answers).\n", exp.Failed)
	return c.nextDay(ctx, sb, cfg, res, st, out.run)
}

// demoRefreshDays is the demo's sync.refresh_days.
const demoRefreshDays = 7

// asDesigned reports whether a demo run ended as the sandbox was built to: the records it fails on
// purpose failed, and nothing else did.
func asDesigned(out runOutcome, exp sandbox.Expect) bool {
	return out.code == ExitOK || out.code == ExitPartial && out.run.Counts.Failed == int64(exp.Failed)
}

// nextDay changes the sandbox's register by a day and runs again: the run that shows incremental sync,
// costing the companies that changed (and those that found nothing or failed last time), not all of them.
func (c *demoCmd) nextDay(ctx context.Context, sb *sandbox.Sandbox, cfg *config.Config, res resolved, st *store.Store,
	first *massupdate.Run) error {
	n := max(1, c.companies/20)
	changed := sb.ChangeDay(time.Now(), n, 10*n)
	norwegian := 0
	for _, co := range changed {
		if co.Country == "NO" {
			norwegian++
		}
	}
	fmt.Fprintf(c.stdout, "\nA day later: %d of the companies moved to another street in the register, %d of them Norwegian, which\n"+
		"Proff's change feed lists (with %d entries about companies no account holds).\n\n$ proffsync run\n",
		len(changed), norwegian, 10*n)
	out, err := c.executeRun(ctx, cfg, res, st, runOptions{trigger: massupdate.Demo})
	if err != nil {
		return err
	}
	if out.run == nil || !asDesigned(out, sb.Expect) {
		return out.err()
	}
	l := out.run.Lookups
	fmt.Fprintf(c.stdout, "\nThe second run looked up %d companies in Proff and served %d from the values stored at their last\n"+
		"lookup: %d Proff calls (the change feed's included), where the first run made %d. It looked up the\n"+
		"Norwegian companies the feed listed and those that found nothing or failed last time; Swedish, Danish\n"+
		"and Finnish companies have no feed and are looked up again once their last lookup is %d days old\n"+
		"(sync.refresh_days). Every record was still compared and written by the usual rules.\n",
		l.Fresh, l.Cached, out.run.APICalls.Proff, first.APICalls.Proff, demoRefreshDays)
	return nil
}
