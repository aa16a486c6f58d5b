package proff_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
)

// TestUnauthorizedStopsTheRetriesOfOtherWorkers: a worker waiting to retry after a 503 must not send
// again once another worker's request was answered 401: the token is dead for the whole run.
func TestUnauthorizedStopsTheRetriesOfOtherWorkers(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		n := len(paths)
		mu.Unlock()
		switch n {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusUnauthorized)
		default: // only a retry that should never have been sent gets here
			w.Write([]byte(`{"name":"EQUINOR ASA"}`))
		}
	}))
	t.Cleanup(srv.Close)
	var c *proff.Client
	var other error
	ck := newClock()
	sleep := func(ctx context.Context, d time.Duration) error {
		// While the first worker waits to retry its 503, a second worker meets the 401.
		_, other = c.Lookup(ctx, "NO", "984851006")
		return ck.Sleep(ctx, d)
	}
	var err error
	c, err = proff.New(proff.Options{BaseURL: srv.URL, Token: secret, RatePerSecond: 1000, Points: points(t, "name"),
		Sleep: sleep, Now: ck.Now, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup(context.Background(), "NO", "923609016")
	if !errors.Is(other, massupdate.ErrUnauthorized) {
		t.Fatalf("second worker: %v, want ErrUnauthorized", other)
	}
	if !errors.Is(err, massupdate.ErrUnauthorized) {
		t.Errorf("first worker after the other's 401: %v, want ErrUnauthorized", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 2 {
		t.Errorf("requests %q; after a 401 the waiting worker may not retry", paths)
	}
}

// TestRequestTimeoutIsRetried: 408 is the server giving up on a slow request, not on the company.
func TestRequestTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	f.emu.FailNext(1, http.StatusRequestTimeout, "")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatalf("Lookup after a 408: %v", err)
	}
	if n := len(f.emu.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestMalformedRetryAfter: a negative Retry-After means "now", never a wait below zero (a clock that
// would run backwards); one beyond what a Duration holds is a spent quota, not an overflow into a
// negative wait.
func TestMalformedRetryAfter(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	f.emu.FailNext(1, http.StatusServiceUnavailable, "-1")
	f.emu.FailNext(1, http.StatusServiceUnavailable, "-30")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatalf("Lookup after negative Retry-After: %v", err)
	}
	if w := f.clock.waits(); len(w) != 2 || w[0] != 0 || w[1] != 0 {
		t.Errorf("waits %v, want two of 0", w)
	}
	f.emu.FailNext(1, http.StatusTooManyRequests, "99999999999999999")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); !errors.Is(err, massupdate.ErrQuotaExhausted) {
		t.Errorf("Retry-After beyond a Duration: %v, want ErrQuotaExhausted", err)
	}
}

// TestQuotaWaitBoundary: a Retry-After of exactly QuotaWait is still waited for (capped); one second more
// is a spent quota.
func TestQuotaWaitBoundary(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.QuotaWait = 2 * time.Minute })
	f.emu.FailNext(1, http.StatusTooManyRequests, "120")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatalf("Retry-After equal to QuotaWait: %v", err)
	}
	if w := f.clock.waits(); len(w) != 1 || w[0] != proff.DefaultMaxRetryWait {
		t.Errorf("waits %v, want one of the cap %v", w, proff.DefaultMaxRetryWait)
	}
	f.emu.FailNext(1, http.StatusTooManyRequests, "121")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); !errors.Is(err, massupdate.ErrQuotaExhausted) {
		t.Errorf("Retry-After one second beyond QuotaWait: %v, want ErrQuotaExhausted", err)
	}
}
