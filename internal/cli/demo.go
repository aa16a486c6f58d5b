package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/sandbox"
)

func demoSpec() spec {
	return spec{name: "demo", summary: "a complete Mass Update against the built-in sandbox",
		help: `Starts a local Salesforce emulator and a local Proff emulator seeded with a few hundred fictional
companies and accounts in Norway, Sweden, Denmark and Finland, then runs a complete Mass Update against
them and prints the run summary and its history. Needs PostgreSQL only (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/proffsync?sslmode=disable; the database is created if missing). No
credentials, no network. Some records fail on purpose (validation rules, a broken Proff answer) to show
what that looks like: the demo still exits 0 when exactly those failed.`,
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
	out, err := c.executeRun(ctx, cfg, res, st, runOptions{trigger: massupdate.Demo, json: c.json})
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
	// The sandbox fails some records on purpose; exactly those failing is success.
	if out.code == ExitPartial && out.run.Counts.Failed == int64(exp.Failed) {
		if !c.json {
			fmt.Fprintf(c.stdout, "\nThe %d failed records failed on purpose (validation rules in the emulated org, broken Proff answers).\n", exp.Failed)
		}
		return nil
	}
	return out.err()
}
