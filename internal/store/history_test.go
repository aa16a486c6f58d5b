package store_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
	"github.com/proffconnect/proffsync/internal/transport"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestRunDetailShape(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	started := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	r := newRun(t, s, massupdate.Run{Trigger: massupdate.Schedule, StartedAt: started, ScheduledFor: &started})
	results := []massupdate.RecordResult{
		{RecordID: "001000000000001AAA", OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated},
		{RecordID: "001000000000002AAA", OrgNumber: "914778271", Country: "NO", Outcome: massupdate.Unchanged},
		{RecordID: "001000000000003AAA", OrgNumber: "", Country: "NO", Outcome: massupdate.MissingOrgNumber, Reason: "no org number"},
		{RecordID: "001000000000004AAA", OrgNumber: "12345", Country: "XX", Outcome: massupdate.InvalidOrgNumber, Reason: `country "XX" is not supported`},
		{RecordID: "001000000000005AAA", OrgNumber: "999999999", Country: "NO", Outcome: massupdate.NotFound, Reason: "not in Proff", Lookup: massupdate.LookupFresh},
		{RecordID: "001000000000006AAA", OrgNumber: "988888888", Country: "SE", Outcome: massupdate.Failed, Reason: "FIELD_CUSTOM_VALIDATION_EXCEPTION: Name is locked", Lookup: massupdate.LookupStored},
	}
	changes := []massupdate.FieldChange{
		{RecordID: "001000000000001AAA", Field: "Name", Old: "Equinor", New: "EQUINOR ASA"},
		{RecordID: "001000000000001AAA", Field: "NumberOfEmployees", Old: nil, New: float64(21126)},
		{RecordID: "001000000000001AAA", Field: "Listed__c", Old: false, New: true},
		{RecordID: "001000000000006AAA", Field: "Name", Old: "Old AB", New: "New AB"},
	}
	var c massupdate.Counts
	for _, rr := range results {
		c.Add(rr.Outcome)
	}
	// Two batches, as the engine sends them.
	if err := s.SaveBatch(ctx, r.ID, massupdate.Batch{Results: results[:3], Changes: changes[:3], Checkpoint: results[2].RecordID,
		Counts: massupdate.Counts{Selected: 3, Updated: 1, Unchanged: 1, MissingOrgNumber: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveBatch(ctx, r.ID, massupdate.Batch{Results: results[3:], Changes: changes[3:], Checkpoint: results[5].RecordID,
		Counts: c, Lookups: massupdate.Lookups{Fresh: 1, Cached: 1}, APICalls: massupdate.APICalls{Proff: 4, Salesforce: 5}}); err != nil {
		t.Fatal(err)
	}
	finished := started.Add(3*time.Minute + 10*time.Second)
	r.Status, r.Counts, r.APICalls, r.FinishedAt = massupdate.Partial, c, massupdate.APICalls{Proff: 4, Salesforce: 6}, &finished
	r.Lookups = massupdate.Lookups{Fresh: 1, Cached: 1, Deferred: 2}
	if err := s.FinishRun(ctx, &r); err != nil {
		t.Fatal(err)
	}

	d, err := s.RunDetail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(bytes.ReplaceAll(got, []byte(r.ID), []byte("RUN_ID")), '\n')
	golden := filepath.Join("testdata", "run_detail.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("history show --json shape changed:\n got %s\nwant %s", got, want)
	}

	// The keys are exactly README: Contract's, whatever the golden file says.
	var generic map[string]any
	json.Unmarshal(got, &generic)
	assertKeys(t, "detail", generic, "run", "field_changes", "records", "changes")
	run := generic["run"].(map[string]any)
	assertKeys(t, "run", run, "run_id", "trigger", "status", "dry_run", "started_at", "finished_at", "resumed_from", "counts",
		"lookups", "api_calls", "error", "reverts")
	assertKeys(t, "lookups", run["lookups"].(map[string]any), "fresh", "cached", "deferred")
	assertKeys(t, "counts", run["counts"].(map[string]any), "selected", "missing_org_number", "invalid_org_number", "not_found", "unchanged", "updated", "failed")
	assertKeys(t, "api_calls", run["api_calls"].(map[string]any), "proff", "salesforce")
	for _, rec := range generic["records"].([]any) {
		rec := rec.(map[string]any)
		// lookup (fresh or stored) only where the record had a company to look up.
		if _, ok := rec["lookup"]; ok {
			assertKeys(t, "record", rec, "record_id", "org_number", "country", "outcome", "reason", "lookup")
		} else {
			assertKeys(t, "record", rec, "record_id", "org_number", "country", "outcome", "reason")
		}
		// Every record but the unchanged ones: those with their reason, and the updated ones (whose lookup says
		// where their data came from).
		if o := rec["outcome"]; o == "unchanged" || o != "updated" && rec["reason"] == "" {
			t.Errorf("record %v should not be listed, or lacks its reason", rec)
		}
	}
	if len(d.Records) != 5 || len(d.Changes) != 4 || d.FieldChanges["Name"] != 2 || d.FieldChanges["Listed__c"] != 1 {
		t.Fatalf("detail: %+v", d)
	}
	// old and new come back as the JSON values they were.
	wantChanges := map[string][2]any{"Name": {"Equinor", "EQUINOR ASA"}, "NumberOfEmployees": {nil, float64(21126)}, "Listed__c": {false, true}}
	for _, ch := range d.Changes {
		if w, ok := wantChanges[ch.Field]; ok && ch.RecordID == changes[0].RecordID && !reflect.DeepEqual([2]any{ch.Old, ch.New}, w) {
			t.Errorf("change %s: %#v → %#v", ch.Field, ch.Old, ch.New)
		}
	}
}

func TestRunDetailOfAnEmptyRun(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	r := newRun(t, s, massupdate.Run{DryRun: true})
	d, err := s.RunDetail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(d)
	for _, want := range []string{`"field_changes":{}`, `"records":[]`, `"changes":[]`, `"finished_at":null`, `"resumed_from":null`, `"dry_run":true`, `"status":"running"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

func assertKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(keys)
	if !reflect.DeepEqual(got, keys) {
		t.Errorf("%s keys: %v, want %v", what, got, keys)
	}
}

func TestPruneRemovesExactlyTheOldRows(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	cutoff := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	old, recent := cutoff.Add(-time.Hour), cutoff.Add(time.Hour)

	mk := func(started, finished time.Time, status massupdate.Status, records int) massupdate.Run {
		r := newRun(t, s, massupdate.Run{StartedAt: started})
		b := massupdate.Batch{}
		for i := range records {
			id := "001" + strings.Repeat("0", 10) + string(rune('A'+i))
			b.Results = append(b.Results, massupdate.RecordResult{RecordID: id, Outcome: massupdate.Updated})
			b.Changes = append(b.Changes, massupdate.FieldChange{RecordID: id, Field: "Name", Old: "a", New: "b"},
				massupdate.FieldChange{RecordID: id, Field: "Phone", Old: nil, New: "1"})
		}
		if err := s.SaveBatch(ctx, r.ID, b); err != nil {
			t.Fatal(err)
		}
		if status != massupdate.Running {
			r.Status, r.FinishedAt = status, &finished
			if err := s.FinishRun(ctx, &r); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	gone1 := mk(old.Add(-time.Hour), old, massupdate.Succeeded, 2)
	gone2 := mk(old.Add(-time.Hour), old, massupdate.Interrupted, 1)
	kept := mk(old, recent, massupdate.Succeeded, 3)                          // started before, finished after
	running := mk(old.Add(-48*time.Hour), time.Time{}, massupdate.Running, 1) // never pruned

	cl := s.CallLog()
	for i, at := range []time.Time{old.Add(-time.Minute), old, cutoff.Add(-time.Nanosecond * 1000), cutoff, recent} {
		cl.RecordCall(ctx, transport.Call{RunID: gone1.ID, CorrelationID: "c" + string(rune('0'+i)), Service: transport.Proff,
			Method: "GET", Endpoint: "GET /x", Status: 200, StartedAt: at})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	res, err := s.Prune(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls != 3 || res.Runs != 2 || res.Records != 3 || res.Changes != 6 {
		t.Fatalf("Prune: %+v", res)
	}
	for _, id := range []string{gone1.ID, gone2.ID} {
		if _, err := s.GetRun(ctx, id); err == nil {
			t.Errorf("run %s survived", id)
		}
	}
	for _, id := range []string{kept.ID, running.ID} {
		if _, err := s.GetRun(ctx, id); err != nil {
			t.Errorf("run %s pruned: %v", id, err)
		}
	}
	if n := count(t, s, "SELECT count(*) FROM call_logs WHERE at >= $1", cutoff); n != 2 || count(t, s, "SELECT count(*) FROM call_logs") != 2 {
		t.Fatalf("calls left: %d", n)
	}
	if n := count(t, s, "SELECT count(*) FROM run_records"); n != 4 {
		t.Fatalf("records left: %d", n)
	}
	if n := count(t, s, "SELECT count(*) FROM field_changes"); n != 8 {
		t.Fatalf("changes left: %d", n)
	}
	// Again: nothing more to do.
	if res, err := s.Prune(ctx, cutoff); err != nil || res != (store.PruneResult{}) {
		t.Fatalf("second Prune: %+v, %v", res, err)
	}
}
