package store_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// finishedRun creates a run started at start and ends it with status and error.
func finishedRun(t *testing.T, s *store.Store, start time.Time, status massupdate.Status, runErr string) massupdate.Run {
	t.Helper()
	r := newRun(t, s, massupdate.Run{Trigger: massupdate.Schedule, StartedAt: start})
	end := start.Add(time.Minute)
	r.Status, r.Error, r.FinishedAt = status, runErr, &end
	if err := s.FinishRun(ctxT(t), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func ids(runs []massupdate.Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

// A failed or interrupted run says why, in the list and in `history show` (text and JSON).
func TestHistoryCarriesTheRunError(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	t0 := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	ok := finishedRun(t, s, t0, massupdate.Succeeded, "")
	bad := finishedRun(t, s, t0.Add(time.Hour), massupdate.Interrupted, "API quota exhausted: Proff quota spent")

	runs, err := s.FindRuns(ctx, store.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(runs), []string{bad.ID, ok.ID}) || runs[0].Error != bad.Error || runs[1].Error != "" {
		t.Fatalf("runs %+v", runs)
	}

	for _, tc := range []struct {
		run  massupdate.Run
		want string
	}{{bad, `"error":"API quota exhausted: Proff quota spent"`}, {ok, `"error":null`}} {
		d, err := s.RunDetail(ctx, tc.run.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		// The summary keeps every key it had, the error among them.
		var shape struct {
			Run map[string]json.RawMessage `json:"run"`
		}
		if err := json.Unmarshal(b, &shape); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"run_id", "trigger", "status", "dry_run", "started_at", "finished_at", "resumed_from", "counts", "api_calls", "error"} {
			if _, ok := shape.Run[k]; !ok {
				t.Errorf("show %s: run has no %q: %s", tc.run.ID, k, b)
			}
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("show %s: %s, want %s", tc.run.ID, b, tc.want)
		}
		if sum := tc.run.Summary(); (sum.Error == nil) != (tc.run.Error == "") {
			t.Errorf("Summary of %s: Error = %v", tc.run.ID, sum.Error)
		}
	}
	if _, err := s.RunDetail(ctx, "0190a5f0-0000-7000-8000-000000000000"); !errors.Is(err, massupdate.ErrRunNotFound) {
		t.Errorf("unknown run: %v", err)
	}
}

func TestFindRunsFilters(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	t0 := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	r1 := finishedRun(t, s, t0, massupdate.Succeeded, "")
	r2 := finishedRun(t, s, t0.Add(day), massupdate.StatusFail, "login rejected")
	r3 := finishedRun(t, s, t0.Add(2*day), massupdate.Partial, "")
	r4 := finishedRun(t, s, t0.Add(3*day), massupdate.Interrupted, "stopped")
	r5 := newRun(t, s, massupdate.Run{Trigger: massupdate.Manual, StartedAt: t0.Add(4 * day)}) // running

	for _, tc := range []struct {
		name string
		f    store.RunFilter
		want []string
	}{
		{"all", store.RunFilter{}, []string{r5.ID, r4.ID, r3.ID, r2.ID, r1.ID}},
		{"limit", store.RunFilter{Limit: 2}, []string{r5.ID, r4.ID}},
		{"one status", store.RunFilter{Statuses: []massupdate.Status{massupdate.StatusFail}}, []string{r2.ID}},
		{"statuses", store.RunFilter{Statuses: []massupdate.Status{massupdate.StatusFail, massupdate.Interrupted}}, []string{r4.ID, r2.ID}},
		{"since", store.RunFilter{Since: t0.Add(2 * day)}, []string{r5.ID, r4.ID, r3.ID}}, // started at Since counts
		{"since and statuses", store.RunFilter{Since: t0.Add(day + time.Second),
			Statuses: []massupdate.Status{massupdate.StatusFail, massupdate.Partial, massupdate.Succeeded}}, []string{r3.ID}},
		{"none", store.RunFilter{Since: t0.Add(5 * day)}, nil},
	} {
		runs, err := s.FindRuns(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if runs == nil || !slices.Equal(ids(runs), tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, ids(runs), tc.want)
		}
	}
	if _, err := s.FindRuns(ctx, store.RunFilter{Statuses: []massupdate.Status{"faild"}}); err == nil || !strings.Contains(err.Error(), `"faild"`) {
		t.Errorf("unknown status: %v", err)
	}
	// ListRuns is FindRuns without filters.
	if runs, err := s.ListRuns(ctx, 3); err != nil || !slices.Equal(ids(runs), []string{r5.ID, r4.ID, r3.ID}) {
		t.Errorf("ListRuns: %v, %v", ids(runs), err)
	}
}

func TestResolveRunID(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	if _, err := s.ResolveRunID(ctx, "latest"); !errors.Is(err, massupdate.ErrRunNotFound) {
		t.Errorf("latest without runs: %v", err)
	}
	// Run ids begin with their start time in milliseconds: two runs started together share a long prefix.
	t0 := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	a := newRun(t, s, massupdate.Run{StartedAt: t0})
	b := newRun(t, s, massupdate.Run{StartedAt: t0})
	c := newRun(t, s, massupdate.Run{StartedAt: t0.AddDate(-3, 0, 0)})
	if a.ID[:13] != b.ID[:13] || a.ID[:8] == c.ID[:8] {
		t.Fatalf("ids %s %s %s: not the prefixes this test needs", a.ID, b.ID, c.ID)
	}
	// The newest run is the one started last; between a and b (same start), the greater id.
	newest := max(a.ID, b.ID)

	for _, tc := range []struct{ ref, want string }{
		{a.ID, a.ID},
		{b.ID, b.ID},
		{strings.ToUpper(a.ID), a.ID},
		{"  " + c.ID + " ", c.ID},
		{c.ID[:4], c.ID},
		{c.ID[:8], c.ID},
		{a.ID[:20], a.ID}, // the random part tells a from b
		{"latest", newest},
		{"LATEST", newest},
	} {
		got, err := s.ResolveRunID(ctx, tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("ResolveRunID(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
		}
	}

	_, err := s.ResolveRunID(ctx, a.ID[:13])
	var amb *store.AmbiguousRunIDError
	if !errors.Is(err, store.ErrAmbiguousRunID) || !errors.As(err, &amb) || amb.Count != 2 || !strings.Contains(err.Error(), "matches 2 runs") {
		t.Errorf("shared prefix: %v, want ambiguous between 2 runs", err)
	}
	for _, ref := range []string{
		"", "abc", a.ID[:3], // too short
		"ffff", a.ID + "0", "0190a5f0-0000-7000-8000-000000000000", // no such run
		a.ID[:4] + "%", "____", "%%%%", // a pattern matches nothing
		strings.Repeat("a", 500),
	} {
		if id, err := s.ResolveRunID(ctx, ref); !errors.Is(err, massupdate.ErrRunNotFound) {
			t.Errorf("ResolveRunID(%q) = %q, %v; want not found", ref, id, err)
		}
	}
}
