package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/store"
)

// openStore connects to DATABASE_URL. With migrate it first creates the database when it does not exist
// (README: Contract) and applies the migrations.
func (a *app) openStore(ctx context.Context, env config.Env, migrate bool) (*store.Store, error) {
	// The store scrubs what it keeps with the same secrets as the final error line (README: Privacy guarantees, P1), and
	// tells the time with the same clock as the command (a prune's cut-off must be in the past by both).
	return a.openStoreWith(ctx, env.DatabaseURL, migrate, store.Options{Secrets: a.secrets, Clock: a.clock()})
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
