package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/sandbox"
)

// A revert while another run holds the lock exits 3 at once, naming the holder as run does, with nothing on
// stdout and no run recorded.
func TestRevertWhileAnotherHoldsTheLock(t *testing.T) {
	t.Parallel()
	sb, env, dsn := sandboxRun(t, sandbox.Options{Companies: 8})
	runID := summaryOf(t, proffsync(t, env, "run", "--json")).RunID
	st, holder := holdRunLock(t, dsn)
	writes := func() (n int) {
		for _, rq := range sb.SF.Requests() {
			if rq.Method == "PATCH" || rq.Method == "POST" && !strings.Contains(rq.Path, "oauth2") {
				n++
			}
		}
		return n
	}
	before := writes()
	for _, args := range [][]string{{runID}, {runID, "--json"}} {
		r := proffsync(t, env, append([]string{"revert"}, args...)...)
		if r.code != ExitLocked || r.stdout != "" || !strings.Contains(r.stderr, holder.ID) {
			t.Errorf("revert %v: %+v", args, r)
		}
	}
	if n := writes() - before; n != 0 {
		t.Errorf("a locked-out revert wrote %d times", n)
	}
	if runs, err := st.ListRuns(context.Background(), 10); err != nil || len(runs) != 2 {
		t.Errorf("a locked-out revert recorded a run: %d runs, %v", len(runs), err)
	}
}
