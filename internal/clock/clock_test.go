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

// After fires when the virtual clock passes its time, whether the test advances it or a Sleep does, and
// never before; a wait of zero or less fires at once and is never pending.
func TestVirtualAfter(t *testing.T) {
	t.Parallel()
	c := clocktest.New()
	if got := <-c.After(0); !got.Equal(clocktest.Start) {
		t.Fatalf("After(0) = %v, want %v", got, clocktest.Start)
	}
	a, b := c.After(time.Minute), c.After(time.Hour)
	if c.Pending() != 2 {
		t.Fatalf("Pending = %d, want 2", c.Pending())
	}
	c.Advance(59 * time.Second)
	select {
	case <-a:
		t.Fatal("After(1m) fired after 59s")
	default:
	}
	c.Advance(time.Second)
	if got := <-a; !got.Equal(clocktest.Start.Add(time.Minute)) {
		t.Fatalf("After(1m) received %v", got)
	}
	if err := c.Sleep(context.Background(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := <-b; !got.Equal(clocktest.Start.Add(time.Hour + time.Minute)) {
		t.Fatalf("After(1h) received %v: a Sleep that passes it fires it", got)
	}
	if c.Pending() != 0 {
		t.Fatalf("Pending = %d after both fired", c.Pending())
	}
}

// WaitIdle returns once a goroutine waits on After, and RunUntil moves the clock from wake-up to wake-up:
// a loop that waits ten minutes at a time wakes six times in an hour and is left waiting for the seventh.
func TestVirtualRunUntil(t *testing.T) {
	t.Parallel()
	c := clocktest.New()
	ctx, cancel := context.WithCancel(context.Background())
	wakes := make(chan time.Time, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-c.After(10 * time.Minute):
				wakes <- now
			}
		}
	}()
	c.WaitIdle(t)
	end := clocktest.Start.Add(time.Hour)
	c.RunUntil(t, end)
	cancel()
	<-done
	close(wakes)
	var got []time.Time
	for w := range wakes {
		got = append(got, w)
	}
	if len(got) != 6 || !got[5].Equal(end) || !c.Now().Equal(end) {
		t.Fatalf("wake-ups %v, clock at %v; want six, the last at %v", got, c.Now(), end)
	}
	if moved, err := c.Step(end); err != nil || moved {
		t.Fatalf("Step past the end = %v, %v; want no move", moved, err)
	}
}

// WithNow reads the time given and waits on the clock given.
func TestWithNow(t *testing.T) {
	t.Parallel()
	at := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	v := clocktest.New()
	c := clock.WithNow(v, func() time.Time { return at })
	if !c.Now().Equal(at) {
		t.Fatalf("Now = %v, want %v", c.Now(), at)
	}
	if err := c.Sleep(context.Background(), time.Minute); err != nil || !slices.Equal(v.Sleeps(), []time.Duration{time.Minute}) {
		t.Fatalf("Sleep = %v; the clock given recorded %v, want the one wait", err, v.Sleeps())
	}
	ch := c.After(time.Second)
	v.Advance(time.Second)
	if got := <-ch; !got.Equal(clocktest.Start.Add(time.Minute + time.Second)) {
		t.Fatalf("After fired with %v, the given clock's time", got)
	}
}
