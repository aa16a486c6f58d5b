package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
	"github.com/proffconnect/proffsync/internal/transport"
)

// P7, P8 and P10 end to end: after a real run, every request either emulator received carries a fresh
// Correlation-ID that its technical-log row stores; every row has the P8 shape and no body or header; the
// change history holds only mapped fields.
func TestTechnicalLogAndChangeHistory(t *testing.T) {
	t.Parallel()
	sb, env, dsn := sandboxRun(t, sandbox.Options{Companies: 40})
	// Some turbulence, so that error rows and retries are in the log too.
	sb.Proff.FailNext(2, http.StatusServiceUnavailable, "0")
	r := proffsync(t, env, "run", "--json", "--log-level", "warn")
	if r.code != ExitPartial {
		t.Fatalf("run: %+v", r)
	}
	var sum struct {
		RunID    string                          `json:"run_id"`
		APICalls struct{ Proff, Salesforce int } `json:"api_calls"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatal(err)
	}

	sent := map[string]string{} // correlation id → service, as the emulators saw them
	for _, rq := range sb.SF.Requests() {
		sent[rq.Header.Get(transport.CorrelationHeader)] = transport.Salesforce
	}
	for _, rq := range sb.Proff.Requests() {
		sent[rq.Header.Get(transport.CorrelationHeader)] = transport.Proff
	}
	if _, blank := sent[""]; blank {
		t.Error("a request reached an emulator without a Correlation-ID")
	}
	if len(sent) != len(sb.SF.Requests())+len(sb.Proff.Requests()) {
		t.Errorf("correlation ids are not unique: %d ids for %d requests", len(sent), len(sb.SF.Requests())+len(sb.Proff.Requests()))
	}
	// run checks the mapping against describe before the engine records the run (a login and a describe):
	// those calls are the run's too, as its api_calls count every request it needed; their technical-log rows
	// are written before the run exists, without its id.
	const preflight = 2
	if len(sb.Proff.Requests()) != sum.APICalls.Proff || len(sb.SF.Requests()) != sum.APICalls.Salesforce {
		t.Errorf("api_calls %+v, emulators saw proff %d salesforce %d", sum.APICalls,
			len(sb.Proff.Requests()), len(sb.SF.Requests()))
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	type row struct {
		RunID, CorrelationID, Service, Method, Endpoint, ErrorClass, ErrorExcerpt string
		Status, Attempt                                                           int
		DurationMS                                                                float64
	}
	rows, err := conn.Query(ctx, `SELECT coalesce(run_id, ''), correlation_id, service, method, endpoint, error_class,
		error_excerpt, status, attempt, duration_ms FROM call_logs`)
	if err != nil {
		t.Fatal(err)
	}
	logged, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != len(sent) {
		t.Errorf("%d technical-log rows for %d requests", len(logged), len(sent))
	}
	digits := regexp.MustCompile(`\d{6,}|\b[0-9][0-9A-Za-z]{14,17}\b`) // org numbers, Salesforce ids
	retries, untied := 0, 0
	// P8: the technical log has exactly these columns. A new one (the headers of a call, a body) fails here
	// until README: Privacy guarantees says it may be kept.
	rows, err = conn.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name = 'call_logs' ORDER BY column_name`)
	if err != nil {
		t.Fatal(err)
	}
	columns, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"api_max", "api_used", "at", "attempt", "correlation_id", "duration_ms", "endpoint", "error_class",
		"error_excerpt", "id", "method", "run_id", "service", "status"}; strings.Join(columns, ",") != strings.Join(want, ",") {
		t.Errorf("call_logs has the columns %v, want exactly %v", columns, want)
	}
	methods := regexp.MustCompile(`^(GET|POST|PATCH|PUT|DELETE)$`)
	template := regexp.MustCompile(`^[A-Z]+ /[A-Za-z0-9/._{}-]*$`) // an endpoint template, never a query or a body
	classes := map[string]bool{transport.ClassNone: true, transport.ClassTimeout: true, transport.ClassCanceled: true,
		transport.ClassNetwork: true, transport.ClassTLS: true, transport.ClassRefused: true, transport.ClassClient: true,
		transport.ClassRateLimit: true, transport.ClassServer: true}
	for _, l := range logged {
		// Every text column holds only what P8 allows, so that no body of a successful call can hide in one.
		if !classes[l.ErrorClass] || !methods.MatchString(l.Method) || !template.MatchString(l.Endpoint) ||
			len(l.Endpoint) > 120 || len(l.ErrorExcerpt) > 200+len("…") {
			t.Errorf("row holds more than P8 allows: %+v", l)
		}
		if sent[l.CorrelationID] != l.Service {
			t.Errorf("row %+v: the emulators saw correlation id %q for %q", l, l.CorrelationID, sent[l.CorrelationID])
		}
		if l.RunID == "" && (strings.HasSuffix(l.Endpoint, "/oauth2/token") || strings.HasSuffix(l.Endpoint, "/describe")) {
			untied++
		} else if l.RunID != sum.RunID {
			t.Errorf("row %+v is not tied to run %s", l, sum.RunID)
		}
		if l.Method == "" || l.Status == 0 || l.DurationMS < 0 || l.Attempt < 1 {
			t.Errorf("row lacks P8 fields: %+v", l)
		}
		if m := digits.FindString(strings.ReplaceAll(l.Endpoint, "v62.0", "")); m != "" {
			t.Errorf("endpoint %q keeps a concrete id or org number %q", l.Endpoint, m)
		}
		if l.Status < 400 && l.ErrorExcerpt != "" {
			t.Errorf("a successful call kept a body excerpt: %+v", l)
		}
		if l.Attempt > 1 {
			retries++
		}
	}
	if untied != preflight {
		t.Errorf("%d rows without a run, want the %d calls of the check before the run", untied, preflight)
	}
	if retries == 0 {
		t.Error("the 503s were not retried, or the retries not logged")
	}

	mapped := map[string]bool{}
	cfgRules, _ := resolveMappingFromYAML(t, sandbox.DemoConfig)
	for _, r := range cfgRules {
		mapped[r.Field] = true
	}
	rows, err = conn.Query(ctx, `SELECT DISTINCT field FROM field_changes`)
	if err != nil {
		t.Fatal(err)
	}
	fields, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(fields) == 0 {
		t.Fatalf("field changes: %v %v", fields, err)
	}
	for _, f := range fields {
		if !mapped[f] {
			t.Errorf("the change history holds %q, which is not mapped", f)
		}
	}
}

// P4: a mapping onto a field the integration user cannot edit, or that does not exist, stops the run
// before any write, naming every bad mapping: a configuration error (78), and no run is recorded for it
// (issue 14). check refuses it the same way, so that nothing check passes makes run exit 78.
func TestBadMappingStopsBeforeAnyWrite(t *testing.T) {
	t.Parallel()
	sb, env, dsn := sandboxRun(t, sandbox.Options{Companies: 12})
	sb.SF.SetField("Account", mapping.Field{Name: "BillingCity", Type: "string", Length: 40, Updateable: false})
	env["PROFFSYNC_CONFIG"] = writeFile(t, "proffsync.yaml", strings.Replace(sandbox.DemoConfig,
		"mapping:\n", "mapping:\n  - proff: revenue\n    field: Revenue_Missing__c\n", 1))
	r := proffsync(t, env, "run", "--json", "--log-level", "error")
	if r.code != ExitConfig || r.stdout != "" {
		t.Fatalf("run: %+v", r)
	}
	for _, w := range []string{"BillingCity", "Revenue_Missing__c"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("the reason does not name %s: %s", w, r.stderr)
		}
	}
	st := storetest.Open(t, dsn, store.Options{})
	if runs, err := st.ListRuns(context.Background(), 10); err != nil || len(runs) != 0 {
		t.Errorf("a run was recorded for a mapping describe rejects: %d runs, %v", len(runs), err)
	}
	for _, rq := range sb.SF.Requests() {
		if rq.Method == http.MethodPatch || rq.Method == http.MethodPost && !strings.Contains(rq.Path, "oauth2") {
			t.Errorf("a write was sent: %s %s", rq.Method, rq.Path)
		}
	}
	if n := len(sb.Proff.Requests()); n != 0 {
		t.Errorf("%d Proff lookups before the mapping was checked", n)
	}
	c := proffsync(t, env, "check", "--log-level", "error")
	if c.code != ExitConfig || !strings.Contains(c.stdout, "Revenue_Missing__c") || !strings.Contains(c.stdout, "BillingCity") {
		t.Errorf("check: %+v", c)
	}
}

func resolveMappingFromYAML(t *testing.T, yaml string) ([]mapping.Rule, error) {
	t.Helper()
	a := testApp(nil)
	a.getenv = func(k string) string {
		if k == "PROFFSYNC_CONFIG" {
			return writeFile(t, "p.yaml", yaml)
		}
		return ""
	}
	cfg, err := a.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	res, err := resolveMapping(cfg)
	return res.rules, err
}

// A configured rate above the token's per-minute limit is lowered to it before the first lookup.
func TestRateFitsTheTokensLimit(t *testing.T) {
	t.Parallel()
	_, env, _ := sandboxRun(t, sandbox.Options{Companies: 8, ProffCallsPerMinute: 1200})
	r := proffsync(t, env, "run", "--json", "--log-format", "json")
	if r.code != ExitPartial {
		t.Fatalf("run: %+v", r)
	}
	if !strings.Contains(r.stderr, `"msg":"lowered the Proff rate to the token's limit"`) || !strings.Contains(r.stderr, `"per_second":20`) {
		t.Errorf("the rate was not fitted to 1200/min:\n%s", r.stderr)
	}
}

// P1 for the commands TestSecretsNeverLeak does not run: migrate, serve (started and stopped), demo,
// sandbox, history show, revert, run --retry, and a config error, with recognisable secrets in the
// environment (the database's password in the userinfo and an sslpassword in the query, the key in the
// notification webhook's URL, to a webhook that quotes its path back in a 400); then a Proff server that
// quotes the token back in a 500 body, straddling the excerpt's cut, through the real transport into the
// store. Neither stdout, stderr nor any row of the database may hold a secret, its recognisable beginning,
// or an Authorization value.
func TestSecretsNeverLeakEveryCommand(t *testing.T) {
	t.Parallel()
	const (
		proffToken = "PROFFTOKEN-recognisable-b81c2d"
		sfSecret   = "SFSECRET-recognisable-c92d3e"
		dbPassword = "DBPASSWORD-recognisable-d03e4f"
		sslPass    = "SSLPASSWORD-recognisable-e14f50"
		hookKey    = "HOOKKEY-recognisable-f25a61"
	)
	// Every run notifies a webhook that refuses it quoting the URL's path, where a chat webhook keeps its key.
	var hookPosts atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookPosts.Add(1)
		http.Error(w, "no such webhook: "+r.URL.Path, http.StatusBadRequest)
	}))
	t.Cleanup(hook.Close)
	const notifyAll = "notify:\n  on: [succeeded, partial, failed, interrupted]\n"
	plain := storetest.URL(t)
	dsn := strings.Replace(plain, "postgres@", "postgres:"+dbPassword+"@", 1) + "&sslpassword=" + sslPass
	sb := sandbox.Start(sandbox.Options{Companies: 16, ClientSecret: sfSecret, ProffToken: proffToken})
	t.Cleanup(sb.Close)
	env := sb.Env(dsn)
	env["PROFFSYNC_CONFIG"] = writeFile(t, "proffsync.yaml", sandbox.DemoConfig+notifyAll)
	env["NOTIFY_WEBHOOK_URL"] = hook.URL + "/services/T01/B01/" + hookKey
	with := func(kv ...string) map[string]string {
		m := maps.Clone(env)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	var outputs []string
	do := func(env map[string]string, args ...string) result {
		r := proffsync(t, env, append(args, "--log-level", "debug")...)
		outputs = append(outputs, strings.Join(args, " ")+"\x00"+r.stdout, strings.Join(args, " ")+"\x00"+r.stderr)
		return r
	}

	if r := do(env, "migrate"); r.code != 0 || !strings.Contains(r.stdout, "database is migrated") {
		t.Errorf("migrate: %+v", r)
	}
	r := do(env, "run", "--json")
	var sum struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.RunID == "" {
		t.Fatalf("run: %+v", r)
	}
	if r := do(env, "history", "show", sum.RunID); r.code != 0 || !strings.Contains(r.stdout, sum.RunID) {
		t.Errorf("history show: %+v", r)
	}
	do(env, "history", "show", sum.RunID, "--json")
	do(env, "history", "show", "no-such-run")
	// revert (a dry run, then the real one) and a retry of the run's failed records.
	do(env, "revert", sum.RunID, "--dry-run")
	if r := do(env, "revert", sum.RunID, "--json"); r.code != 0 && r.code != ExitPartial {
		t.Errorf("revert: %+v", r)
	}
	if r := do(env, "run", "--retry", sum.RunID); r.code != 0 && r.code != ExitPartial {
		t.Errorf("run --retry: %+v", r)
	}
	if hookPosts.Load() == 0 {
		t.Error("no run notified the webhook: its key was never at risk")
	}
	// Config errors: an unreadable config file, a DATABASE_URL that is not one, and a database that is away.
	do(with("PROFFSYNC_CONFIG", writeFile(t, "bad.yaml", "salesforce: [\n")), "run")
	do(with("DATABASE_URL", "mysql://root:"+dbPassword+"@db.example/x?sslpassword="+sslPass), "migrate")
	do(with("DATABASE_URL", strings.Replace(dsn, "127.0.0.1:5432", "127.0.0.1:1", 1)), "migrate")
	do(with("DATABASE_URL", strings.Replace(dsn, "127.0.0.1:5432", "127.0.0.1:1", 1)), "history", "show", sum.RunID)
	// The demo records in the same database, with the sandbox's own credentials.
	if r := do(with(), "demo", "--companies", "12", "--json"); r.code != 0 {
		t.Errorf("demo: %+v", r)
	}
	// sandbox prints the environment for its own emulators: never the caller's database password.
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // print, then stop at once
	sr := proffsyncCtx(t, ctx, env, "sandbox", "--companies", "4", "--log-level", "debug")
	if sr.code != 0 || !strings.Contains(sr.stdout, "export PROFF_API_URL=") {
		t.Errorf("sandbox: %+v", sr)
	}
	outputs = append(outputs, "sandbox\x00"+sr.stdout, "sandbox\x00"+sr.stderr)

	// serve with the schedule enabled, stopped by its context once it listens on a free port.
	serveEnv := with("PROFFSYNC_CONFIG", writeFile(t, "serve.yaml", sandbox.DemoConfig+notifyAll+"schedule:\n  enabled: true\n"))
	stderr := &signalWriter{want: "serving /healthz", seen: make(chan struct{})}
	var stdout syncBuffer
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(sctx, []string{"serve", "--http-addr", "127.0.0.1:0", "--log-level", "debug"},
			func(k string) string { return serveEnv[k] }, &stdout, stderr)
	}()
	select {
	case <-stderr.seen:
		stop()
		if code := <-done; code != 0 {
			t.Errorf("serve: exit %d: %s", code, stderr.String())
		}
	case code := <-done:
		stop()
		t.Errorf("serve ended before it listened: exit %d: %s", code, stderr.String())
	}
	outputs = append(outputs, "serve\x00"+stdout.String(), "serve\x00"+stderr.String())
	if !strings.Contains(stderr.String(), "schedule enabled") {
		t.Errorf("serve did not start its schedule: %s", stderr.String())
	}

	// A Proff server that quotes the token back in a 500: once whole at the start of the excerpt, and once
	// straddling its 200-byte cut (starting at byte 188), so that neither a missing scrub nor a scrub after
	// the cut goes unseen.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Token ")
		head := `{"error":"echoed credential: ` + tok + " "
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `%s%s sent: %s"}`, head, strings.Repeat("x", max(0, 188-len(head)-len(" sent: "))), tok)
	}))
	t.Cleanup(echo.Close)
	if r := do(with("PROFF_API_URL", echo.URL), "check"); r.code != ExitFailed {
		t.Errorf("check against the echoing server: %+v", r)
	}

	secrets := []string{proffToken, sfSecret, dbPassword, sslPass, url.QueryEscape(dbPassword), hookKey}
	for _, rq := range sb.SF.Requests() {
		if v := rq.Header.Get("Authorization"); v != "" {
			secrets = append(secrets, strings.TrimPrefix(v, "Bearer "))
		}
	}
	authValue := regexp.MustCompile(`(?i)(Bearer|Token) [A-Za-z0-9._!~+/=-]{12,}`)
	check := func(where, text string) {
		for _, s := range secrets {
			// The secret, or its first 12 characters: a cut excerpt must not keep half of one either.
			if strings.Contains(text, s) || strings.Contains(text, s[:12]) {
				t.Errorf("%s holds the secret %q", where, s)
			}
		}
		if m := authValue.FindString(text); m != "" {
			t.Errorf("%s holds an Authorization value %q", where, m)
		}
	}
	for _, o := range outputs {
		cmd, text, _ := strings.Cut(o, "\x00")
		check("the output of "+cmd, text)
	}
	dump := dumpDatabase(t, plain)
	excerpts := 0
	for table, rows := range dump {
		for _, row := range rows {
			check("table "+table, row)
			if table == "call_logs" && strings.Contains(row, "echoed credential") {
				excerpts++
			}
		}
	}
	if excerpts == 0 {
		t.Error("no excerpt of the echoing server reached the technical log: the check proves nothing")
	}
}

// signalWriter collects output and closes seen once it holds want.
type signalWriter struct {
	syncBuffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if strings.Contains(w.syncBuffer.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}
