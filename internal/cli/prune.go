package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/store"
)

func pruneSpec() spec {
	return spec{name: "prune", summary: "delete logs and run details older than logs.retention_days",
		help: fmt.Sprintf(`Deletes the technical logs, and the runs with their record outcomes and field changes, that are older
than logs.retention_days of the config file (90 when there is no config file), and prints how many
rows went. serve does this once a day. --retention-days overrides the config for this prune: from 1 to
%d days (0 is refused, never read as the default).`, store.MaxRetentionDays),
		build: func(a *app, fs *flag.FlagSet) command {
			c := &pruneCmd{app: a, fs: fs}
			fs.IntVar(&c.days, "retention-days", 0, "override logs.retention_days for this prune (1 to "+fmt.Sprint(store.MaxRetentionDays)+")")
			return c
		}}
}

type pruneCmd struct {
	*app
	fs       *flag.FlagSet
	days     int
	override bool
}

func (c *pruneCmd) Validate() error {
	// Given or not is told apart by the flag set, not by the value: --retention-days 0 is a mistake to
	// refuse, not a request for the default.
	c.fs.Visit(func(f *flag.Flag) { c.override = c.override || f.Name == "retention-days" })
	if c.override && (c.days < 1 || c.days > store.MaxRetentionDays) {
		return usageError("--retention-days: %d is not from 1 to %d", c.days, store.MaxRetentionDays)
	}
	return nil
}

func (c *pruneCmd) Run(ctx context.Context) error {
	env, err := c.loadEnv()
	if err != nil {
		return err
	}
	retention := config.Defaults().Logs.RetentionDays
	if path, explicit := c.configFile(env); explicit || fileExists(path) {
		cfg, err := config.Load(path)
		if err != nil {
			return err
		}
		retention = cfg.Logs.RetentionDays
	}
	if c.override {
		retention = c.days
	}
	before, err := store.RetentionCutoff(c.now(), retention)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	st, err := c.openStore(ctx, env, false)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := st.Prune(ctx, before)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	// Stored company values no record points at any more would never be served again.
	companies, err := st.PruneSyncCompanies(ctx)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	fmt.Fprintf(c.stdout, "pruned rows older than %d days (before %s): %d technical log rows, %d runs, %d record outcomes, %d field changes; %d stored companies no record points at\n",
		retention, before.UTC().Format(time.RFC3339), res.Calls, res.Runs, res.Records, res.Changes, companies)
	return nil
}
