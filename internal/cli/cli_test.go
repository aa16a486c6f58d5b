package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// result is what one in-process invocation of proffsync did.
type result struct {
	code           int
	stdout, stderr string
}

// proffsync runs the real command line in-process with env as the whole environment.
func proffsync(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return proffsyncCtx(t, context.Background(), env, args...)
}

func proffsyncCtx(t *testing.T, ctx context.Context, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsageErrorsExit64(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{}, {"frobnicate"}, {"run", "--nope"}, {"run", "--limit", "many"}, {"run", "--limit", "-1"},
		{"history", "show"}, {"history", "list"}, {"history", "--limit", "0"}, {"migrate", "extra"},
		{"--log-format", "xml", "migrate"}, {"run", "--dry-run", "--resume"}, {"help", "nope"},
	} {
		r := proffsync(t, map[string]string{}, args...)
		if r.code != ExitUsage || r.stdout != "" || !strings.HasPrefix(r.stderr, "proffsync: ") && len(args) > 0 {
			t.Errorf("proffsync %v: code %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
			t.Errorf("proffsync %v printed a stack trace: %s", args, r.stderr)
		}
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	r := proffsync(t, nil, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Commands:") {
		t.Fatalf("--help: %+v", r)
	}
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			r := proffsync(t, nil, args...)
			if r.code != 0 || !strings.Contains(r.stdout, "Usage: proffsync "+c.name) || r.stderr != "" {
				t.Errorf("%v: code %d stdout %q stderr %q", args, r.code, r.stdout, r.stderr)
			}
		}
		if !strings.Contains(r.stdout, c.name) {
			t.Errorf("top-level help lacks %s", c.name)
		}
	}
}

const goodConfig = `
salesforce:
  org_number_field: Org_Number__c
  country_field: Country_Code__c
  default_country: NO
  opt_in_field: Proff_Mass_Update__c
mapping:
  - proff: name
    field: Name
`

// Bad config exits 78 with a message that names the key and the file, and does nothing else.
func TestBadConfigExits78(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PROFF_API_TOKEN": "tok-123456789", "SF_CLIENT_ID": "id", "SF_CLIENT_SECRET": "sec-123456789",
		"SF_LOGIN_URL": "https://example.my.salesforce.com", "DATABASE_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable"}
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", goodConfig + "colour: blue\n", []string{"unknown key \"colour\""}},
		{"missing required", strings.Replace(goodConfig, "  opt_in_field: Proff_Mass_Update__c\n", "", 1), []string{"salesforce.opt_in_field: required"}},
		{"malformed cron", goodConfig + "schedule:\n  cron: \"every night\"\n", []string{"schedule.cron"}},
		{"unknown country", strings.Replace(goodConfig, "default_country: NO", "default_country: Atlantis", 1), []string{"salesforce.default_country", "Atlantis"}},
		{"duplicate mapping target", goodConfig + "  - proff: companyTypeName\n    field: Name\n", []string{"mapping[1].field", "already the target"}},
		{"person data", goodConfig + "  - proff: contactPerson.name\n    field: Description\n", []string{"mapping[1].proff", "personal data"}},
		// A bare unknown top-level key is mappable (Proff adds fields); a path under an unknown key is a typo.
		{"unknown data point", goodConfig + "  - proff: visitorAdress.zipCode\n    field: Description\n", []string{"mapping[1].proff"}},
	}
	for _, tc := range cases {
		for _, cmd := range []string{"run", "preview", "check"} {
			path := writeFile(t, "proffsync.yaml", tc.yaml)
			r := proffsync(t, env, cmd, "--config", path, "--json")
			if r.code != ExitConfig || r.stdout != "" {
				t.Errorf("%s/%s: code %d stdout %q stderr %q", tc.name, cmd, r.code, r.stdout, r.stderr)
				continue
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("%s/%s: stderr %q lacks %q", tc.name, cmd, r.stderr, w)
				}
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("%s/%s: want one line on stderr, got %q", tc.name, cmd, r.stderr)
			}
		}
	}
	// A missing config file and bad environment are configuration errors too.
	r := proffsync(t, env, "run", "--config", filepath.Join(t.TempDir(), "absent.yaml"))
	if r.code != ExitConfig || !strings.Contains(r.stderr, "absent.yaml: config file not found") {
		t.Errorf("missing file: %+v", r)
	}
	path := writeFile(t, "proffsync.yaml", goodConfig)
	r = proffsync(t, map[string]string{"PROFF_API_URL": "http://api.proff.no"}, "run", "--config", path)
	if r.code != ExitConfig || !strings.Contains(r.stderr, "PROFF_API_URL") {
		t.Errorf("http proff url: %+v", r)
	}
	r = proffsync(t, map[string]string{}, "run", "--config", path)
	if r.code != ExitConfig || !strings.Contains(r.stderr, "PROFF_API_TOKEN") || !strings.Contains(r.stderr, "SF_CLIENT_ID") {
		t.Errorf("missing credentials: %+v", r)
	}
}

func TestMigrateTwiceAndCreatesTheDatabase(t *testing.T) {
	t.Parallel()
	dsn := storetest.MissingURL(t)
	for i := 0; i < 2; i++ {
		r := proffsync(t, map[string]string{"DATABASE_URL": dsn}, "migrate", "--log-level", "warn")
		if r.code != 0 || !strings.Contains(r.stdout, "database is migrated") {
			t.Fatalf("migrate #%d: %+v", i+1, r)
		}
	}
	r := proffsync(t, map[string]string{"DATABASE_URL": dsn}, "history", "--json")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("history on an empty database: %+v", r)
	}
}

func TestUnreachableDatabaseSaysWhatToDo(t *testing.T) {
	t.Parallel()
	r := proffsync(t, map[string]string{"DATABASE_URL": "postgres://app:pw-that-is-secret@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"}, "migrate")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "cannot reach PostgreSQL at 127.0.0.1:1") ||
		!strings.Contains(r.stderr, "DATABASE_URL") || strings.Contains(r.stderr, "pw-that-is-secret") {
		t.Fatalf("%+v", r)
	}
}

// history and history show on runs inserted through the store.
func TestHistoryOnStoredRuns(t *testing.T) {
	t.Parallel()
	dsn := storetest.URL(t)
	st := storetest.Open(t, dsn, store.Options{})
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	older := &massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.Running, StartedAt: t0}
	if err := st.CreateRun(ctx, older); err != nil {
		t.Fatal(err)
	}
	older.Status = massupdate.Succeeded
	fin := t0.Add(3*time.Minute + 10*time.Second)
	older.FinishedAt = &fin
	older.Counts = massupdate.Counts{Selected: 2, Updated: 1, Unchanged: 1}
	if err := st.FinishRun(ctx, older); err != nil {
		t.Fatal(err)
	}
	newer := &massupdate.Run{Trigger: massupdate.Manual, Status: massupdate.Running, StartedAt: t0.Add(24 * time.Hour)}
	if err := st.CreateRun(ctx, newer); err != nil {
		t.Fatal(err)
	}
	batch := massupdate.Batch{
		Results: []massupdate.RecordResult{
			{RecordID: "001A", OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated},
			{RecordID: "001B", OrgNumber: "984851006", Country: "NO", Outcome: massupdate.Failed, Reason: "FIELD_CUSTOM_VALIDATION_EXCEPTION: Postal code must be 4 digits"},
			{RecordID: "001C", OrgNumber: "", Country: "NO", Outcome: massupdate.MissingOrgNumber, Reason: "no org number"},
		},
		Changes:    []massupdate.FieldChange{{RecordID: "001A", Field: "Name", Old: "Equinor", New: "EQUINOR ASA"}},
		Checkpoint: "001C",
		Counts:     massupdate.Counts{Selected: 3, Updated: 1, Failed: 1, MissingOrgNumber: 1},
		APICalls:   massupdate.APICalls{Proff: 2, Salesforce: 4},
	}
	if err := st.SaveBatch(ctx, newer.ID, batch); err != nil {
		t.Fatal(err)
	}
	newer.Status = massupdate.Partial
	fin2 := newer.StartedAt.Add(time.Minute)
	newer.FinishedAt, newer.Counts, newer.APICalls = &fin2, batch.Counts, batch.APICalls
	if err := st.FinishRun(ctx, newer); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": dsn}

	r := proffsync(t, env, "history", "--json")
	var sums []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &sums) != nil || len(sums) != 2 {
		t.Fatalf("history --json: %+v", r)
	}
	if sums[0]["run_id"] != newer.ID || sums[1]["run_id"] != older.ID || sums[0]["status"] != "partial" || sums[1]["trigger"] != "schedule" {
		t.Errorf("order or fields: %v", sums)
	}
	wantKeys := []string{"run_id", "trigger", "status", "dry_run", "started_at", "finished_at", "resumed_from", "counts", "api_calls"}
	for _, k := range wantKeys {
		if _, ok := sums[0][k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	if sums[1]["started_at"] != "2026-11-28T02:00:00Z" || sums[1]["finished_at"] != "2026-11-28T02:03:10Z" {
		t.Errorf("timestamps: %v %v", sums[1]["started_at"], sums[1]["finished_at"])
	}

	r = proffsync(t, env, "history", "--limit", "1")
	if r.code != 0 || !strings.Contains(r.stdout, newer.ID[:13]) || strings.Contains(r.stdout, older.ID[:13]) || !strings.Contains(r.stdout, "STATUS") {
		t.Errorf("history table: %+v", r)
	}

	r = proffsync(t, env, "history", "show", newer.ID, "--json")
	var d struct {
		Run          massupdate.Summary        `json:"run"`
		FieldChanges map[string]int            `json:"field_changes"`
		Records      []massupdate.RecordResult `json:"records"`
		Changes      []map[string]any          `json:"changes"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil {
		t.Fatalf("history show --json: %+v", r)
	}
	if d.Run.RunID != newer.ID || d.FieldChanges["Name"] != 1 || len(d.Records) != 3 || len(d.Changes) != 1 ||
		d.Changes[0]["old"] != "Equinor" || d.Changes[0]["new"] != "EQUINOR ASA" {
		t.Errorf("detail: %+v", d)
	}
	for _, rec := range d.Records {
		// Every record but the unchanged ones: the updated ones too, to say where their data came from.
		if rec.Outcome == massupdate.Unchanged || rec.Outcome != massupdate.Updated && rec.Reason == "" {
			t.Errorf("record %+v should not be listed or lacks a reason", rec)
		}
	}

	r = proffsync(t, env, "history", "show", newer.ID)
	for _, w := range []string{newer.ID, "partial", "FIELD_CUSTOM_VALIDATION_EXCEPTION", `"Equinor" -> "EQUINOR ASA"`, "missing_org_number"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("history show lacks %q:\n%s", w, r.stdout)
		}
	}

	r = proffsync(t, env, "history", "show", "no-such-run")
	if r.code != ExitFailed || !strings.Contains(r.stderr, `no run with id "no-such-run"`) || r.stdout != "" {
		t.Errorf("unknown run: %+v", r)
	}
}

// The shipped example config passes the config-only check (what CI can validate of deploy/).
func TestExampleConfigPassesOfflineCheck(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PROFF_API_TOKEN": "example-token-0000", "SF_CLIENT_ID": "example-client",
		"SF_CLIENT_SECRET": "example-secret-0000", "SF_LOGIN_URL": "https://example.my.salesforce.com"}
	for _, path := range []string{filepath.Join("..", "..", "deploy", "proffsync.example.yaml")} {
		r := proffsync(t, env, "check", "--offline", "--config", path)
		if r.code != 0 || !strings.Contains(r.stdout, "offline check passed") || strings.Contains(r.stdout, "example-secret-0000") {
			t.Errorf("%s: %+v", path, r)
		}
	}
	// Without credentials the offline check says what is missing and fails as a configuration error.
	r := proffsync(t, map[string]string{}, "check", "--offline", "--config", filepath.Join("..", "..", "deploy", "proffsync.example.yaml"))
	if r.code != ExitConfig || !strings.Contains(r.stdout, "SF_CLIENT_ID") {
		t.Errorf("no credentials: %+v", r)
	}
}

func TestCatalogueListsTypedPointsAndNoPersonData(t *testing.T) {
	t.Parallel()
	r := proffsync(t, nil, "check", "--catalogue")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	// Each point states its unit: money in full units of the company's currency, not Proff's thousands.
	for _, w := range []string{"DATA POINT", "UNIT", "name", "nace.code", "employees", "integer", "date", "visitorAddress.zipCode", "full units"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("catalogue lacks %q", w)
		}
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (strings.HasPrefix(f[0], "personRoles") || strings.HasPrefix(f[0], "contactPerson")) {
			t.Errorf("catalogue lists person data: %s", line)
		}
	}
}
