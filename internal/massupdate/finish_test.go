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
	records, answers := many(5)
	h := newHarness(t, records, answers, nil)
	h.st.finishErr = errors.New("finish run: gave up after 9 tries in 30s: dial tcp 127.0.0.1:5432: connection refused")
	run, err := h.e.Run(context.Background(), RunRequest{})
	if run == nil || err == nil {
		t.Fatalf("run %v err %v", run, err)
	}
	if run.Status != Interrupted || ExitCode(run, err) != 4 {
		t.Errorf("status %s exit %d, want interrupted 4", run.Status, ExitCode(run, err))
	}
	if run.Counts.Selected != 5 || run.Counts.Updated != 5 {
		t.Errorf("counts %+v", run.Counts)
	}
}
