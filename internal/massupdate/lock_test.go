package massupdate

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// abandonFails is a store whose MarkAbandoned fails (PostgreSQL lost right after the lock was taken).
type abandonFails struct{ *fakeStore }

func (abandonFails) MarkAbandoned(context.Context, time.Time) (int, error) {
	return 0, errors.New("connection reset")
}

// LockRun gives the lock back when it cannot finish taking it, and marks a dead process's runs when it can.
func TestLockRunReleasesWhenItCannotMarkAbandonedRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	st := newFakeStore()
	if _, _, err := LockRun(ctx, abandonFails{st}, time.Now(), log); err == nil {
		t.Fatal("LockRun succeeded although marking abandoned runs failed")
	}
	if st.locked || st.releases != 1 {
		t.Fatalf("locked %v after %d releases: the lock must be given back", st.locked, st.releases)
	}
	st.runs = append(st.runs, &Run{ID: "dead", Status: Running})
	lock, release, err := LockRun(ctx, st, time.Now(), log)
	if err != nil || lock == nil {
		t.Fatalf("LockRun: %v", err)
	}
	if st.runs[0].Status != Interrupted {
		t.Errorf("the dead process's run is %s, want interrupted", st.runs[0].Status)
	}
	if _, _, err := LockRun(ctx, st, time.Now(), log); !errors.Is(err, ErrLocked) {
		t.Errorf("a second LockRun: %v, want ErrLocked", err)
	}
	release()
	if st.locked {
		t.Error("release did not give the lock back")
	}
}
