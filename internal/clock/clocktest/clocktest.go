// Package clocktest is a virtual clock for tests: Sleep never waits, it records the wait and moves the
// clock on by it, so a test of backoff or of a time budget runs at once and can assert every wait.
package clocktest

import (
	"context"
	"sync"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
)

// Start is the time a Clock from New shows first: a fixed night, so that tests read the same everywhere.
var Start = time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)

// Clock is a virtual clock, safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
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
// otherwise it records d and advances the clock by it (a d below zero is recorded, not applied).
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

// Advance moves the clock on by d without recording a wait: time that passed while the code under test
// did something else.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Sleeps returns every wait asked of Sleep so far, in order.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}
