package massupdate

import (
	"context"
	"errors"
	"testing"
)

// When the end of a run cannot be recorded (PostgreSQL lost for longer than the store retries), the run
// stays `running` in the database, and the next start marks it interrupted and resumable. The command must
// say so too: exit 4 (interrupted, PostgreSQL lost, can be resumed), not 0 for a run history will show as
// interrupted.
func TestUnrecordedEndIsInterrupted(t *testing.T) {
	t.Parallel()
	records, answers := many(5)
	h := newHarness(t, records, answers, nil)
	h.st.finishErr = errors.New("finish run: gave up after 9 tries in 30s: dial tcp 127.0.0.1:5432: connection refused")
	run, err := h.e.Run(context.Background(), RunRequest{})
	if run == nil || err == nil {
		t.Fatalf("run %v err %v", run, err)
	}
	if run.Status != Interrupted {
		t.Errorf("status %s, want interrupted", run.Status)
	}
	if run.Counts.Selected != 5 || run.Counts.Updated != 5 {
		t.Errorf("counts %+v", run.Counts)
	}
}

// A resumed run is created naming the run it continues (resumed_from), then the old run is linked to it.
// When the link cannot be written (PostgreSQL away for a moment), the new run has done nothing yet and
// stands in for the old one: it ends interrupted at the old checkpoint, so that the next --resume continues
// from there, rather than failed, which would leave the old run's remaining records resumable by no one.
func TestResumeWhoseLinkFailsIsInterruptedAtTheOldCheckpoint(t *testing.T) {
	t.Parallel()
	records, answers := many(5)
	h := newHarness(t, records, answers, nil)
	h.st.runs = append(h.st.runs, &Run{ID: "run-0", Status: Interrupted, Checkpoint: id(2)})
	h.st.markErr = errors.New("mark run run-0 resumed: read tcp 127.0.0.1:5432: connection reset by peer")
	run, err := h.e.Run(context.Background(), RunRequest{Resume: true})
	if run == nil || err == nil {
		t.Fatalf("run %v err %v", run, err)
	}
	if run.Status != Interrupted || run.ResumedFrom != "run-0" || run.Checkpoint != id(2) {
		t.Errorf("run %s from %q checkpoint %q, want interrupted from run-0 at %s",
			run.Status, run.ResumedFrom, run.Checkpoint, id(2))
	}
	if total, _ := h.look.count(); total != 0 || len(h.w.written()) != 0 {
		t.Errorf("the run went on without its link")
	}
	h.st.markErr = nil
	next, err := h.e.Run(context.Background(), RunRequest{Resume: true})
	if err != nil || next == nil || next.ResumedFrom != run.ID || next.Counts.Selected != 3 {
		t.Fatalf("next resume: %+v %v", next, err)
	}
}
