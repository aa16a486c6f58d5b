package retry_test

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/retry"
)

func fixed(r float64) func() float64 { return func() float64 { return r } }

// TestBackoff pins each rule of the step: doubling from Base, the cap, each jitter's bounds, no overflow.
func TestBackoff(t *testing.T) {
	t.Parallel()
	salesforce := retry.Policy{Base: time.Second, Cap: 30 * time.Second}
	store := retry.Policy{Base: 200 * time.Millisecond, Cap: 2 * time.Second}
	proff := retry.Policy{Base: 500 * time.Millisecond, Cap: 30 * time.Second, Jitter: retry.Equal}
	limited := retry.Policy{Base: 5 * time.Second, Cap: 30 * time.Second, Jitter: retry.Up}
	with := func(p retry.Policy, r float64) retry.Policy { p.Rand = fixed(r); return p }
	cases := []struct {
		name string
		p    retry.Policy
		n    int
		want time.Duration
	}{
		{"first step is the base", salesforce, 1, time.Second},
		{"doubles", salesforce, 2, 2 * time.Second},
		{"doubles again", salesforce, 4, 8 * time.Second},
		{"last step under the cap", salesforce, 5, 16 * time.Second},
		{"capped", salesforce, 6, 30 * time.Second},
		{"capped far out", salesforce, 40, 30 * time.Second},
		{"no overflow past 2^63", salesforce, 10000, 30 * time.Second},
		{"store doubles", store, 4, 1600 * time.Millisecond},
		{"store capped at 2s", store, 5, 2 * time.Second},
		{"no cap: grows on", retry.Policy{Base: time.Second}, 8, 128 * time.Second},
		{"no cap, huge n: the longest duration", retry.Policy{Base: time.Second}, 10000, time.Duration(math.MaxInt64)},
		{"equal jitter at 0: half the step", with(proff, 0), 1, 250 * time.Millisecond},
		{"equal jitter at 0.5: three quarters", with(proff, 0.5), 2, 750 * time.Millisecond},
		{"equal jitter near 1: under the step", with(proff, 0.999), 1, 499_750_000},
		{"equal jitter on a capped step", with(proff, 0), 20, 15 * time.Second},
		{"up jitter at 0: the step", with(limited, 0), 1, 5 * time.Second},
		{"up jitter at 0.5: an eighth more", with(limited, 0.5), 2, 11_250 * time.Millisecond},
		{"up jitter near 1: under a quarter more", with(limited, 0.999), 1, 6_248_750_000},
		{"up jitter never passes the cap", with(limited, 0.999), 4, 30 * time.Second},
		{"up jitter below the cap adds", with(limited, 0.5), 3, 22_500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.p.Backoff(tc.n); got != tc.want {
				t.Fatalf("Backoff(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

// TestJitterBounds draws from the real source: every wait stays within its jitter's bounds.
func TestJitterBounds(t *testing.T) {
	t.Parallel()
	step := 4 * time.Second
	for _, tc := range []struct {
		j      retry.Jitter
		lo, hi time.Duration
	}{
		{retry.Equal, step / 2, step},
		{retry.Up, step, step + step/4},
		{retry.None, step, step},
	} {
		p := retry.Policy{Base: time.Second, Cap: time.Minute, Jitter: tc.j}
		seen := map[time.Duration]bool{}
		for range 2000 {
			d := p.Backoff(3)
			if d < tc.lo || d > tc.hi {
				t.Fatalf("jitter %d: %v outside [%v, %v]", tc.j, d, tc.lo, tc.hi)
			}
			seen[d] = true
		}
		if tc.j != retry.None && len(seen) < 100 {
			t.Errorf("jitter %d: only %d distinct waits in 2000: not spread", tc.j, len(seen))
		}
	}
}

// TestWait pins what a Retry-After does: it replaces the backoff, is floored by MinRetryAfter and capped.
func TestWait(t *testing.T) {
	t.Parallel()
	proff429 := retry.Policy{Base: 5 * time.Second, Cap: 30 * time.Second, Jitter: retry.Up, MinRetryAfter: time.Second, Rand: fixed(0)}
	proff503 := retry.Policy{Base: 500 * time.Millisecond, Cap: 30 * time.Second, Jitter: retry.Equal, Rand: fixed(0)}
	cases := []struct {
		name     string
		p        retry.Policy
		n        int
		after    time.Duration
		hasAfter bool
		want     time.Duration
	}{
		{"seconds replace the backoff", proff429, 1, 7 * time.Second, true, 7 * time.Second},
		{"capped", proff429, 1, 45 * time.Second, true, 30 * time.Second},
		{"0 or past waits the floor", proff429, 1, 0, true, time.Second},
		{"under the floor waits the floor", proff429, 1, 300 * time.Millisecond, true, time.Second},
		{"no floor: 0 is at once", proff503, 1, 0, true, 0},
		{"no floor: seconds as sent", proff503, 3, 2 * time.Second, true, 2 * time.Second},
		{"none sent: the backoff", proff429, 2, 0, false, 10 * time.Second},
		{"none sent, no floor: the backoff", proff503, 1, 0, false, 250 * time.Millisecond},
		{"no cap: as sent", retry.Policy{}, 1, time.Hour, true, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.p.Wait(tc.n, tc.after, tc.hasAfter); got != tc.want {
				t.Fatalf("Wait(%d, %v, %v) = %v, want %v", tc.n, tc.after, tc.hasAfter, got, tc.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		v    string
		want time.Duration
		ok   bool
	}{
		{"seconds", "7", 7 * time.Second, true},
		{"blanks around", " 5 ", 5 * time.Second, true},
		{"zero", "0", 0, true},
		{"negative is at once", "-3", 0, true},
		{"larger than a Duration: the longest whole seconds", "9223372037", time.Duration(math.MaxInt64/time.Second) * time.Second, true},
		{"date ahead", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"date past is at once", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"absent", "", 0, false},
		{"unreadable", "soon", 0, false},
		{"fraction unreadable", "1.5", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := retry.ParseRetryAfter(tc.v, now)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestBudget pins Attempts (tries, the first included) and Within (no wait may end beyond it).
func TestBudget(t *testing.T) {
	t.Parallel()
	five := retry.Policy{Attempts: 5}
	for tries, want := range map[int]bool{1: false, 4: false, 5: true, 6: true} {
		if got := five.Spent(tries); got != want {
			t.Errorf("Attempts 5: Spent(%d) = %v, want %v", tries, got, want)
		}
	}
	if (retry.Policy{}).Spent(1_000_000) {
		t.Error("Attempts 0 must leave the tries unbounded")
	}
	within := retry.Policy{Within: 30 * time.Second}
	if within.Overdue(29*time.Second, time.Second) {
		t.Error("a wait ending exactly at Within is allowed")
	}
	if !within.Overdue(29*time.Second, time.Second+1) {
		t.Error("a wait ending after Within is overdue")
	}
	if (retry.Policy{}).Overdue(time.Hour, time.Hour) {
		t.Error("Within 0 must leave the time unbounded")
	}
}
