package serve_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock: time moves only when the test moves it, and After fires when it passes the
// deadline. The server's loop sleeps on exactly one After at a time, so "one timer pending" means the loop
// is idle and every Run it started has returned.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	poke    chan struct{}
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, poke: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	select {
	case c.poke <- struct{}{}:
	default:
	}
	return ch
}

// Advance moves the clock by d (a Run func uses it to take virtual time) and fires what fell due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

func (c *fakeClock) setLocked(t time.Time) {
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(t) {
			w.ch <- t
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// waitIdle blocks until a timer is pending, i.e. the loop sleeps. The real-time guard only turns a hang
// into a failure; no assertion depends on it.
func (c *fakeClock) waitIdle(t *testing.T) {
	t.Helper()
	if err := c.idle(); err != nil {
		t.Fatal(err)
	}
}

// idle is waitIdle for goroutines other than the test's: it returns the hang as an error.
func (c *fakeClock) idle() error {
	guard := time.NewTimer(10 * time.Second)
	defer guard.Stop()
	for {
		c.mu.Lock()
		n := len(c.waiters)
		c.mu.Unlock()
		if n > 0 {
			return nil
		}
		select {
		case <-c.poke:
		case <-guard.C:
			return errors.New("the server's loop never went to sleep")
		}
	}
}

// step waits until the loop sleeps and moves the clock to its wake-up time, unless that is after end.
// It reports whether it moved the clock.
func (c *fakeClock) step(end time.Time) (bool, error) {
	if err := c.idle(); err != nil {
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

// runUntil moves the clock from wake-up to wake-up of the loop, up to and including end, and returns once
// the loop sleeps with its next wake-up after end.
func (c *fakeClock) runUntil(t *testing.T, end time.Time) {
	t.Helper()
	if err := c.runUntilErr(end); err != nil {
		t.Fatal(err)
	}
}

func (c *fakeClock) runUntilErr(end time.Time) error {
	for {
		moved, err := c.step(end)
		if err != nil || !moved {
			return err
		}
	}
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
