package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// pagesRun creates a finished run started at `at` whose records ended as outcomes says (record Id →
// outcome), with one Name change for each updated record.
func pagesRun(t *testing.T, s *store.Store, at time.Time, dry bool, outcomes map[string]massupdate.Outcome) massupdate.Run {
	t.Helper()
	return pagesRunAs(t, s, massupdate.Schedule, at, dry, outcomes)
}

// pagesRunAs is pagesRun with the run's trigger.
func pagesRunAs(t *testing.T, s *store.Store, trigger massupdate.Trigger, at time.Time, dry bool, outcomes map[string]massupdate.Outcome) massupdate.Run {
	t.Helper()
	ctx := context.Background()
	r := massupdate.Run{Trigger: trigger, StartedAt: at, DryRun: dry}
	if err := s.CreateRun(ctx, &r); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	var b massupdate.Batch
	for id, o := range outcomes {
		b.Results = append(b.Results, massupdate.RecordResult{RecordID: id, Outcome: o, Reason: "reason of " + id})
		b.Counts.Add(o)
		if o == massupdate.Updated {
			b.Changes = append(b.Changes, massupdate.FieldChange{RecordID: id, Field: "Name", Old: "old", New: "new"})
		}
	}
	if err := s.SaveBatch(ctx, r.ID, b); err != nil {
		t.Fatalf("SaveBatch: %v", err)
	}
	fin := at.Add(time.Minute)
	r.Status, r.Counts, r.FinishedAt = massupdate.Succeeded, b.Counts, &fin
	if err := s.FinishRun(ctx, &r); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	return r
}

func streaks(t *testing.T, s *store.Store, runID string) map[string]int {
	t.Helper()
	p, err := s.RunPage(context.Background(), runID, store.RunPageQuery{})
	if err != nil {
		t.Fatalf("RunPage: %v", err)
	}
	got := map[string]int{}
	for _, r := range p.Records {
		got[r.RecordID] = r.FailedRuns
	}
	return got
}

func TestRunPageCountsConsecutiveFailures(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	const (
		F = massupdate.Failed
		U = massupdate.Updated
		N = massupdate.NotFound
	)
	day := func(n int) time.Time { return time.Date(2026, 3, n, 2, 0, 0, 0, time.UTC) }
	pagesRun(t, s, day(1), false, map[string]massupdate.Outcome{"rec1": F, "rec2": U, "rec3": F})
	// A dry run neither breaks nor extends a streak of the runs after it.
	pagesRun(t, s, day(2), true, map[string]massupdate.Outcome{"rec1": U, "rec3": F})
	pagesRun(t, s, day(3), false, map[string]massupdate.Outcome{"rec1": F, "rec2": F, "rec3": N})
	// A run that did not process rec1 (a --limit run) leaves its streak alone.
	pagesRun(t, s, day(4), false, map[string]massupdate.Outcome{"rec2": F})
	dry := pagesRun(t, s, day(5), true, map[string]massupdate.Outcome{"rec1": F, "rec2": U, "rec3": F})
	fifth := pagesRun(t, s, day(6), false, map[string]massupdate.Outcome{"rec1": F, "rec2": F, "rec3": F, "rec4": N})
	// A later run does not count for an earlier one's page.
	pagesRun(t, s, day(7), false, map[string]massupdate.Outcome{"rec1": F, "rec2": U})

	if got, want := streaks(t, s, fifth.ID), map[string]int{"rec1": 3, "rec2": 3, "rec3": 1, "rec4": 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("streaks at day 6: got %v, want %v", got, want)
	}
	// A dry run's own failure counts on its page, on top of the non-dry runs before it.
	if got, want := streaks(t, s, dry.ID), map[string]int{"rec1": 3, "rec3": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("streaks at the dry run of day 5: got %v, want %v", got, want)
	}
}

// A revert's outcomes are about conflicts with the values of the run it undid, not about syncing the record:
// walking back, a revert neither breaks a record's streak of failed runs nor lengthens it.
func TestRunPageStreaksSkipReverts(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	day := func(n int) time.Time { return time.Date(2026, 4, n, 2, 0, 0, 0, time.UTC) }
	pagesRun(t, s, day(1), false, map[string]massupdate.Outcome{"rec1": massupdate.Failed, "rec2": massupdate.Failed})
	pagesRunAs(t, s, massupdate.Revert, day(2), false, map[string]massupdate.Outcome{"rec1": massupdate.Updated, "rec2": massupdate.Failed})
	last := pagesRun(t, s, day(3), false, map[string]massupdate.Outcome{"rec1": massupdate.Failed, "rec2": massupdate.Failed})
	if got, want := streaks(t, s, last.ID), map[string]int{"rec1": 2, "rec2": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("streaks across a revert: got %v, want %v", got, want)
	}
}

func TestRunPagePagesAndClamps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.New(t)
	r := massupdate.Run{Trigger: massupdate.Manual, StartedAt: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)}
	if err := s.CreateRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	var b massupdate.Batch
	for i := range 300 {
		id := fmt.Sprintf("rec%04d", i)
		o := massupdate.Updated
		switch {
		case i%3 == 0:
			o = massupdate.NotFound
		case i%3 == 1:
			b.Changes = append(b.Changes, massupdate.FieldChange{RecordID: id, Field: "Phone", Old: nil, New: "+47 1"})
		}
		b.Results = append(b.Results, massupdate.RecordResult{RecordID: id, Outcome: o})
		if o == massupdate.Updated {
			b.Changes = append(b.Changes, massupdate.FieldChange{RecordID: id, Field: "Name", Old: "a", New: "b"})
		}
		b.Counts.Add(o)
	}
	if err := s.SaveBatch(ctx, r.ID, b); err != nil {
		t.Fatal(err)
	}

	p, err := s.RunPage(ctx, r.ID, store.RunPageQuery{RecordsPage: 2, ChangesPage: 3, PageSize: 40})
	if err != nil {
		t.Fatal(err)
	}
	if p.RecordsTotal != 100 || p.RecordsPages != 3 || p.RecordsPage != 2 || len(p.Records) != 40 ||
		p.Records[0].RecordID != "rec0120" || p.Records[39].RecordID != "rec0237" {
		t.Errorf("records page 2: total %d, pages %d, page %d, %d records from %s", p.RecordsTotal, p.RecordsPages,
			p.RecordsPage, len(p.Records), p.Records[0].RecordID)
	}
	if want := []store.FieldCount{{"Name", 200}, {"Phone", 100}}; !reflect.DeepEqual(p.FieldCounts, want) {
		t.Errorf("field counts: %v, want %v", p.FieldCounts, want)
	}
	// 300 changes by record and field: the third page of 40 starts at the 81st.
	if p.ChangesTotal != 300 || p.ChangesPages != 8 || len(p.Changes) != 40 ||
		p.Changes[0] != (massupdate.FieldChange{RecordID: "rec0080", Field: "Name", Old: "a", New: "b"}) {
		t.Errorf("changes page 3: total %d, pages %d, first %+v", p.ChangesTotal, p.ChangesPages, p.Changes[0])
	}

	p, err = s.RunPage(ctx, r.ID, store.RunPageQuery{RecordsPage: 99, ChangesPage: 99, Field: "Phone", PageSize: 40})
	if err != nil {
		t.Fatal(err)
	}
	if p.RecordsPage != 3 || len(p.Records) != 20 {
		t.Errorf("a page beyond the last: page %d with %d records, want the last (3) with 20", p.RecordsPage, len(p.Records))
	}
	if p.ChangesTotal != 100 || p.ChangesPage != 3 || len(p.Changes) != 20 || p.Field != "Phone" {
		t.Errorf("Phone changes: total %d, page %d, %d changes", p.ChangesTotal, p.ChangesPage, len(p.Changes))
	}
	for _, c := range p.Changes {
		if c.Field != "Phone" || c.Old != nil || c.New != "+47 1" {
			t.Fatalf("filtered by Phone, got %+v", c)
		}
	}
}

func TestRunPageOfAnUnknownRun(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	for _, id := range []string{"0190a5f0-0000-7000-8000-000000000000", "", string(make([]byte, 100))} {
		if _, err := s.RunPage(context.Background(), id, store.RunPageQuery{}); !errors.Is(err, massupdate.ErrRunNotFound) {
			t.Errorf("RunPage(%q): %v, want ErrRunNotFound", id, err)
		}
	}
}

func TestRunsPageNewestFirstAndChartOldestFirst(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, pagesRun(t, s, time.Date(2026, 3, 1+i, 2, 0, 0, 0, time.UTC), false, nil).ID)
	}
	p, err := s.RunsPage(context.Background(), store.RunsPageQuery{Page: 2, PageSize: 2, Chart: 3})
	if err != nil {
		t.Fatal(err)
	}
	got := func(runs []massupdate.Run) []string {
		var out []string
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	if p.Total != 5 || p.Pages != 3 || p.Page != 2 || !reflect.DeepEqual(got(p.Runs), []string{ids[2], ids[1]}) {
		t.Errorf("page 2 of 2: total %d, pages %d, page %d, runs %v; want %v", p.Total, p.Pages, p.Page, got(p.Runs), ids[1:3])
	}
	if !reflect.DeepEqual(got(p.Chart), ids[2:]) {
		t.Errorf("chart: %v, want the newest three oldest first %v", got(p.Chart), ids[2:])
	}
	empty := storetest.New(t)
	p, err = empty.RunsPage(context.Background(), store.RunsPageQuery{Page: 7})
	if err != nil || p.Page != 1 || p.Pages != 1 || len(p.Runs) != 0 {
		t.Errorf("no runs: page %d of %d, %d runs, %v", p.Page, p.Pages, len(p.Runs), err)
	}
}

// A run's page says of each listed record whether its data was looked up fresh or came from stored values.
func TestRunPageRecordsSayWhereTheirDataCameFrom(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	r := massupdate.Run{Trigger: massupdate.Manual}
	if err := s.CreateRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	b := massupdate.Batch{Results: []massupdate.RecordResult{
		{RecordID: "rec1", Outcome: massupdate.Failed, Reason: "r", Lookup: massupdate.LookupStored},
		{RecordID: "rec2", Outcome: massupdate.NotFound, Reason: "r", Lookup: massupdate.LookupFresh},
		{RecordID: "rec3", Outcome: massupdate.MissingOrgNumber, Reason: "r"},
	}, Counts: massupdate.Counts{Selected: 3, Failed: 1, NotFound: 1, MissingOrgNumber: 1}}
	if err := s.SaveBatch(ctx, r.ID, b); err != nil {
		t.Fatal(err)
	}
	p, err := s.RunPage(ctx, r.ID, store.RunPageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, rec := range p.Records {
		got[rec.RecordID] = rec.Lookup
	}
	if want := map[string]string{"rec1": "stored", "rec2": "fresh", "rec3": ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("lookups %v, want %v", got, want)
	}
}
