package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// historyRuns stores three runs a day apart: succeeded, failed (login rejected) and interrupted (quota),
// the last with records whose data was fresh or stored, a never-valued point and changes. It returns the
// database URL and the runs, oldest first.
func historyRuns(t *testing.T) (string, []*massupdate.Run) {
	t.Helper()
	ctx := context.Background()
	dsn := storetest.URL(t)
	st := storetest.Open(t, dsn, store.Options{})
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	settings := json.RawMessage(`{"object":"Account","org_number_field":"Org_Number__c","country_field":"Country_Code__c"}`)
	var runs []*massupdate.Run
	for i, end := range []struct {
		status massupdate.Status
		err    string
	}{
		{massupdate.Succeeded, ""},
		{massupdate.StatusFail, "salesforce login (client_credentials flow) rejected: invalid_client: invalid client credentials — SF_CLIENT_SECRET is not the consumer secret of the app SF_CLIENT_ID names: copy it again from the app"},
		{massupdate.Interrupted, "API quota exhausted: Proff answered 429 with no calls left this month\x1b[2J"},
	} {
		r := &massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.Running, StartedAt: t0.Add(time.Duration(i) * 24 * time.Hour), Settings: settings}
		if err := st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			b := massupdate.Batch{
				Results: []massupdate.RecordResult{
					{RecordID: "001A", OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Failed, Lookup: massupdate.LookupStored,
						Reason: "=HYPERLINK(\"http://x\") FIELD_CUSTOM_VALIDATION_EXCEPTION: Postal code must be 4 digits"},
					{RecordID: "001B", OrgNumber: "984851006", Country: "NO", Outcome: massupdate.NotFound, Lookup: massupdate.LookupFresh, Reason: "not in Proff"},
					{RecordID: "001C", OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated, Lookup: massupdate.LookupFresh},
				},
				Changes: []massupdate.FieldChange{{RecordID: "001C", Field: "Name", Old: nil, New: "Equinor ASA"},
					{RecordID: "001C", Field: "NumberOfEmployees", Old: -5.0, New: 21000.0}},
				Counts:  massupdate.Counts{Selected: 3, Failed: 1, NotFound: 1, Updated: 1},
				Lookups: massupdate.Lookups{Fresh: 2, Cached: 1},
			}
			if err := st.SaveBatch(ctx, r.ID, b); err != nil {
				t.Fatal(err)
			}
			r.Counts, r.Lookups, r.NeverValued = b.Counts, b.Lookups, []string{"visitorAddress.zipcodee"}
		}
		fin := r.StartedAt.Add(3 * time.Minute)
		r.Status, r.Error, r.FinishedAt = end.status, end.err, &fin
		if err := st.FinishRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	return dsn, runs
}

// history fits 100 columns with short ids, and prints a failed or interrupted run's error on the line
// below it, escaped; --wide has every column and the whole error (issue 14).
func TestHistoryListFitsAndSaysWhy(t *testing.T) {
	t.Parallel()
	dsn, runs := historyRuns(t)
	env := map[string]string{"DATABASE_URL": dsn}
	r := proffsync(t, env, "history")
	if r.code != 0 {
		t.Fatalf("history: %+v", r)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 100 {
			t.Errorf("line of %d columns:\n%s", n, l)
		}
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("colour or a raw escape off a terminal:\n%q", r.stdout)
	}
	for _, w := range []string{runs[2].ID[:shortIDLen] + "  2026-11-29 02:00  schedule  interrupted", "  error: API quota exhausted", `\x1b[2J`,
		"  error: salesforce login (client_credentials flow) rejected: invalid_client", runs[0].ID[:shortIDLen]} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("history lacks %q:\n%s", w, r.stdout)
		}
	}
	if strings.Contains(r.stdout, runs[0].ID) {
		t.Errorf("the narrow list shows a full id:\n%s", r.stdout)
	}
	if len(lines) != 1+3+2 {
		t.Errorf("want a header, three runs and two error lines:\n%s", r.stdout)
	}

	r = proffsync(t, env, "history", "--wide")
	for _, w := range []string{runs[1].ID, "NOT FOUND", "CACHED", "DEFERRED", "copy it again from the app", "ERROR"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("history --wide lacks %q:\n%s", w, r.stdout)
		}
	}

	var sums []massupdate.Summary
	r = proffsync(t, env, "history", "--json", "--status", "failed,Interrupted")
	if err := json.Unmarshal([]byte(r.stdout), &sums); err != nil || len(sums) != 2 {
		t.Fatalf("history --json --status: %v %+v", err, r)
	}
	if sums[0].Error == nil || !strings.HasPrefix(*sums[0].Error, "API quota exhausted") || sums[1].Status != massupdate.StatusFail || sums[0].Lookups.Cached != 1 {
		t.Errorf("summaries: %+v", sums)
	}
	r = proffsync(t, env, "history", "--since", "2026-11-28", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &sums); err != nil || len(sums) != 2 || sums[1].RunID != runs[1].ID {
		t.Errorf("--since a date: %v %+v", err, r)
	}
	r = proffsync(t, env, "history", "--status", "partial")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "No runs match." {
		t.Errorf("no match: %+v", r)
	}
	for _, args := range [][]string{{"history", "--status", "done"}, {"history", "--since", "yesterday"},
		{"history", "--csv"}, {"history", "show", "latest", "--csv", "--json"}, {"history", "show", "latest", "--csv=all"}, {"history", "--format", "xml"}, {"history", "--format", "csv"}} {
		if r := proffsync(t, env, args...); r.code != ExitUsage || r.stdout != "" {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

// `history show` takes latest and a unique prefix, prints the error, where each record's data came from,
// the never-valued points, and, for an interrupted run, ends with how to continue.
func TestHistoryShowSaysWhy(t *testing.T) {
	t.Parallel()
	dsn, runs := historyRuns(t)
	env := map[string]string{"DATABASE_URL": dsn}
	r := proffsync(t, env, "history", "show", "latest")
	if r.code != 0 {
		t.Fatalf("history show latest: %+v", r)
	}
	for _, w := range []string{"Run " + runs[2].ID, "  error     API quota exhausted", `\x1b[2J`, "DATA", "stored", "fresh",
		"2 fresh from Proff, 1 from stored values, 0 deferred", "visitorAddress.zipcodee"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("history show lacks %q:\n%s", w, r.stdout)
		}
	}
	if !strings.HasSuffix(r.stdout, "\n\n  continue  proffsync run --resume\n") {
		t.Errorf("an interrupted run's last line is not how to continue:\n%s", r.stdout)
	}

	r = proffsync(t, env, "history", "show", strings.ToUpper(runs[1].ID[:shortIDLen]), "--json")
	var d struct {
		Run         massupdate.Summary        `json:"run"`
		Records     []massupdate.RecordResult `json:"records"`
		NeverValued []string                  `json:"never_valued"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Run.RunID != runs[1].ID || d.Run.Error == nil ||
		!strings.Contains(*d.Run.Error, "invalid_client") || d.NeverValued == nil {
		t.Errorf("show by prefix --json: %v %+v", err, r)
	}
	r = proffsync(t, env, "history", "show", runs[2].ID, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || len(d.NeverValued) != 1 || d.Records[0].Lookup != "stored" {
		t.Errorf("never_valued and lookup in JSON: %v %s", err, r.stdout)
	}
	// A failed run that is not resumable says nothing about --resume.
	if r := proffsync(t, env, "history", "show", runs[1].ID); strings.Contains(r.stdout, "--resume") {
		t.Errorf("a failed run offers --resume:\n%s", r.stdout)
	}
	// Four characters are shared by every id of the same hour: ambiguous, and the message says so.
	r = proffsync(t, env, "history", "show", runs[0].ID[:4])
	if r.code != ExitFailed || !strings.Contains(r.stderr, "matches 3 runs") {
		t.Errorf("ambiguous prefix: %+v", r)
	}
	r = proffsync(t, env, "history", "show", "ffffffff")
	if r.code != ExitFailed || !strings.Contains(r.stderr, `no run with id "ffffffff"`) || !strings.Contains(r.stderr, "latest") {
		t.Errorf("unknown prefix: %+v", r)
	}
}

// `history show --csv` is what Data Loader reads: the records under the run's field API names and the
// changes, with a formula-like text made inert and numbers left as they are.
func TestHistoryShowCSV(t *testing.T) {
	t.Parallel()
	dsn, runs := historyRuns(t)
	env := map[string]string{"DATABASE_URL": dsn}
	r := proffsync(t, env, "history", "show", runs[2].ID[:10], "--csv")
	if r.code != 0 {
		t.Fatalf("--csv: %+v", r)
	}
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, r.stdout)
	}
	want := [][]string{
		{"Id", "Org_Number__c", "Country_Code__c", "Outcome", "Error", "Data"},
		{"001A", "923609016", "NO", "failed", `'=HYPERLINK("http://x") FIELD_CUSTOM_VALIDATION_EXCEPTION: Postal code must be 4 digits`, "stored"},
		{"001B", "984851006", "NO", "not_found", "not in Proff", "fresh"},
	}
	if !equalRows(recs, want) {
		t.Errorf("records CSV:\n got %q\nwant %q", recs, want)
	}
	if f := proffsync(t, env, "history", "show", runs[2].ID[:10], "--format", "csv"); f.stdout != r.stdout {
		t.Errorf("--format csv differs from --csv:\n%s", f.stdout)
	}
	r = proffsync(t, env, "history", "show", runs[2].ID, "--csv=changes")
	recs, err = csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	want = [][]string{{"Id", "Field", "Old", "New"}, {"001C", "Name", "", "Equinor ASA"}, {"001C", "NumberOfEmployees", "-5", "21000"}}
	if err != nil || !equalRows(recs, want) {
		t.Errorf("changes CSV: %v\n got %q\nwant %q", err, recs, want)
	}
}

func equalRows(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") {
			return false
		}
	}
	return true
}

// On a terminal the status is coloured, and the colour codes do not shift the columns after it.
func TestHistoryColourKeepsColumns(t *testing.T) {
	t.Parallel()
	fin := time.Date(2026, 11, 29, 2, 1, 0, 0, time.UTC)
	runs := []massupdate.Run{
		{ID: "0193a5f0-1111-7000-8000-000000000001", Trigger: massupdate.Manual, Status: massupdate.Succeeded, StartedAt: fin.Add(-time.Minute), FinishedAt: &fin},
		{ID: "0193a5f0-2222-7000-8000-000000000002", Trigger: massupdate.Schedule, Status: massupdate.StatusFail, StartedAt: fin.Add(-time.Minute), FinishedAt: &fin, Error: "boom"},
	}
	var plain, coloured bytes.Buffer
	printRuns(&plain, runs, false)
	printRuns(&coloured, runs, true)
	if !strings.Contains(coloured.String(), ansiGreen+"succeeded") || !strings.Contains(coloured.String(), ansiRed+"failed") {
		t.Errorf("no colour:\n%q", coloured.String())
	}
	stripped := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(coloured.String(), "")
	if stripped != plain.String() {
		t.Errorf("colour changed the layout:\n%s\nvs\n%s", stripped, plain.String())
	}
}
