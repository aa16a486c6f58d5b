package proff_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
)

// companies adds n fictional NO companies to emu and returns their numbers.
func companies(emu *proffemu.Server, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		nr := fmt.Sprintf("8%08d", i*7919)
		if !orgnr.Valid(orgnr.NO, nr) {
			continue
		}
		// A small document: building full ones would dominate the test's time.
		emu.SetDocument("NO", nr, []byte(`{"name":"TESTFIRMA `+nr+` AS","numberOfEmployees":"3"}`))
		out = append(out, nr)
	}
	return out
}

// run looks every number up from workers goroutines and returns the errors by index.
func run(c *proff.Client, ctxFor func(i int) context.Context, nrs []string, workers int) []error {
	errs := make([]error, len(nrs))
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(nrs) {
					return
				}
				_, errs[i] = c.Lookup(ctxFor(i), "NO", nrs[i])
			}
		}()
	}
	wg.Wait()
	return errs
}

// inProcess serves requests with the emulator's handler in this process: no network, so a synctest bubble
// can run the client on its fake clock and the handler records exact arrival times.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.RequestURI = req.URL.RequestURI()
	if r.Body == nil {
		r.Body = http.NoBody
	}
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, r)
	return w.Result(), nil
}

// TestLimiterHoldsUnderConcurrencyWithRetries: 32 workers, 200 lookups, 40 answers of 503 so retries join
// in, the limiter at 50/s on synctest's fake clock. The arrivals the emulator records, counted in every
// one-second window, never exceed the rate plus the burst (10 %).
func TestLimiterHoldsUnderConcurrencyWithRetries(t *testing.T) {
	t.Parallel()
	const perSecond, workers = 50, 32
	emu := proffemu.New(proffemu.Options{Token: secret, Empty: true})
	defer emu.Close()
	nrs := companies(emu, 200)
	emu.FailNext(40, http.StatusServiceUnavailable, "")
	synctest.Test(t, func(t *testing.T) {
		c, err := proff.New(proff.Options{BaseURL: emu.URL(), Token: secret, RatePerSecond: perSecond,
			Concurrency: workers, RetryBase: 10 * time.Millisecond, Points: points(t, "name"),
			Base: inProcess{emu.Handler()}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		errs := run(c, func(int) context.Context { return context.Background() }, nrs, workers)
		for i, err := range errs {
			if err != nil {
				t.Errorf("lookup %d: %v", i, err)
			}
		}
		reqs := emu.Requests()
		if len(reqs) != 240 {
			t.Fatalf("%d requests, want 240 (200 lookups, 40 retries)", len(reqs))
		}
		at := make([]time.Time, len(reqs))
		for i, r := range reqs {
			at[i] = r.At
		}
		sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
		limit := perSecond + perSecond/10
		worst := 0
		for i := range at {
			n := sort.Search(len(at), func(j int) bool { return !at[j].Before(at[i].Add(time.Second)) }) - i
			worst = max(worst, n)
		}
		if worst > limit {
			t.Errorf("a one-second window held %d requests; the limit is %d", worst, limit)
		}
		if worst < perSecond {
			t.Errorf("the busiest window held only %d requests: the test did not saturate the limiter", worst)
		}
		if w := c.RateLimitWait(); w <= 0 {
			t.Error("RateLimitWait reports no waiting under contention")
		}
		t.Logf("busiest one-second window: %d requests (limit %d), %v in all", worst, limit, time.Since(start))
	})
}

// TestRateLimitStorm: 32 workers, 100 lookups, 350 answers of 429 with Retry-After, on synctest's fake
// clock. Every lookup ends looked up or failed with a reason, and the run's total time stays bounded.
func TestRateLimitStorm(t *testing.T) {
	t.Parallel()
	emu := proffemu.New(proffemu.Options{Token: secret, Empty: true})
	defer emu.Close()
	nrs := companies(emu, 100)
	emu.FailOrg("NO", nrs[0], 5, http.StatusTooManyRequests, "1") // at least one lookup gives up
	emu.FailNext(345, http.StatusTooManyRequests, "1")
	const rate, attempts, workers = 200, 5, 32
	synctest.Test(t, func(t *testing.T) {
		c, err := proff.New(proff.Options{BaseURL: emu.URL(), Token: secret, RatePerSecond: rate,
			Concurrency: workers, MaxAttempts: attempts, Points: points(t, "name"), Base: inProcess{emu.Handler()}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		errs := run(c, func(int) context.Context { return context.Background() }, nrs, workers)
		took := time.Since(start)
		ok, failed := 0, 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case strings.Contains(err.Error(), "Proff answered 429 five times"):
				failed++
				if errors.Is(err, massupdate.ErrQuotaExhausted) {
					t.Errorf("lookup %d: a one-second Retry-After is not a spent quota", i)
				}
			default:
				t.Errorf("lookup %d failed without the reason: %v", i, err)
			}
		}
		if ok+failed != len(nrs) || ok == 0 || failed == 0 {
			t.Errorf("%d looked up, %d failed of %d", ok, failed, len(nrs))
		}
		total := len(emu.Requests())
		if total > len(nrs)*attempts || total < 350 {
			t.Errorf("%d requests; want between 350 and %d", total, len(nrs)*attempts)
		}
		// Each worker's share of lookups takes at most `attempts` tries, each after at most the Retry-After
		// and the pause it set for everyone; on top, the limiter spaces every request of the storm.
		rounds := (len(nrs) + workers - 1) / workers
		bound := time.Duration(rounds*attempts)*2*time.Second + time.Duration(total)*time.Second/rate
		if took > bound {
			t.Errorf("the storm took %v (fake clock), beyond %v", took, bound)
		}
		t.Logf("%d looked up, %d gave up, %d requests, %v (bound %v)", ok, failed, total, took, bound)
	})
}

// TestTokenLimitEnforced: a Proff that enforces the token's per-minute limit with 429s and no Retry-After,
// and a client configured well above it that never read the limit. Every lookup still succeeds: after a
// 429 no request leaves for 5 s (every worker held back), and the run costs time, not records.
func TestTokenLimitEnforced(t *testing.T) {
	t.Parallel()
	ck := clocktest.New()
	emu := proffemu.New(proffemu.Options{Token: secret, Empty: true, CallLimitPerMinute: 30, EnforceLimit: true, Now: ck.Now})
	defer emu.Close()
	nrs := companies(emu, 45)
	c, err := proff.New(proff.Options{BaseURL: emu.URL(), Token: secret, RatePerSecond: 5, Concurrency: 1,
		Points: points(t, "name"), Clock: ck, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	for _, nr := range nrs {
		if _, err := c.Lookup(context.Background(), "NO", nr); err != nil {
			t.Fatalf("lookup %s: %v", nr, err)
		}
	}
	reqs := emu.Requests()
	limited := 0
	for i := 1; i < len(reqs); i++ {
		if reqs[i].At.Sub(reqs[i-1].At) >= 5*time.Second {
			limited++
		}
	}
	if limited == 0 || len(reqs) <= len(nrs) {
		t.Errorf("%d requests for %d lookups, %d pauses: the limit was never hit", len(reqs), len(nrs), limited)
	}
	// Once the client reads the limit, it stays under it: no 429 at all.
	ck2 := clocktest.New()
	emu2 := proffemu.New(proffemu.Options{Token: secret, Empty: true, CallLimitPerMinute: 30, EnforceLimit: true, Now: ck2.Now})
	defer emu2.Close()
	nrs = companies(emu2, 45)
	rec := &calls{}
	c2, err := proff.New(proff.Options{BaseURL: emu2.URL(), Token: secret, RatePerSecond: 5, Concurrency: 1,
		Recorder: rec, Points: points(t, "name"), Clock: ck2, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.FitRateToToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, nr := range nrs {
		if _, err := c2.Lookup(context.Background(), "NO", nr); err != nil {
			t.Fatalf("lookup %s: %v", nr, err)
		}
	}
	for _, call := range rec.all() {
		if call.Status == http.StatusTooManyRequests {
			t.Errorf("a 429 after the rate was fitted to the token's limit (%v)", c2.Rate())
			break
		}
	}
}
