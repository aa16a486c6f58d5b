package clock_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/clock/clocktest"
)

// TestSystemSleepHonoursContext: an ended context ends the wait (an hour here: were it not honoured the
// test would hang), and a wait of zero or less only reports the context's state.
func TestSystemSleepHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := clock.System.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on an ended context = %v, want context.Canceled", err)
	}
	if err := clock.System.Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep(0) on an ended context = %v, want context.Canceled", err)
	}
	if err := clock.System.Sleep(context.Background(), -time.Second); err != nil {
		t.Fatalf("Sleep(-1s) = %v, want nil", err)
	}
	if err := clock.System.Sleep(context.Background(), time.Nanosecond); err != nil {
		t.Fatalf("Sleep(1ns) = %v, want nil", err)
	}
}

func TestOr(t *testing.T) {
	t.Parallel()
	if clock.Or(nil) != clock.System {
		t.Error("Or(nil) must be the system clock")
	}
	c := clocktest.New()
	if clock.Or(c) != clock.Clock(c) {
		t.Error("Or(c) must be c")
	}
}

func TestVirtualClock(t *testing.T) {
	t.Parallel()
	c := clocktest.New()
	if !c.Now().Equal(clocktest.Start) {
		t.Fatalf("Now = %v, want %v", c.Now(), clocktest.Start)
	}
	ctx := context.Background()
	for _, d := range []time.Duration{time.Second, -time.Second, 0, time.Minute} {
		if err := c.Sleep(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(time.Hour)
	if want := clocktest.Start.Add(time.Hour + time.Minute + time.Second); !c.Now().Equal(want) {
		t.Errorf("Now = %v, want %v: waits and Advance move the clock, negative waits do not", c.Now(), want)
	}
	if got, want := c.Sleeps(), []time.Duration{time.Second, -time.Second, 0, time.Minute}; !slices.Equal(got, want) {
		t.Errorf("Sleeps = %v, want %v", got, want)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Sleep(ended, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on an ended context = %v, want context.Canceled", err)
	}
	if len(c.Sleeps()) != 4 {
		t.Errorf("a wait on an ended context must not be recorded: %v", c.Sleeps())
	}
}
