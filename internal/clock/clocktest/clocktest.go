// Package clocktest is a virtual clock for tests. Time moves only when the code under test sleeps or the
// test moves it: Sleep never waits, it records the wait and moves the clock on by it, so a test of backoff
// or of a time budget runs at once and can assert every wait; After channels fire when the clock passes
// their time, so a test drives a loop that waits on After (serve's schedule) step by step, and WaitIdle
// tells it when that loop has gone back to waiting.
package clocktest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
)

// Start is the time a Clock from New shows first: a fixed night, so that tests read the same everywhere.
var Start = time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)

// IdleTimeout is how long (real time) WaitIdle and RunUntil wait for the code under test to go back to
// waiting. It only turns a hang into a failure: no outcome depends on it.
const IdleTimeout = time.Minute

// Clock is a virtual clock, safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	sleeps  []time.Duration
	onSleep func(ctx context.Context, d time.Duration)
	waiters []waiter
	// waiting is closed (and replaced) each time After registers a waiter, waking every WaitIdle.
	waiting chan struct{}
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

var _ clock.Clock = (*Clock)(nil)

// New returns a clock showing Start.
func New() *Clock { return At(Start) }

// At returns a clock showing t.
func At(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep returns ctx's error at once when ctx has ended (recording nothing), as a real wait would;
// otherwise it records d and advances the clock by it (a d below zero is recorded, not applied), firing
// the After channels that fall due.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	hook := c.onSleep
	c.mu.Unlock()
	if hook != nil {
		hook(ctx, d)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	if d > 0 {
		c.setLocked(c.now.Add(d))
	}
	return nil
}

// After returns a channel that receives the virtual time once the clock has been moved past now+d (at
// once when d is zero or less). Until then the waiter is pending: see WaitIdle.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	if c.waiting != nil {
		close(c.waiting)
	}
	c.waiting = make(chan struct{})
	return ch
}

// Advance moves the clock on by d without recording a wait (time that passed while the code under test
// did something else), firing the After channels that fall due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

func (c *Clock) setLocked(t time.Time) {
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(t) {
			kept = append(kept, w)
		} else {
			w.ch <- t
		}
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
}

// OnSleep has f called at the start of every Sleep, before the wait is looked at or recorded, so that a
// test acts while the code under test waits: another worker's request, a cancel. f runs on the sleeping
// goroutine, outside the clock's lock (it may use the clock, and sleep on it again).
func (c *Clock) OnSleep(f func(ctx context.Context, d time.Duration)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onSleep = f
}

// Sleeps returns every wait asked of Sleep so far, in order.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// Pending is the number of After channels that have not fired yet.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// Idle blocks until an After channel is pending. For a loop that waits on one After at a time (serve's
// schedule), that means the loop waits again: whatever it started before has returned. It returns an
// error after IdleTimeout of real time, for goroutines other than the test's.
func (c *Clock) Idle() error {
	guard := time.NewTimer(IdleTimeout)
	defer guard.Stop()
	for {
		c.mu.Lock()
		if c.waiting == nil {
			c.waiting = make(chan struct{})
		}
		n, waiting := len(c.waiters), c.waiting
		c.mu.Unlock()
		if n > 0 {
			return nil
		}
		select {
		case <-waiting:
		case <-guard.C:
			return errors.New("clocktest: nothing went to wait on the clock")
		}
	}
}

// WaitIdle is Idle for the test's goroutine: a hang fails the test.
func (c *Clock) WaitIdle(t testing.TB) {
	t.Helper()
	if err := c.Idle(); err != nil {
		t.Fatal(err)
	}
}

// Step waits until an After channel is pending and moves the clock to the earliest one's time, unless that
// is after end. It reports whether it moved the clock.
func (c *Clock) Step(end time.Time) (bool, error) {
	if err := c.Idle(); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.waiters[0].at
	for _, w := range c.waiters[1:] {
		if w.at.Before(next) {
			next = w.at
		}
	}
	if next.After(end) {
		return false, nil
	}
	c.setLocked(next)
	return true, nil
}

// RunUntilErr moves the clock from wake-up to wake-up of what waits on it, up to and including end, and
// returns once it waits with its next wake-up after end.
func (c *Clock) RunUntilErr(end time.Time) error {
	for {
		moved, err := c.Step(end)
		if err != nil || !moved {
			return err
		}
	}
}

// RunUntil is RunUntilErr for the test's goroutine: a hang fails the test.
func (c *Clock) RunUntil(t testing.TB, end time.Time) {
	t.Helper()
	if err := c.RunUntilErr(end); err != nil {
		t.Fatal(err)
	}
}
