package massupdate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// A run that lost its lock must not write again, even before the lock's periodic ping has noticed: by then
// another process may hold the lock, have marked this run abandoned and be writing the same records.
func TestIntegrationLockLostBetweenPingsWritesNothing(t *testing.T) {
	t.Parallel()
	st := storetest.NewWith(t, store.Options{LockPingEvery: time.Hour}) // the ping never comes in this test
	w := newWorld(t, st, nil)
	killed := make(chan error, 1)
	w.hook = func(n int64) {
		if n != 1 {
			return
		}
		// The run lock's session dies (a failover, pg_terminate_backend, an idle-session timeout).
		var k int
		killed <- st.Pool().QueryRow(context.Background(), `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
			WHERE l.locktype = 'advisory' AND l.granted
				AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&k)
		if k != 1 {
			t.Errorf("terminated %d lock sessions, want 1", k)
		}
	}
	run, err := w.engine(t).Run(context.Background(), massupdate.RunRequest{})
	if kerr := <-killed; kerr != nil {
		t.Fatal(kerr)
	}
	if n := len(w.writtenIDs(t)); n != 0 {
		t.Errorf("%d records written after the run lost its lock", n)
	}
	if run == nil {
		t.Fatalf("no run: %v", err)
	}
	if run.Status != massupdate.Interrupted || !errors.Is(err, massupdate.ErrLockLost) {
		t.Fatalf("run %s %+v err %v, want interrupted by the lost lock", run.Status, run.Counts, err)
	}
	if got, err := st.GetRun(context.Background(), run.ID); err != nil || got.Status != massupdate.Interrupted {
		t.Errorf("stored run %s, %v: want interrupted, so that it can be resumed", got.Status, err)
	}
	if run.Counts.Selected != 0 {
		t.Errorf("counts %+v: nothing was written, so nothing may count as finished", run.Counts)
	}
}
