// Package retry is proffsync's one retry policy: how many tries a request gets, how long to wait between
// them (exponential backoff from a base, capped, with the jitter the caller chose) and what a server's
// Retry-After means. Every adapter (Proff, Salesforce, the store) describes its retries as a Policy value
// and waits through the clock package, so that the rules cannot drift apart and tests never sleep.
//
// What must never happen here: a wait longer than the policy's Cap, a Retry-After included (a hostile or
// broken server must not park a run); a wait computed from anything but the policy and the server's answer.
//
// Why not github.com/cenkalti/backoff/v5: its jitter reads the global math/rand source (no way to pin a
// wait in a test), its timer cannot be injected from outside the package (retry.go's withTimer is
// unexported) and its elapsed-time bound reads the wall clock, so every retry test would sleep for real;
// its Retry-After is whole seconds, without the floors and caps Proff needs. What we need is the ~60
// lines below.
package retry

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Jitter is how a wait is spread around its step.
type Jitter int

const (
	// None waits the step exactly.
	None Jitter = iota
	// Equal waits between half the step and the step: workers spread out, and none waits less than half.
	Equal
	// Up waits between the step and a quarter more: spread out, but never shorter than the step, for waits
	// that must span a window (a 429 without Retry-After waits out the minute).
	Up
)

// Policy is one retry policy. The zero value never waits and never gives up; callers set what they need.
type Policy struct {
	// Attempts bounds the tries, the first included; 0 or less leaves them unbounded (Within bounds them
	// then).
	Attempts int
	// Base is the first step; each retry doubles it.
	Base time.Duration
	// Cap bounds a step and every wait, a Retry-After included; 0 means no cap.
	Cap time.Duration
	// Within bounds the time retries may take: no wait may end later than Within after the first try
	// began. 0 means no bound.
	Within time.Duration
	Jitter Jitter
	// MinRetryAfter is the least wait a Retry-After gets: "Retry-After: 0" or a date already past can be a
	// server rounding the rest of its window down, and retrying at once would meet the same full window.
	MinRetryAfter time.Duration
	// Rand returns a number in [0, 1) for jitter; rand.Float64 when nil.
	Rand func() float64
}

// Spent reports whether tries (made so far) leave none for another.
func (p Policy) Spent(tries int) bool { return p.Attempts > 0 && tries >= p.Attempts }

// Overdue reports whether waiting wait after elapsed since the first try would go beyond Within.
func (p Policy) Overdue(elapsed, wait time.Duration) bool {
	return p.Within > 0 && elapsed+wait > p.Within
}

// Backoff is the wait before retry n (n = 1 after the first try): Base·2^(n-1), capped, then jittered.
func (p Policy) Backoff(n int) time.Duration {
	// Floating point keeps a huge n from overflowing: the step becomes +Inf and the cap takes it. A power of
	// two times a whole number of nanoseconds is exact in a float64, so unjittered steps are exact.
	step := float64(p.Base) * math.Pow(2, float64(n-1))
	if p.Cap > 0 {
		step = math.Min(step, float64(p.Cap))
	}
	switch p.Jitter {
	case Equal:
		step = step/2 + p.rand()*step/2
	case Up:
		step = step + p.rand()*step/4
	}
	if step >= math.MaxInt64 { // no cap, and a step beyond what a Duration holds
		return time.Duration(math.MaxInt64)
	}
	return p.capped(time.Duration(step))
}

// Wait is the wait before retry n: the server's Retry-After when it sent one (hasAfter), at least
// MinRetryAfter, else Backoff(n); either way at most Cap.
func (p Policy) Wait(n int, retryAfter time.Duration, hasAfter bool) time.Duration {
	if hasAfter {
		return p.capped(max(retryAfter, p.MinRetryAfter))
	}
	return p.Backoff(n)
}

func (p Policy) capped(d time.Duration) time.Duration {
	if p.Cap > 0 {
		return min(d, p.Cap)
	}
	return d
}

func (p Policy) rand() float64 {
	if p.Rand == nil {
		return rand.Float64()
	}
	return p.Rand()
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP date (RFC 9110 10.2.3), as a wait
// from now. A negative number of seconds or a date already past is a wait of zero; a number too large for
// a Duration is the longest Duration in whole seconds. ok is false when the header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, true
		}
		if n > int64(math.MaxInt64/time.Second) {
			n = int64(math.MaxInt64 / time.Second)
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}
