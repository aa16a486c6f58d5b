package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// `proffsync prune` keeps what logs.retention_days of the config file says (README: Privacy guarantees, P9): with 30 days,
// the rows of 40 days ago go and the rows of 10 days ago stay, to the row. An override that is 0, negative
// or beyond the bound is a usage error that deletes nothing: 0 is not the default, and 106,752 days once
// overflowed into a cut-off in the future that deleted everything.
func TestPruneKeepsTheConfiguredRetention(t *testing.T) {
	t.Parallel()
	dsn := storetest.URL(t)
	st := storetest.Open(t, dsn, store.Options{})
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := storetest.Seed(t, st, now.AddDate(0, 0, -40))
	kept := storetest.Seed(t, st, now.AddDate(0, 0, -10))
	all := storetest.Count(t, st)
	if want := old.Rows.Add(kept.Rows); all != want {
		t.Fatalf("seeded %+v, want %+v", all, want)
	}
	cfg := writeFile(t, "proffsync.yaml", goodConfig+"logs:\n  retention_days: 30\n")
	env := map[string]string{"DATABASE_URL": dsn, "PROFFSYNC_CONFIG": cfg}

	for _, days := range []string{"0", "-1", "106752", fmt.Sprint(store.MaxRetentionDays + 1)} {
		r := proffsync(t, env, "prune", "--retention-days", days)
		if r.code != ExitUsage || r.stdout != "" || !strings.Contains(r.stderr, "--retention-days") {
			t.Errorf("prune --retention-days %s: %+v", days, r)
		}
		if got := storetest.Count(t, st); got != all {
			t.Fatalf("prune --retention-days %s deleted rows: %+v, had %+v", days, got, all)
		}
	}

	r := proffsync(t, env, "prune")
	if r.code != 0 || !strings.Contains(r.stdout, "older than 30 days") {
		t.Fatalf("prune: %+v", r)
	}
	if got := storetest.Count(t, st); got != kept.Rows {
		t.Fatalf("after prune: %+v, want exactly the recent rows %+v", got, kept.Rows)
	}
	if _, err := st.GetRun(context.Background(), kept.RunID); err != nil {
		t.Fatalf("the recent run went: %v", err)
	}

	// The override replaces the config value: 5 days takes the rows of 10 days ago too.
	r = proffsync(t, env, "prune", "--retention-days", "5")
	if r.code != 0 || !strings.Contains(r.stdout, "older than 5 days") {
		t.Fatalf("prune --retention-days 5: %+v", r)
	}
	if got := storetest.Count(t, st); got != (storetest.Rows{}) {
		t.Fatalf("after prune --retention-days 5: %+v left", got)
	}
}

// prune also drops the stored company values no record points at any more (records moved to another
// company): they would never be served again.
func TestPruneDropsUnreferencedStoredCompanies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := storetest.URL(t)
	st := storetest.Open(t, dsn, store.Options{})
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO sync_companies (country, org_number, mapping_key, looked_up_at, status) VALUES
		('NO', '923609016', 'k', now(), 'found'), ('NO', '984851006', 'k', now(), 'found');
		INSERT INTO sync_records (record_id, country, org_number) VALUES ('001A', 'NO', '923609016')`); err != nil {
		t.Fatal(err)
	}
	r := proffsync(t, map[string]string{"DATABASE_URL": dsn, "PROFFSYNC_CONFIG": writeFile(t, "p.yaml", goodConfig)}, "prune")
	if r.code != 0 || !strings.Contains(r.stdout, "; 1 stored companies no record points at") {
		t.Fatalf("prune: %+v", r)
	}
	var left []string
	rows, _ := conn.Query(ctx, `SELECT org_number FROM sync_companies`)
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(left) != 1 || left[0] != "923609016" {
		t.Errorf("left %v, %v", left, err)
	}
}
