package cli

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store"
)

func demoCommand() command {
	c := command{name: "demo", summary: "a complete Mass Update against the built-in sandbox",
		help: `Starts a local Salesforce emulator and a local Proff emulator seeded with a few hundred fictional
companies and accounts in Norway, Sweden, Denmark and Finland, then runs a complete Mass Update against
them and prints the run summary and its history. Needs PostgreSQL only (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/proffsync?sslmode=disable; the database is created if missing). No
credentials, no network. Some records fail on purpose (validation rules, a broken Proff answer) to show
what that looks like: the demo still exits 0 when exactly those failed.`}
	var asJSON bool
	var companies int
	c.run = func(ctx context.Context, a *app, args []string) error {
		fs := a.flags(c)
		fs.BoolVar(&asJSON, "json", false, "print the run summary as one JSON object on stdout")
		fs.IntVar(&companies, "companies", 240, "how many fictional companies the sandbox holds")
		if _, err := a.parse(fs, args, 0); err != nil {
			return err
		}
		if companies < 1 || companies > 100000 {
			return usageError("demo: --companies must be between 1 and 100000")
		}
		env, err := a.loadEnv()
		if err != nil {
			return err
		}
		// The database first: without it there is nothing to demonstrate, and the user needs to know how
		// to get one.
		st, err := a.openStore(ctx, env, true)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) || isUnreachable(err) {
				return fmt.Errorf("the demo needs PostgreSQL: %w (Debian: pg_ctlcluster --skip-systemctl-redirect 15 main start; for example DATABASE_URL=postgres://postgres@127.0.0.1:5432/proffsync?sslmode=disable)", err)
			}
			return err
		}
		st.Close()

		sb := sandbox.Start(sandbox.Options{Companies: companies})
		defer sb.Close()
		cfg, err := sb.Config(env.DatabaseURL)
		if err != nil {
			return err
		}
		a.secrets = append(a.secrets, cfg.Env.Secrets()...)
		exp := sb.Expect
		if !asJSON {
			fmt.Fprintf(a.stdout, "Sandbox: Salesforce emulator at %s, Proff emulator at %s\n", sb.SF.URL(), sb.Proff.URL())
			fmt.Fprintf(a.stdout, "  %d opted-in accounts (%d opted out) over %d fictional companies in NO, SE, DK and FI\n\n",
				exp.Selected, exp.OptedOut, companies)
		}
		return a.executeRun(ctx, cfg, runOptions{trigger: massupdate.Demo, json: asJSON},
			func(ctx context.Context, st *store.Store, run *massupdate.Run, code int) (int, error) {
				if !asJSON {
					d, err := st.RunDetail(ctx, run.ID)
					if err != nil {
						return code, err
					}
					fmt.Fprintf(a.stdout, "\n$ proffsync history show %s\n", run.ID)
					printDetailCapped(a.stdout, d, 12)
				}
				// The sandbox fails some records on purpose; exactly those failing is success.
				if code == ExitPartial && run.Counts.Failed == int64(exp.Failed) {
					if !asJSON {
						fmt.Fprintf(a.stdout, "\nThe %d failed records failed on purpose (validation rules in the emulated org, broken Proff answers).\n", exp.Failed)
					}
					return ExitOK, nil
				}
				return code, nil
			})
	}
	return c
}

func isUnreachable(err error) bool {
	return err != nil && (containsAny(err.Error(), "cannot reach PostgreSQL", "connection refused", "no such host"))
}
