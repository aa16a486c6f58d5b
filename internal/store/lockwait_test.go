package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// A run started right after a process was killed (a restart by systemd) must not be refused for the dead
// run: the killed session holds the lock until PostgreSQL notices its socket closed. AcquireRunLock keeps
// trying for LockWait; with no wait it reports the lock held at once.
func TestRunLockWaitsForAHolderThatIsGoing(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	u := storetest.URL(t)
	s := storetest.Open(t, u, store.Options{})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	holder, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	// The run lock's advisory key ("profrun1").
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(0x70726f66_72756e31)); err != nil {
		t.Fatal(err)
	}
	noWait := storetest.Open(t, u, store.Options{LockWait: -1})
	if _, err := noWait.AcquireRunLock(ctx); !errors.Is(err, massupdate.ErrLocked) {
		t.Fatalf("with no wait: %v, want ErrLocked", err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond) // the holder's process dies a moment after the new run starts
		holder.Close(context.Background())
	}()
	lock, err := s.AcquireRunLock(ctx)
	if err != nil {
		t.Fatalf("AcquireRunLock while the holder goes away: %v", err)
	}
	if err := lock.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
