package massupdate

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// RunLocker is the part of a RunStore that every kind of run (a Mass Update, a revert) needs before it
// records itself: the one-run-at-a-time lock and the cleaning up after a process that died.
type RunLocker interface {
	AcquireRunLock(ctx context.Context) (RunLock, error)
	MarkAbandoned(ctx context.Context, now time.Time) (int, error)
}

// LockRun takes the run lock at once (or fails with an error wrapping ErrLocked) and marks the runs a dead
// process left running as interrupted, as each run must before it records itself. release gives the lock
// back on a context shutdown does not cancel; call it however the run ends.
func LockRun(ctx context.Context, st RunLocker, now time.Time, log *slog.Logger) (lock RunLock, release func(), err error) {
	lock, err = st.AcquireRunLock(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("take the run lock: %w", err)
	}
	release = func() {
		if err := lock.Release(context.WithoutCancel(ctx)); err != nil {
			log.WarnContext(ctx, "release the run lock", slog.String("error", err.Error()))
		}
	}
	n, err := st.MarkAbandoned(ctx, now)
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("mark abandoned runs: %w", err)
	}
	if n > 0 {
		log.InfoContext(ctx, "marked abandoned runs interrupted", slog.Int("runs", n))
	}
	return lock, release, nil
}
