package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// The demo: a complete run on the sandbox ends with exactly the outcomes the seed was built for, and exit 0.
func TestDemoRunsEveryOutcome(t *testing.T) {
	t.Parallel()
	dsn := storetest.MissingURL(t) // the demo creates its database
	r := proffsync(t, map[string]string{"DATABASE_URL": dsn}, "demo", "--json", "--log-level", "warn")
	if r.code != 0 {
		t.Fatalf("demo: code %d, stderr %s", r.code, r.stderr)
	}
	var sum massupdate.Summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("demo --json printed %q: %v", r.stdout, err)
	}
	sb := sandbox.Start(sandbox.Options{})
	sb.Close()
	e, c := sb.Expect, sum.Counts
	got := []int64{c.Selected, c.Updated, c.Unchanged, c.NotFound, c.MissingOrgNumber, c.InvalidOrgNumber, c.Failed}
	want := []int{e.Selected, e.Updated, e.Unchanged, e.NotFound, e.MissingOrgNumber, e.InvalidOrgNumber, e.Failed}
	for i := range got {
		if got[i] != int64(want[i]) || want[i] == 0 {
			t.Errorf("counts %+v, want selected/updated/unchanged/not_found/missing/invalid/failed = %v", c, want)
			break
		}
	}
	if sum.Trigger != massupdate.Demo || sum.Status != massupdate.Partial || sum.APICalls.Proff == 0 || sum.APICalls.Salesforce == 0 {
		t.Errorf("summary %+v", sum)
	}
	// The human form shows the summary and the history of the run.
	r = proffsync(t, map[string]string{"DATABASE_URL": dsn}, "demo", "--companies", "40", "--log-level", "warn")
	for _, w := range []string{"Sandbox:", "records", "$ proffsync history show", "Field changes:", "failed on purpose"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("demo output lacks %q:\n%s", w, r.stdout)
		}
	}
	if r.code != 0 {
		t.Errorf("second demo: code %d: %s", r.code, r.stderr)
	}
}

// P1: run every command with recognisable secrets, on success and failure paths, then look for each
// secret and any Authorization value in stdout, stderr and a dump of the whole database.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const (
		proffToken = "PROFFTOKEN-recognisable-7f3a9c"
		sfSecret   = "SFSECRET-recognisable-91b2d4"
		dbPassword = "DBPASSWORD-recognisable-5e6f"
	)
	dsn := strings.Replace(storetest.URL(t), "postgres@", "postgres:"+dbPassword+"@", 1)
	sb := sandbox.Start(sandbox.Options{Companies: 24, ClientSecret: sfSecret, ProffToken: proffToken})
	defer sb.Close()
	env := sb.Env(dsn)
	cfgPath := writeFile(t, "proffsync.yaml", sandbox.DemoConfig)
	env["PROFFSYNC_CONFIG"] = cfgPath

	var outputs []string
	do := func(env map[string]string, args ...string) result {
		r := proffsync(t, env, args...)
		outputs = append(outputs, r.stdout, r.stderr)
		return r
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for kk, vv := range env {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	if r := do(env, "check"); r.code != 0 || !strings.Contains(r.stdout, "****"+proffToken[len(proffToken)-4:]) {
		t.Errorf("check: %+v", r)
	}
	if r := do(env, "preview", "--json"); r.code != 0 {
		t.Errorf("preview: %+v", r)
	}
	if r := do(env, "run", "--json", "--dry-run"); r.code != ExitPartial && r.code != 0 {
		t.Errorf("dry run: %+v", r)
	}
	if r := do(env, "run", "--json"); r.code != ExitPartial {
		t.Errorf("run: %+v", r)
	}
	do(env, "history", "--json")
	do(env, "run", "--resume", "--json")
	// Failure paths: a wrong Salesforce secret, a rejected Proff token, Salesforce answering 500.
	if r := do(with("SF_CLIENT_SECRET", sfSecret+"-wrong"), "run", "--json"); r.code != ExitFailed {
		t.Errorf("wrong SF secret: %+v", r)
	}
	if r := do(with("PROFF_API_TOKEN", proffToken+"-wrong"), "run", "--json"); r.code != ExitFailed {
		t.Errorf("wrong Proff token: %+v", r)
	}
	if r := do(with("PROFF_API_TOKEN", proffToken+"-wrong"), "check"); r.code != ExitFailed {
		t.Errorf("check with a wrong Proff token: %+v", r)
	}
	sb.SF.FailNext(50, http.StatusInternalServerError)
	if r := do(env, "run", "--json"); r.code == 0 {
		t.Errorf("SF 500s: %+v", r)
	}
	sb.SF.FailNext(0, 0)
	do(with("PROFF_API_URL", "http://proff.example"), "run")
	do(with("DATABASE_URL", strings.Replace(dsn, "127.0.0.1:5432", "127.0.0.1:1", 1)), "run")
	do(env, "prune", "--retention-days", "1")

	secrets := []string{proffToken, sfSecret, dbPassword}
	// Every Authorization value either emulator ever received.
	for _, rq := range sb.SF.Requests() {
		if v := rq.Header.Get("Authorization"); v != "" {
			secrets = append(secrets, strings.TrimPrefix(v, "Bearer "))
		}
	}
	for _, rq := range sb.Proff.Requests() {
		if v := rq.Header.Get("Authorization"); v != "" {
			secrets = append(secrets, strings.TrimPrefix(v, "Token "))
		}
	}
	if len(secrets) < 5 {
		t.Fatalf("too few credentials seen (%d): the emulators were not called", len(secrets))
	}
	authValue := regexp.MustCompile(`(?i)(Bearer|Token) [A-Za-z0-9._!~+/=-]{12,}`)
	check := func(where, text string) {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds the secret %q", where, s)
			}
		}
		if m := authValue.FindString(text); m != "" {
			t.Errorf("%s holds an Authorization value %q", where, m)
		}
	}
	for i, o := range outputs {
		check("output "+string(rune('0'+i%10)), o)
	}
	for table, rows := range dumpDatabase(t, strings.Replace(dsn, ":"+dbPassword, "", 1)) {
		if table == "call_logs" && len(rows) == 0 {
			t.Error("the technical log is empty: the dump proves nothing")
		}
		// The stored sync values are searched as text too (their bytea column), not as hex only.
		if table == "sync_companies" && !slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, " AS") }) {
			t.Error("no company name in the dump of sync_companies: the stored values are not searched")
		}
		for _, row := range rows {
			check("table "+table, row)
		}
	}
}

// dumpDatabase returns every row of every table of the public schema as JSON text.
func dumpDatabase(t *testing.T, dsn string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, tb := range tables {
		rows, err := conn.Query(ctx, `SELECT row_to_json(t)::text FROM `+pgx.Identifier{tb}.Sanitize()+` t`)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		// row_to_json writes bytea as hex, which no search for a secret would match: the bytes of each
		// bytea column (the stored sync values) are added as text too.
		rows, err = conn.Query(ctx, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = 'public' AND table_name = $1 AND data_type = 'bytea'`, tb)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range cols {
			rows, err := conn.Query(ctx, `SELECT coalesce(encode(`+pgx.Identifier{col}.Sanitize()+`, 'escape'), '') FROM `+
				pgx.Identifier{tb}.Sanitize())
			if err != nil {
				t.Fatal(err)
			}
			bytes, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			vals = append(vals, bytes...)
		}
		out[tb] = vals
	}
	if len(out) < 4 {
		t.Fatalf("only %d tables", len(out))
	}
	return out
}

func TestDemoWithoutPostgresSaysWhatToDo(t *testing.T) {
	t.Parallel()
	r := proffsync(t, map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/x?sslmode=disable"}, "demo")
	if r.code != ExitFailed || r.stdout != "" || !strings.Contains(r.stderr, "the demo needs PostgreSQL") ||
		!strings.Contains(r.stderr, "pg_ctlcluster") || !strings.Contains(r.stderr, "DATABASE_URL") {
		t.Fatalf("%+v", r)
	}
}

// Another run holding the lock: exit 3 at once, naming it, nothing on stdout, nothing done.
func TestRunWhileAnotherHoldsTheLock(t *testing.T) {
	t.Parallel()
	sb, env, dsn := sandboxRun(t, sandbox.Options{Companies: 8})
	if r := proffsync(t, env, "migrate"); r.code != 0 {
		t.Fatal(r)
	}
	st, holder := holdRunLock(t, dsn)
	before := len(sb.SF.Requests()) + len(sb.Proff.Requests())
	r := proffsync(t, env, "run", "--json")
	if r.code != ExitLocked || r.stdout != "" || !strings.Contains(r.stderr, holder.ID) {
		t.Fatalf("%+v", r)
	}
	if after := len(sb.SF.Requests()) + len(sb.Proff.Requests()); after != before {
		t.Errorf("a locked-out run made %d requests", after-before)
	}
	runs, _ := st.ListRuns(context.Background(), 10)
	if len(runs) != 1 {
		t.Errorf("a locked-out run recorded something: %d runs", len(runs))
	}
}

// sandboxRun starts a sandbox for one test, with a fresh database and the demo's config: the environment a
// `run` against it needs.
func sandboxRun(t *testing.T, o sandbox.Options) (*sandbox.Sandbox, map[string]string, string) {
	t.Helper()
	dsn := storetest.URL(t)
	sb := sandbox.Start(o)
	t.Cleanup(sb.Close)
	env := sb.Env(dsn)
	env["PROFFSYNC_CONFIG"] = writeFile(t, "proffsync.yaml", sandbox.DemoConfig)
	return sb, env, dsn
}

// holdRunLock takes the run lock for the test's life, as a scheduled run in another process would, and
// records that run: what a command started meanwhile must meet.
func holdRunLock(t *testing.T, dsn string) (*store.Store, *massupdate.Run) {
	t.Helper()
	st := storetest.Open(t, dsn, store.Options{})
	ctx := context.Background()
	lock, err := st.AcquireRunLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Release(context.Background()) })
	holder := &massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.Running, StartedAt: time.Now()}
	if err := st.CreateRun(ctx, holder); err != nil {
		t.Fatal(err)
	}
	return st, holder
}
