package store_test

import (
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// A run that continues an interrupted one is created first and linked (MarkResumed) right after. Should the
// process die in between, the interrupted run is continued all the same (the new run carries resumed_from
// and its checkpoint): it must never be offered for resume again.
func TestARunContinuedIsNotResumedAgainWhenTheLinkWasLost(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	t0 := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	r1 := newRun(t, s, massupdate.Run{StartedAt: t0})
	r1.Status, r1.Checkpoint = massupdate.Interrupted, "001A"
	if err := s.FinishRun(ctx, &r1); err != nil {
		t.Fatal(err)
	}
	// The resume of r1 is created, then its process dies before MarkResumed.
	r2 := newRun(t, s, massupdate.Run{StartedAt: t0.Add(time.Hour), ResumedFrom: r1.ID, Checkpoint: "001A"})
	if n, err := s.MarkAbandoned(ctx, t0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("MarkAbandoned: %d, %v", n, err)
	}
	latest, err := s.LatestInterrupted(ctx)
	if err != nil || latest == nil || latest.ID != r2.ID {
		t.Fatalf("LatestInterrupted: %+v, %v; want %s", latest, err, r2.ID)
	}
	r3 := newRun(t, s, massupdate.Run{StartedAt: t0.Add(3 * time.Hour), ResumedFrom: r2.ID, Checkpoint: "001A"})
	if err := s.MarkResumed(ctx, r2.ID, r3.ID); err != nil {
		t.Fatal(err)
	}
	r3.Status = massupdate.Succeeded
	if err := s.FinishRun(ctx, &r3); err != nil {
		t.Fatal(err)
	}
	if latest, err := s.LatestInterrupted(ctx); err != nil || latest != nil {
		t.Fatalf("LatestInterrupted: %+v, %v; want none: r1 was continued by r2", latest, err)
	}
	if err := s.MarkResumed(ctx, r1.ID, "another"); err == nil {
		t.Fatal("r1 was resumed a second time")
	}
}

// `run --resume` continues interrupted sync runs only: an interrupted revert is continued by `revert` again,
// an interrupted retry by `run --retry` again.
func TestRevertAndRetryRunsAreNotResumedByRun(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	t0 := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	var sync massupdate.Run
	for i, trig := range []massupdate.Trigger{massupdate.Manual, massupdate.Revert, massupdate.Retry} {
		r := newRun(t, s, massupdate.Run{Trigger: trig, StartedAt: t0.Add(time.Duration(i) * time.Hour)})
		r.Status, r.Checkpoint = massupdate.Interrupted, "001A"
		if err := s.FinishRun(ctx, &r); err != nil {
			t.Fatal(err)
		}
		if trig == massupdate.Manual {
			sync = r
		}
	}
	latest, err := s.LatestInterrupted(ctx)
	if err != nil || latest == nil || latest.ID != sync.ID {
		t.Fatalf("LatestInterrupted: %+v, %v; want the interrupted sync run %s", latest, err, sync.ID)
	}
}

// `run --limit N` takes any N a Go int holds; a limit beyond what the column holds means no limit in
// practice, and must not make the run fail to start.
func TestCreateRunWithAHugeLimit(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	r := newRun(t, s, massupdate.Run{Limit: 3_000_000_000})
	got, err := s.GetRun(ctxT(t), r.ID)
	if err != nil || got.Limit < 1<<31-1 {
		t.Fatalf("stored run %+v, %v", got, err)
	}
}
