package massupdate

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// A write Salesforce answered is recorded even when the run has to stop at that moment (its lock lost,
// PostgreSQL gone for a moment): `changes` lists every mapped field written, and a resumed run would find
// those records unchanged and never tell they were updated.
func TestAnsweredWriteIsRecordedWhenTheRunStopsDuringIt(t *testing.T) {
	t.Parallel()
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

// A rejected Proff token stops the run at once, lookups and all, but a Salesforce write already on the wire
// is let finish and recorded: cutting it would not unsend it, only leave the records written but unknown,
// in a failed run that is never resumed, so `changes` would miss fields that were written.
func TestProffTokenRejectedDuringAWriteLetsTheWriteFinish(t *testing.T) {
	t.Parallel()
	records, answers := many(260)
	writing := make(chan struct{})
	h := newHarness(t, records, answers, func(o *Options) { o.Concurrency = 2 })
	org201 := "NO/" + records[200].OrgNumber
	answers[org201] = lookupAnswer{err: fmt.Errorf("proff: 401: %w", ErrUnauthorized)}
	h.look.hook = func(_ context.Context, key string, _ int) {
		if key == org201 {
			<-writing // the token is rejected while the first batch is being written
		}
	}
	h.e.o.Writer = &slowWriter{fakeWriter: h.w, first: func(ctx context.Context) error {
		close(writing)
		// Salesforce answers a moment later; a write whose context the stop cut reports that instead.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
			return nil
		}
	}}
	run, err := h.e.Run(context.Background(), RunRequest{})
	if !errors.Is(err, ErrUnauthorized) || run.Status != StatusFail {
		t.Fatalf("run %s %+v err %v", run.Status, run.Counts, err)
	}
	if n := len(h.w.written()); n != 1 {
		t.Fatalf("%d writes, want the one on the wire", n)
	}
	if run.Counts.Selected != 200 || run.Counts.Updated != 200 || len(h.st.changes(run.ID)) != 200 {
		t.Errorf("counts %+v, %d changes: the write on the wire was cut or not recorded", run.Counts, len(h.st.changes(run.ID)))
	}
	checkConsistent(t, h, run, 1)
}

// slowWriter runs first inside its first write, which fails with first's error.
type slowWriter struct {
	*fakeWriter
	first func(ctx context.Context) error
	n     int
}

func (w *slowWriter) Write(ctx context.Context, us []Update) ([]WriteResult, error) {
	if w.n++; w.n == 1 {
		if err := w.first(ctx); err != nil {
			return nil, fmt.Errorf("write Account: %w", err)
		}
		return w.fakeWriter.Write(context.Background(), us)
	}
	return w.fakeWriter.Write(ctx, us)
}
