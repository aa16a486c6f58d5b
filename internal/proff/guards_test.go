package proff_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
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
	ck := clocktest.New()
	ck.OnSleep(func(ctx context.Context, _ time.Duration) {
		// While the first worker waits to retry its 503, a second worker meets the 401.
		_, other = c.Lookup(ctx, "NO", "984851006")
	})
	var err error
	c, err = proff.New(proff.Options{BaseURL: srv.URL, Token: secret, RatePerSecond: 1000, Points: points(t, "name"),
		Clock: ck, Rand: func() float64 { return 0 }})
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
	if w := f.clock.Sleeps(); len(w) != 2 || w[0] != 0 || w[1] != 0 {
		t.Errorf("waits %v, want two of 0", w)
	}
	f.emu.FailNext(1, http.StatusTooManyRequests, "99999999999999999")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); !errors.Is(err, massupdate.ErrQuotaExhausted) {
		t.Errorf("Retry-After beyond a Duration: %v, want ErrQuotaExhausted", err)
	}
}

// TestQuotaWaitBoundary: with the default QuotaWait (10 minutes), a Retry-After of exactly 600 s is still
// waited for (capped); one second more is a spent quota.
func TestQuotaWaitBoundary(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	f.emu.FailNext(1, http.StatusTooManyRequests, "600")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatalf("Retry-After equal to QuotaWait: %v", err)
	}
	if w := f.clock.Sleeps(); len(w) != 1 || w[0] != proff.DefaultMaxRetryWait {
		t.Errorf("waits %v, want one of the cap %v", w, proff.DefaultMaxRetryWait)
	}
	f.emu.FailNext(1, http.StatusTooManyRequests, "601")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); !errors.Is(err, massupdate.ErrQuotaExhausted) {
		t.Errorf("Retry-After one second beyond QuotaWait: %v, want ErrQuotaExhausted", err)
	}
}

// TestDefaults: options left zero take the documented defaults, and a rate that is no positive number
// is refused, never silently replaced.
func TestDefaults(t *testing.T) {
	t.Parallel()
	for _, r := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5} {
		if _, err := proff.New(proff.Options{Token: secret, RatePerSecond: r}); err == nil {
			t.Errorf("rate %v accepted", r)
		}
	}
	if c, err := proff.New(proff.Options{Token: secret, RatePerSecond: 0.5}); err != nil || c.Rate() != 0.5 {
		t.Errorf("rate 0.5 (30 a minute): %v, rate %v", err, c.Rate())
	}

	// RetryBase defaults to 500 ms: equal jitter with Rand 0.5 waits 375 ms.
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.RetryBase = 0 })
	f.emu.FailNext(1, http.StatusServiceUnavailable, "")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatal(err)
	}
	if w := f.clock.Sleeps(); len(w) != 1 || w[0] != 375*time.Millisecond {
		t.Errorf("waits %v, want one of 375ms", w)
	}

	// MaxAttempts 1 is one try, not the default five.
	g := setup(t, proffemu.Options{}, func(o *proff.Options) { o.MaxAttempts = 1 })
	g.emu.FailNext(2, http.StatusServiceUnavailable, "")
	if _, err := g.c.Lookup(context.Background(), "NO", fjordlys); err == nil {
		t.Error("a 503 with MaxAttempts 1 was retried")
	}
	if n := len(g.emu.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}

	// The default MaxBody reads a document of 4 MiB and refuses one byte more (written out, not
	// DefaultMaxBody, so that a changed default fails here).
	const fourMiB = 4 << 20
	h := setup(t, proffemu.Options{}, nil)
	pad := func(size int) []byte {
		head := `{"name":"X AS","padding":"`
		return []byte(head + strings.Repeat("x", size-len(head)-2) + `"}`)
	}
	h.emu.SetDocument("NO", "920000010", pad(fourMiB))
	if _, err := h.c.Lookup(context.Background(), "NO", "920000010"); err != nil {
		t.Errorf("a 4 MiB answer: %v", err)
	}
	h.emu.SetDocument("NO", "930000027", pad(fourMiB+1))
	if _, err := h.c.Lookup(context.Background(), "NO", "930000027"); err == nil || !strings.Contains(err.Error(), "larger than 4 MiB") {
		t.Errorf("4 MiB and a byte: %v", err)
	}
}

// closeRecorder is a request body that says whether it was closed.
type closeRecorder struct {
	strings.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestRefusedMethodClosesItsBody: a RoundTripper must close the request body even when it refuses the
// request, or a caller's file or pipe stays open.
func TestRefusedMethodClosesItsBody(t *testing.T) {
	t.Parallel()
	hc, err := proff.NewHTTPClient(proff.Options{BaseURL: "https://api.proff.example", Token: secret})
	if err != nil {
		t.Fatal(err)
	}
	body := &closeRecorder{Reader: *strings.NewReader("x")}
	req, err := http.NewRequest(http.MethodPost, "https://api.proff.example/api/x", body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Transport.RoundTrip(req); !errors.Is(err, proff.ErrMethodRefused) {
		t.Fatalf("POST: %v, want ErrMethodRefused", err)
	}
	if !body.closed {
		t.Error("the refused request's body was left open")
	}
}

// TestManyAttemptsEndWithAReason: beyond ten tries the count is written in digits, not looked up past the
// end of the words.
func TestManyAttemptsEndWithAReason(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.MaxAttempts = 11 })
	f.emu.FailNext(11, http.StatusServiceUnavailable, "")
	_, err := f.c.Lookup(context.Background(), "NO", fjordlys)
	if err == nil || !strings.Contains(err.Error(), "Proff answered 503 11 times") {
		t.Errorf("err %v, want the count in digits", err)
	}
}

// TestRateLimitedJitterOnlyAddsAQuarter: after a 429 without Retry-After the wait is the step plus up to a
// quarter of it (Rand 0.5: 5 s + 0.625 s), never less than the step.
func TestRateLimitedJitterOnlyAddsAQuarter(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	f.emu.FailNext(1, http.StatusTooManyRequests, "")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatal(err)
	}
	if w := f.clock.Sleeps(); len(w) != 1 || w[0] != 5625*time.Millisecond {
		t.Errorf("waits %v, want one of 5.625s", w)
	}
}

// TestPastRetryAfterDate: a Retry-After date already past means now, not a nanosecond, and a number of
// seconds beyond what a Duration holds is a spent quota.
func TestPastRetryAfterDate(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	f.emu.FailNext(1, http.StatusServiceUnavailable, f.clock.Now().Add(-time.Hour).Format(http.TimeFormat))
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatal(err)
	}
	if w := f.clock.Sleeps(); len(w) != 1 || w[0] != 0 {
		t.Errorf("waits %v, want one of 0", w)
	}
	f.emu.FailNext(1, http.StatusTooManyRequests, "9223372036854775807")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); !errors.Is(err, massupdate.ErrQuotaExhausted) {
		t.Errorf("Retry-After of MaxInt64 seconds: %v, want ErrQuotaExhausted", err)
	}
}

// TestBodyCutOffIsRetriedAndNamed: an answer whose body ends before its Content-Length is retried, and the
// reason says so.
func TestBodyCutOffIsRetriedAndNamed(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	n := 0
	c, _ := fixed(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		w.Header().Set("Content-Length", "100")
		w.Write([]byte(`{"name":`))
	}, "name")
	_, err := c.Lookup(context.Background(), "NO", fjordlys)
	if err == nil || !strings.Contains(err.Error(), "five times (last: body cut off") {
		t.Errorf("err %v, want five tries ending on a cut-off body", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != proff.DefaultMaxAttempts {
		t.Errorf("%d requests, want %d", n, proff.DefaultMaxAttempts)
	}
}

// TestForbiddenCountryIsLoggedOnce: the operator learns once that the token does not cover a country.
func TestForbiddenCountryIsLoggedOnce(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	f := setup(t, proffemu.Options{Countries: []string{"NO"}}, func(o *proff.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	})
	for range 3 {
		if _, err := f.c.Lookup(context.Background(), "SE", "5569990004"); !errors.Is(err, massupdate.ErrCountryForbidden) {
			t.Fatalf("SE lookup: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "does not cover this country"); n != 1 || !strings.Contains(logs.String(), "country=SE") {
		t.Errorf("%d warnings in %q; want one naming SE", n, logs.String())
	}
}

// TestPauseStillWaitsForTheLimiter: a worker held back by another's 429 still takes its turn from the
// shared limiter when the pause ends, so the rate holds for the requests that follow a pause.
func TestPauseStillWaitsForTheLimiter(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	ck := clocktest.New()
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		when := ck.Now()
		mu.Lock()
		at = append(at, when)
		first := len(at) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(`{"name":"X AS"}`))
	}))
	t.Cleanup(srv.Close)
	var c *proff.Client
	var other error
	sleeps := 0
	ck.OnSleep(func(ctx context.Context, _ time.Duration) {
		mu.Lock()
		sleeps++
		first := sleeps == 1
		mu.Unlock()
		if first {
			// While the first worker waits after its 429, a second one asks.
			_, other = c.Lookup(ctx, "NO", "984851006")
		}
	})
	var err error
	// One request per 10 s: the 429's 5 s pause ends before the limiter's next turn.
	c, err = proff.New(proff.Options{BaseURL: srv.URL, Token: secret, RatePerSecond: 0.1, Points: points(t, "name"),
		Clock: ck, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(context.Background(), "NO", "923609016"); err != nil || other != nil {
		t.Fatalf("lookups: %v, %v", err, other)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 10*time.Second {
			t.Errorf("requests %d and %d %v apart; the rate allows one per 10s (times %v)", i-1, i, gap, at)
		}
	}
}
