package store_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// proxied returns a migrated database, a Store that reaches it directly and one that goes through a proxy.
func proxied(t *testing.T, opts store.Options) (direct, viaProxy *store.Store, p *storetest.Proxy) {
	t.Helper()
	u := storetest.URL(t)
	direct = storetest.Open(t, u, store.Options{})
	if err := direct.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	cc := direct.Pool().Config().ConnConfig
	if strings.HasPrefix(cc.Host, "/") {
		t.Skip("the proxy tests need PostgreSQL over TCP")
	}
	p = storetest.NewProxy(t, net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))))
	return direct, storetest.Open(t, p.URL(u), opts), p
}

// acquireSoon takes the run lock, allowing PostgreSQL a moment to notice a dead session and free it.
func acquireSoon(t *testing.T, s *store.Store) massupdate.RunLock {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := s.AcquireRunLock(context.Background())
		if err == nil {
			return l
		}
		if !errors.Is(err, massupdate.ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("AcquireRunLock: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunLockIsExclusive(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	u := storetest.URL(t)
	a := storetest.Open(t, u, store.Options{LockWait: -1})
	if err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b := storetest.Open(t, u, store.Options{LockWait: -1})

	la, err := a.AcquireRunLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Held, but no run created yet: locked, without a name.
	_, err = b.AcquireRunLock(ctx)
	var le *massupdate.LockedError
	if !errors.As(err, &le) || !errors.Is(err, massupdate.ErrLocked) {
		t.Fatalf("second AcquireRunLock: %v", err)
	}
	run := newRun(t, a, massupdate.Run{})
	// The same Store may not take it twice either: each lock is its own session.
	for _, s := range []*store.Store{a, b} {
		_, err = s.AcquireRunLock(ctx)
		if !errors.As(err, &le) || le.RunID != run.ID {
			t.Fatalf("AcquireRunLock while run %s holds it: %v", run.ID, err)
		}
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lb, err := b.AcquireRunLock(ctx)
	if err != nil {
		t.Fatalf("AcquireRunLock after release: %v", err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-la.Lost():
		t.Fatal("a released lock reports lost")
	default:
	}
}

func TestRunLockLostWhenConnectionDies(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	direct, viaProxy, p := proxied(t, store.Options{LockPingEvery: 10 * time.Millisecond})
	l, err := viaProxy.AcquireRunLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run := newRun(t, viaProxy, massupdate.Run{})
	select {
	case <-l.Lost():
		t.Fatal("lost before the cut")
	default:
	}
	p.Cut()
	select {
	case <-l.Lost():
	case <-ctx.Done():
		t.Fatal("Lost() never closed after the connection was cut")
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release of a lost lock: %v", err)
	}

	// Its session gone, the run it left behind is abandoned: the next holder marks it interrupted.
	l2 := acquireSoon(t, direct)
	defer l2.Release(ctx)
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	n, err := direct.MarkAbandoned(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("MarkAbandoned: %d, %v", n, err)
	}
	got, _ := direct.GetRun(ctx, run.ID)
	if got.Status != massupdate.Interrupted || got.Error != "the process running it stopped" ||
		got.FinishedAt == nil || !got.FinishedAt.Equal(now) {
		t.Fatalf("abandoned run: %+v", got)
	}
	if latest, _ := direct.LatestInterrupted(ctx); latest == nil || latest.ID != run.ID {
		t.Fatalf("the abandoned run is not resumable: %+v", latest)
	}
	// Should the old process still be alive and write on, it is told it lost the lock.
	if err := direct.SaveBatch(ctx, run.ID, massupdate.Batch{Checkpoint: "x"}); !errors.Is(err, massupdate.ErrLockLost) {
		t.Fatalf("SaveBatch into an abandoned run: %v", err)
	}
}

func TestMarkAbandonedLeavesALiveRunAlone(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	u := storetest.URL(t)
	a := storetest.Open(t, u, store.Options{})
	if err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b := storetest.Open(t, u, store.Options{})

	orphan := newRun(t, b, massupdate.Run{}) // created holding no lock: nobody runs it
	l, err := a.AcquireRunLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live := newRun(t, a, massupdate.Run{})
	n, err := b.MarkAbandoned(ctx, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("MarkAbandoned: %d, %v", n, err)
	}
	if got, _ := b.GetRun(ctx, live.ID); got.Status != massupdate.Running {
		t.Fatalf("the live run was marked: %+v", got)
	}
	if got, _ := b.GetRun(ctx, orphan.ID); got.Status != massupdate.Interrupted {
		t.Fatalf("the orphan run was not marked: %+v", got)
	}
	// Released without finishing (the process stopped between): now it is abandoned too.
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.MarkAbandoned(ctx, time.Now()); err != nil || n != 1 {
		t.Fatalf("MarkAbandoned after release: %d, %v", n, err)
	}
}

func TestSaveBatchRetriesAcrossACut(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	retried := make(chan struct{}, 100)
	direct, viaProxy, p := proxied(t, store.Options{RetryBackoff: 5 * time.Millisecond,
		OnRetry: func(string, int, error) { retried <- struct{}{} }})
	run := newRun(t, viaProxy, massupdate.Run{})
	b := massupdate.Batch{
		Results:    []massupdate.RecordResult{{RecordID: "001A", Outcome: massupdate.Updated}},
		Changes:    []massupdate.FieldChange{{RecordID: "001A", Field: "Name", Old: "a", New: "b"}},
		Checkpoint: "001A", Counts: massupdate.Counts{Selected: 1, Updated: 1},
	}

	for _, op := range []string{"save", "finish"} {
		p.Cut()
		done := make(chan error, 1)
		go func() {
			if op == "save" {
				done <- viaProxy.SaveBatch(ctx, run.ID, b)
				return
			}
			r := run
			r.Status, r.Counts = massupdate.Succeeded, b.Counts
			done <- viaProxy.FinishRun(ctx, &r)
		}()
		select {
		case <-retried: // it failed at least once and is waiting to try again
		case err := <-done:
			t.Fatalf("%s returned during the cut: %v", op, err)
		}
		p.Restore()
		if err := <-done; err != nil {
			t.Fatalf("%s after restore: %v", op, err)
		}
	}
	got, _ := direct.GetRun(ctx, run.ID)
	if got.Status != massupdate.Succeeded || got.Checkpoint != "001A" || got.Counts.Updated != 1 {
		t.Fatalf("run after the cuts: %+v", got)
	}
	if n := count(t, direct, "SELECT count(*) FROM field_changes"); n != 1 {
		t.Fatalf("changes: %d", n)
	}
}

func TestSaveBatchGivesUp(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	// On a virtual clock: the retries' waits (5 ms, 10 ms) pass without sleeping.
	ck := clocktest.New()
	_, viaProxy, p := proxied(t, store.Options{RetryFor: 30 * time.Millisecond, RetryBackoff: 5 * time.Millisecond, Clock: ck})
	run := newRun(t, viaProxy, massupdate.Run{})
	p.Cut()
	if err := viaProxy.SaveBatch(ctx, run.ID, massupdate.Batch{Checkpoint: "x"}); err == nil {
		t.Fatal("SaveBatch succeeded with PostgreSQL gone")
	}
	// A cancelled context stops the retries at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := viaProxy.SaveBatch(cctx, run.ID, massupdate.Batch{}); err == nil {
		t.Fatal("SaveBatch succeeded on a cancelled context")
	}
}
