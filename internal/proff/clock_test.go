package proff_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/proff"
)

// TestClockOptionDrivesEveryWait: a client given only Options.Clock (no Sleep, no Now) waits on it, and
// each kind of failure takes its rule of the retry policy: equal jitter from RetryBase after a 503, upward
// jitter from RateLimitedBase after a 429 without Retry-After, and a floor of one second under a 429's
// "Retry-After: 0".
func TestClockOptionDrivesEveryWait(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1, 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 3:
			w.WriteHeader(http.StatusTooManyRequests)
		case 4:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.Write([]byte(`{"name":"EQUINOR ASA"}`))
		}
	}))
	t.Cleanup(srv.Close)
	ck := clocktest.New()
	c, err := proff.New(proff.Options{BaseURL: srv.URL, Token: secret, RatePerSecond: 1000, Points: points(t, "name"),
		Clock: ck, Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Lookup(context.Background(), "NO", "923609016")
	if err != nil || got["name"] != "EQUINOR ASA" {
		t.Fatalf("Lookup = %v, %v", got, err)
	}
	want := []time.Duration{
		375 * time.Millisecond,   // 503: step 500 ms, equal jitter at 0.5
		750 * time.Millisecond,   // 503: step 1 s
		22500 * time.Millisecond, // 429, no Retry-After: step 5 s·4 = 20 s, a quarter of it at 0.5 added
		time.Second,              // 429, Retry-After 0: at least a second
	}
	if w := ck.Sleeps(); !slices.Equal(w, want) {
		t.Fatalf("waits %v, want %v", w, want)
	}
}
