package web_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
)

// Real history for the pages, written through the store as the engine writes it, or, for the 100,000-record
// runs of the paging test and the benchmark, copied straight into the tables.

var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

// fixedNow is the pages' time in the tests, and pagesClock their clock.
func fixedNow() time.Time { return t0.Add(90 * 24 * time.Hour) }

var pagesClock = clocktest.At(fixedNow())

type seedRun struct {
	Run     massupdate.Run
	Results []massupdate.RecordResult
	Changes []massupdate.FieldChange
	// Status and Error end the run; Status "" leaves it running.
	Status massupdate.Status
	Error  string
	Took   time.Duration
}

// seed writes r through CreateRun, SaveBatch and FinishRun, and returns the stored run.
func seed(t testing.TB, s *store.Store, r seedRun) massupdate.Run {
	t.Helper()
	ctx := context.Background()
	run := r.Run
	if run.Trigger == "" {
		run.Trigger = massupdate.Schedule
	}
	if err := s.CreateRun(ctx, &run); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	var c massupdate.Counts
	for _, rr := range r.Results {
		c.Add(rr.Outcome)
	}
	calls := massupdate.APICalls{Proff: int64(len(r.Results)), Salesforce: int64(len(r.Results)/200 + 2)}
	if len(r.Results) > 0 {
		if err := s.SaveBatch(ctx, run.ID, massupdate.Batch{Results: r.Results, Changes: r.Changes, Counts: c,
			APICalls: calls, Checkpoint: r.Results[len(r.Results)-1].RecordID}); err != nil {
			t.Fatalf("SaveBatch: %v", err)
		}
	}
	if r.Status == "" {
		run.Counts, run.APICalls = c, calls
		return run
	}
	fin := run.StartedAt.Add(r.Took)
	run.Status, run.Error, run.Counts, run.APICalls, run.FinishedAt = r.Status, r.Error, c, calls, &fin
	if err := s.FinishRun(ctx, &run); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	return run
}

func recordID(i int) string { return fmt.Sprintf("001%012dAAA", i) }

// bigRun is a finished run of 100,000 records copied in with COPY: 50,000 updated (one Name change each),
// then 30,000 failed, 15,000 not found, 3,000 missing and 2,000 invalid org numbers, interleaved by record
// Id. Problem records are those with i%2 == 1; their outcome is problemOutcome(i).
const (
	bigRecords = 100_000
	bigChanges = 50_000
	bigProblem = 50_000
)

func problemOutcome(i int) massupdate.Outcome {
	switch k := (i / 2) % 50; {
	case k < 30:
		return massupdate.Failed
	case k < 45:
		return massupdate.NotFound
	case k < 48:
		return massupdate.MissingOrgNumber
	default:
		return massupdate.InvalidOrgNumber
	}
}

func bigRun(t testing.TB, s *store.Store, started time.Time) massupdate.Run {
	t.Helper()
	ctx := context.Background()
	run := massupdate.Run{Trigger: massupdate.Schedule, StartedAt: started}
	if err := s.CreateRun(ctx, &run); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	var c massupdate.Counts
	records := make([][]any, 0, bigRecords)
	changes := make([][]any, 0, bigChanges)
	for i := range bigRecords {
		o, reason := massupdate.Updated, ""
		if i%2 == 1 {
			o = problemOutcome(i)
			reason = "reason " + string(o)
		} else {
			changes = append(changes, []any{run.ID, recordID(i), "Name", []byte(fmt.Sprintf(`"Old %d AS"`, i)), []byte(fmt.Sprintf(`"New %d ASA"`, i))})
		}
		c.Add(o)
		records = append(records, []any{run.ID, recordID(i), "923609016", "NO", string(o), reason})
	}
	if _, err := s.Pool().CopyFrom(ctx, pgx.Identifier{"run_records"},
		[]string{"run_id", "record_id", "org_number", "country", "outcome", "reason"}, pgx.CopyFromRows(records)); err != nil {
		t.Fatalf("copy run_records: %v", err)
	}
	if _, err := s.Pool().CopyFrom(ctx, pgx.Identifier{"field_changes"},
		[]string{"run_id", "record_id", "field", "old_value", "new_value"}, pgx.CopyFromRows(changes)); err != nil {
		t.Fatalf("copy field_changes: %v", err)
	}
	fin := started.Add(40 * time.Minute)
	run.Status, run.Counts, run.FinishedAt = massupdate.Partial, c, &fin
	run.APICalls = massupdate.APICalls{Proff: 100_000, Salesforce: 1_000}
	if err := s.FinishRun(ctx, &run); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	return run
}
