package store_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
)

// TestRetryBudgetOnTheClock: with PostgreSQL cut off, the bookkeeping retries on Options.Clock, from
// RetryBackoff doubling up to 2 s, and gives up before a wait would end beyond RetryFor: 0.2 + 0.4 + 0.8 +
// 1.6 s fill the 3 s exactly, so a fifth failure (which would wait 2 s more) ends the retries. No real
// sleeping: the clock is virtual.
func TestRetryBudgetOnTheClock(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	ck := clocktest.New()
	var mu sync.Mutex
	var attempts []int
	_, viaProxy, p := proxied(t, store.Options{Clock: ck, RetryFor: 3 * time.Second, RetryBackoff: 200 * time.Millisecond,
		OnRetry: func(_ string, attempt int, _ error) {
			mu.Lock()
			attempts = append(attempts, attempt)
			mu.Unlock()
		}})
	run := newRun(t, viaProxy, massupdate.Run{})
	p.Cut()
	if err := viaProxy.SaveBatch(ctx, run.ID, massupdate.Batch{Checkpoint: "x"}); err == nil {
		t.Fatal("SaveBatch succeeded with PostgreSQL gone")
	}
	want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond}
	if got := ck.Sleeps(); !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(attempts, []int{1, 2, 3, 4}) {
		t.Fatalf("retries after attempts %v, want 1 to 4", attempts)
	}
}

// TestRetryWaitsAreCappedAtTwoSeconds: the doubling stops at 2 s (0.5, 1, 2, 2, 2 s fill 7.5 s).
func TestRetryWaitsAreCappedAtTwoSeconds(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	ck := clocktest.New()
	_, viaProxy, p := proxied(t, store.Options{Clock: ck, RetryFor: 7500 * time.Millisecond, RetryBackoff: 500 * time.Millisecond})
	run := newRun(t, viaProxy, massupdate.Run{})
	p.Cut()
	if err := viaProxy.SaveBatch(ctx, run.ID, massupdate.Batch{Checkpoint: "x"}); err == nil {
		t.Fatal("SaveBatch succeeded with PostgreSQL gone")
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}
	if got := ck.Sleeps(); !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
}

// TestNegativeRetryForIsNoRetry: RetryFor below zero has always meant giving up after the first failure;
// the policy's "Within 0 or less is unbounded" must not turn it into endless retries.
func TestNegativeRetryForIsNoRetry(t *testing.T) {
	t.Parallel()
	ck := clocktest.New()
	_, viaProxy, p := proxied(t, store.Options{Clock: ck, RetryFor: -time.Second})
	run := newRun(t, viaProxy, massupdate.Run{})
	p.Cut()
	// The deadline only ends the endless retries of a regression, so that the waits below get reported.
	ctx, cancel := context.WithTimeout(ctxT(t), 5*time.Second)
	defer cancel()
	if err := viaProxy.SaveBatch(ctx, run.ID, massupdate.Batch{Checkpoint: "x"}); err == nil {
		t.Fatal("SaveBatch succeeded with PostgreSQL gone")
	}
	if s := ck.Sleeps(); len(s) != 0 {
		t.Fatalf("%d waits, want none", len(s))
	}
}
