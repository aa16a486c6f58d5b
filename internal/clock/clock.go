// Package clock is how every proffsync package reads the time and waits: one small interface, the system
// clock behind it in production, and a virtual one (package clocktest) in tests, so that backoff, quota
// waits, retry budgets and serve's schedule are tested without sleeping for real.
//
// What must never happen here: a wait that outlives its context (a stopping run must not sit out a
// backoff), or any state: the system clock is a value every goroutine may share.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and waits. Packages take one in their options; nil there means System.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends, and then returns ctx's error. A d of zero or less only reports
	// whether ctx has ended, so a caller may sleep a computed wait without checking its sign.
	Sleep(ctx context.Context, d time.Duration) error
	// After returns a channel that receives the time once d has passed (at once when d is zero or less),
	// for a loop that also selects on other events. The channel is never closed; a caller that stops
	// waiting simply drops it.
	After(d time.Duration) <-chan time.Time
}

// System is the wall clock.
var System Clock = system{}

type system struct{}

func (system) Now() time.Time { return time.Now() }

func (system) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (system) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Or returns c, or System when c is nil: the default every package's options apply.
func Or(c Clock) Clock {
	if c == nil {
		return System
	}
	return c
}

// WithNow is c with its time read from now instead: c's waits, another time. The command line's clock is
// one (the app's time, which its tests fix, with the system's waits), and so is an engine test's clock whose
// run stamps are fixed while the grace after a cancel is waited for real.
func WithNow(c Clock, now func() time.Time) Clock { return withNow{Clock: Or(c), now: now} }

type withNow struct {
	Clock // Sleep and After
	now   func() time.Time
}

func (w withNow) Now() time.Time { return w.now() }
