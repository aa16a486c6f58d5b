package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/store"
)

// openStore connects to DATABASE_URL. With migrate it first creates the database when it does not exist
// (contract.md) and applies the migrations.
func (a *app) openStore(ctx context.Context, env config.Env, migrate bool) (*store.Store, error) {
	// The store scrubs what it keeps with the same secrets as the final error line (privacy.md P1), and
	// tells the time with the same clock as the command (a prune's cut-off must be in the past by both).
	return a.openStoreWith(ctx, env.DatabaseURL, migrate, store.Options{Secrets: a.secrets, Now: a.now})
}

func (a *app) openStoreWith(ctx context.Context, dsn string, migrate bool, opts store.Options) (*store.Store, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if migrate {
		if err := store.EnsureDatabase(cctx, dsn); err != nil {
			return nil, err
		}
	}
	st, err := store.OpenWith(cctx, dsn, a.log, opts)
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := st.Migrate(cctx); err != nil {
			st.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
	} else if err := st.Ready(cctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func migrateCommand() command {
	c := command{name: "migrate", summary: "apply the embedded database migrations",
		help: `Creates the database named in DATABASE_URL when it does not exist (and the role may), then applies
the embedded migrations in order under an advisory lock. Safe to run again, and from several
processes at once. run, serve and demo migrate by themselves.`}
	c.run = func(ctx context.Context, a *app, args []string) error {
		if _, err := a.parse(a.flags(c), args, 0); err != nil {
			return err
		}
		env, err := a.loadEnv()
		if err != nil {
			return err
		}
		st, err := a.openStore(ctx, env, true)
		if err != nil {
			return err
		}
		defer st.Close()
		fmt.Fprintln(a.stdout, "database is migrated:", config.MaskDatabaseURL(env.DatabaseURL))
		return nil
	}
	return c
}

func pruneCommand() command {
	c := command{name: "prune", summary: "delete logs and run details older than logs.retention_days",
		help: fmt.Sprintf(`Deletes the technical logs, and the runs with their record outcomes and field changes, that are older
than logs.retention_days of the config file (90 when there is no config file), and prints how many
rows went. serve does this once a day. --retention-days overrides the config for this prune: from 1 to
%d days (0 is refused, never read as the default).`, store.MaxRetentionDays)}
	var days int
	c.run = func(ctx context.Context, a *app, args []string) error {
		fs := a.flags(c)
		fs.IntVar(&days, "retention-days", 0, "override logs.retention_days for this prune (1 to "+fmt.Sprint(store.MaxRetentionDays)+")")
		if _, err := a.parse(fs, args, 0); err != nil {
			return err
		}
		// Given or not is told apart by the flag set, not by the value: --retention-days 0 is a mistake to
		// refuse, not a request for the default.
		override := false
		fs.Visit(func(f *flag.Flag) { override = override || f.Name == "retention-days" })
		if override && (days < 1 || days > store.MaxRetentionDays) {
			return usageError("--retention-days: %d is not from 1 to %d", days, store.MaxRetentionDays)
		}
		env, err := a.loadEnv()
		if err != nil {
			return err
		}
		retention := config.Defaults().Logs.RetentionDays
		if path, explicit := a.configFile(env); explicit || fileExists(path) {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			retention = cfg.Logs.RetentionDays
		}
		if override {
			retention = days
		}
		before, err := store.RetentionCutoff(a.now(), retention)
		if err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		st, err := a.openStore(ctx, env, false)
		if err != nil {
			return err
		}
		defer st.Close()
		res, err := st.Prune(ctx, before)
		if err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		fmt.Fprintf(a.stdout, "pruned rows older than %d days (before %s): %d technical log rows, %d runs, %d record outcomes, %d field changes\n",
			retention, before.UTC().Format(time.RFC3339), res.Calls, res.Runs, res.Records, res.Changes)
		return nil
	}
	return c
}
