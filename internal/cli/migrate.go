package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/proffconnect/proffsync/internal/config"
)

func migrateSpec() spec {
	return spec{name: "migrate", summary: "apply the embedded database migrations",
		help: `Creates the database named in DATABASE_URL when it does not exist (and the role may), then applies
the embedded migrations in order under an advisory lock. Safe to run again, and from several
processes at once. run, serve and demo migrate by themselves.`,
		build: func(a *app, _ *flag.FlagSet) command { return &migrateCmd{app: a} }}
}

type migrateCmd struct{ *app }

func (c *migrateCmd) Validate() error { return nil }

func (c *migrateCmd) Run(ctx context.Context) error {
	env, err := c.loadEnv()
	if err != nil {
		return err
	}
	st, err := c.openStore(ctx, env, true)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintln(c.stdout, "database is migrated:", config.MaskDatabaseURL(env.DatabaseURL))
	return nil
}
