package massupdate

import (
	"context"
	"errors"
	"testing"
)

// A write Salesforce answered is recorded even when the run has to stop at that moment (its lock lost,
// PostgreSQL gone for a moment): `changes` lists every mapped field written, and a resumed run would find
// those records unchanged and never tell they were updated.
func TestAnsweredWriteIsRecordedWhenTheRunStopsDuringIt(t *testing.T) {
	records, answers := many(250)
	h := newHarness(t, records, answers, nil)
	h.e.o.Writer = &stopAwareWriter{fakeWriter: h.w, before: func() { close(h.st.lock.lost) }}
	run, err := h.e.Run(context.Background(), RunRequest{})
	if !errors.Is(err, ErrLockLost) || run.Status != Interrupted {
		t.Fatalf("run %s %+v err %v", run.Status, run.Counts, err)
	}
	if n := len(h.w.written()); n != 1 {
		t.Fatalf("%d writes, want 1 (nothing after the lock was lost)", n)
	}
	if run.Counts.Selected != 200 || run.Counts.Updated != 200 || run.Checkpoint != id(200) {
		t.Errorf("counts %+v checkpoint %s: the 200 records Salesforce took are not recorded", run.Counts, run.Checkpoint)
	}
	if n := len(h.st.changes(run.ID)); n != 200 {
		t.Errorf("%d changes recorded, want the 200 written", n)
	}
	checkConsistent(t, h, run, 1)
}

// stopAwareWriter, on its first write, calls before, waits for the write's context to end (the engine's stop
// reaching the write in flight) and answers as Salesforce does for a write it applied.
type stopAwareWriter struct {
	*fakeWriter
	before func()
	n      int
}

func (w *stopAwareWriter) Write(ctx context.Context, us []Update) ([]WriteResult, error) {
	if w.n++; w.n == 1 {
		w.before()
		<-ctx.Done()
		return w.fakeWriter.Write(context.Background(), us)
	}
	return w.fakeWriter.Write(ctx, us)
}
