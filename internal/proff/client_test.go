package proff_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
	"github.com/proffconnect/proffsync/internal/runctx"
	"github.com/proffconnect/proffsync/internal/transport"
)

const fjordlys = "912345688" // seeded NO company

func TestLookupReturnsTypedValues(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	got, err := f.c.Lookup(context.Background(), "NO", "NO 912 345 688 MVA")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	want := map[string]any{
		"name": "FJORDLYS TEKNOLOGI AS", "revenue": 112934000.0, "employees": 69.0, "nace.code": "62.020",
		"establishedDate": mapping.DateValue(2000, 2, 4), "registeredForVat": true,
	}
	if len(got) != len(want) {
		t.Errorf("got %d values %v, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
}

func TestLookupSendsOnlyCountryAndNumberInThePath(t *testing.T) { // P2
	t.Parallel()
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.APIVersion = "1.0" })
	ctx := context.Background()
	f.c.Lookup(ctx, "no", fjordlys)
	f.c.Lookup(ctx, "Sweden", "556999-0004")
	f.c.Lookup(ctx, "FI", "3123456-3")
	f.c.Lookup(ctx, "DK", "39999900")
	f.c.Lookup(ctx, "NO", "984851006") // unknown: 404
	allowed := map[string]bool{"Authorization": true, "Accept": true, "Correlation-Id": true, "User-Agent": true,
		"Api-Version": true, "Accept-Encoding": true}
	wantPaths := []string{"/api/companies/register/NO/912345688", "/api/companies/register/SE/5569990004",
		"/api/companies/register/FI/31234563", "/api/companies/register/DK/39999900",
		"/api/companies/register/NO/984851006"}
	reqs := f.emu.Requests()
	if len(reqs) != len(wantPaths) {
		t.Fatalf("emulator saw %d requests, want %d", len(reqs), len(wantPaths))
	}
	for i, r := range reqs {
		if r.Method != http.MethodGet || r.Path != wantPaths[i] || r.RawQuery != "" || len(r.Body) != 0 {
			t.Errorf("request %d: %s %s?%s body %q; want GET %s, no query, no body", i, r.Method, r.Path, r.RawQuery, r.Body, wantPaths[i])
		}
		for h := range r.Header {
			if !allowed[h] {
				t.Errorf("request %d carries header %s", i, h)
			}
		}
		if r.Header.Get("Authorization") != "Token "+secret || r.Header.Get("Api-Version") != "1.0" {
			t.Errorf("request %d: Authorization or api-version missing", i)
		}
	}
}

func TestOnlyGETLeaves(t *testing.T) { // P3
	t.Parallel()
	emu := proffemu.New(proffemu.Options{Token: secret})
	defer emu.Close()
	rec := &calls{}
	hc, err := proff.NewHTTPClient(proff.Options{BaseURL: emu.URL(), Token: secret, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions} {
		req, _ := http.NewRequest(m, emu.URL()+"/api/companies/register/NO/"+fjordlys, strings.NewReader(`{"name":"x"}`))
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s went through", m)
			continue
		}
		if !errors.Is(err, proff.ErrMethodRefused) {
			t.Errorf("%s: %v, want ErrMethodRefused", m, err)
		}
	}
	if n := len(emu.Requests()); n != 0 {
		t.Fatalf("the emulator received %d requests; a refused method must not reach the network", n)
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d calls recorded for refused requests", n)
	}
	resp, err := hc.Get(emu.URL() + "/api/companies/register/NO/" + fjordlys)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, r := range emu.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("emulator log shows %s", r.Method)
		}
	}
}

func TestAuthorizationOnlyToTheBaseURL(t *testing.T) {
	t.Parallel()
	emu := proffemu.New(proffemu.Options{Token: secret})
	defer emu.Close()
	var seen []string
	var mu sync.Mutex
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer other.Close()
	hc, err := proff.NewHTTPClient(proff.Options{BaseURL: emu.URL(), Token: secret})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, other.URL+"/x", nil)
	req.Header.Set("Authorization", "Token "+secret) // even when someone set it by hand
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(seen) != 1 || seen[0] != "" {
		t.Errorf("another host received Authorization %q", seen)
	}
}

func TestTransportPolicy(t *testing.T) { // P6
	t.Parallel()
	if _, err := proff.New(proff.Options{BaseURL: "http://api.proff.example", Token: secret}); err == nil {
		t.Error("plain http to a non-loopback host was accepted")
	}
	if _, err := proff.New(proff.Options{BaseURL: "ftp://127.0.0.1", Token: secret}); err == nil {
		t.Error("ftp was accepted")
	}

	var hits atomic.Int32
	old := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	// Since Go 1.22 a server's default minimum is TLS 1.2: with only MaxVersion 1.1 it refused every
	// client, and this check could never fail. The minimum set explicitly, it really offers TLS 1.1.
	old.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	old.StartTLS()
	defer old.Close()
	pool := old.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	// The server must answer a client that allows TLS 1.1, or the refusal below proves nothing.
	lax := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS10, RootCAs: pool}}}
	resp, err := lax.Get(old.URL)
	if err != nil {
		t.Fatalf("the TLS 1.1 server refuses a client that allows TLS 1.1, so it tests nothing: %v", err)
	}
	resp.Body.Close()
	lax.CloseIdleConnections()
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS11 || hits.Load() != 1 {
		t.Fatalf("control request: TLS %+v, %d requests handled; want one at TLS 1.1", resp.TLS, hits.Load())
	}
	hits.Store(0)
	rec := &calls{}
	c, err := proff.New(proff.Options{BaseURL: old.URL, Token: secret, RootCAs: pool, Recorder: rec,
		Clock: clocktest.New(), Points: points(t, "name")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup(context.Background(), "NO", fjordlys)
	if err == nil || hits.Load() != 0 {
		t.Fatalf("TLS 1.1 server: err %v, %d requests handled; want refusal", err, hits.Load())
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error holds the token: %v", err)
	}
	if cs := rec.all(); len(cs) != 1 || cs[0].ErrorClass != transport.ClassTLS {
		t.Errorf("calls %+v; want one TLS failure, not retried", cs)
	}

	// The same client policy accepts TLS 1.2+ with a trusted certificate.
	f := setup(t, proffemu.Options{TLS: true}, nil)
	if !strings.HasPrefix(f.emu.URL(), "https://") {
		t.Fatal("emulator is not serving https")
	}
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Errorf("https emulator: %v", err)
	}
}

func TestCorrelationIDs(t *testing.T) { // P7
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	f.emu.FailNext(2, http.StatusServiceUnavailable, "")
	ctx := runctx.WithRunID(context.Background(), "run-7")
	for _, nr := range []string{fjordlys, "920000010", "930000027", "984851006"} {
		f.c.Lookup(ctx, "NO", nr)
	}
	f.c.TokenInfo(ctx)
	reqs := f.emu.Requests()
	cs := f.calls.all()
	if len(reqs) != 7 || len(cs) != len(reqs) {
		t.Fatalf("%d requests, %d calls; want 7 each", len(reqs), len(cs))
	}
	byID := map[string]transport.Call{}
	for _, c := range cs {
		byID[c.CorrelationID] = c
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		id := r.Header.Get(transport.CorrelationHeader)
		if id == "" || seen[id] {
			t.Errorf("correlation id %q missing or reused", id)
		}
		seen[id] = true
		c, ok := byID[id]
		if !ok {
			t.Errorf("no call recorded with correlation id %s", id)
			continue
		}
		if c.Service != transport.Proff || c.RunID != "run-7" || c.Method != http.MethodGet {
			t.Errorf("call %+v", c)
		}
		wantEndpoint := proff.EndpointLookup
		if strings.HasSuffix(r.Path, "tokeninformation") {
			wantEndpoint = proff.EndpointTokenInfo
		}
		if c.Endpoint != wantEndpoint {
			t.Errorf("endpoint %q, want template %q", c.Endpoint, wantEndpoint)
		}
	}
	if cs[0].Attempt != 1 || cs[1].Attempt != 2 || cs[2].Attempt != 3 || cs[2].Status != 200 {
		t.Errorf("attempts %d %d %d (status %d); want 1 2 3 ending 200", cs[0].Attempt, cs[1].Attempt, cs[2].Attempt, cs[2].Status)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	_, err := f.c.Lookup(context.Background(), "NO", "984851006")
	if !errors.Is(err, massupdate.ErrNotFound) {
		t.Fatalf("err %v, want ErrNotFound", err)
	}
	if n := len(f.emu.Requests()); n != 1 {
		t.Errorf("%d requests; a 404 is not retried", n)
	}
}

func TestInvalidNumberCostsNoCall(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	for _, tc := range []struct{ cc, nr string }{{"NO", "912345687"}, {"NO", ""}, {"DE", "123456789"}, {"SE", "5569990004?x=1"}} {
		if _, err := f.c.Lookup(context.Background(), tc.cc, tc.nr); err == nil {
			t.Errorf("Lookup(%q, %q) succeeded", tc.cc, tc.nr)
		}
	}
	if n := len(f.emu.Requests()); n != 0 {
		t.Errorf("%d requests for invalid numbers", n)
	}
}

func TestUnauthorizedStopsEveryLaterLookup(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	f.emu.RevokeToken()
	ctx := context.Background()
	_, err := f.c.Lookup(ctx, "NO", fjordlys)
	if !errors.Is(err, massupdate.ErrUnauthorized) {
		t.Fatalf("err %v, want ErrUnauthorized", err)
	}
	for _, cc := range []string{"NO", "SE"} {
		nr := map[string]string{"NO": "920000010", "SE": "5569990004"}[cc]
		if _, err := f.c.Lookup(ctx, cc, nr); !errors.Is(err, massupdate.ErrUnauthorized) {
			t.Errorf("later lookup: %v, want ErrUnauthorized", err)
		}
	}
	if _, err := f.c.TokenInfo(ctx); !errors.Is(err, massupdate.ErrUnauthorized) {
		t.Errorf("TokenInfo after 401: %v", err)
	}
	if n := len(f.emu.Requests()); n != 1 {
		t.Errorf("%d requests; after a 401 no further call may be made", n)
	}
}

func TestWrongTokenIsUnauthorized(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{Token: "the-right-token"}, nil)
	_, err := f.c.Lookup(context.Background(), "NO", fjordlys)
	if !errors.Is(err, massupdate.ErrUnauthorized) {
		t.Fatalf("err %v, want ErrUnauthorized", err)
	}
}

func TestForbiddenCountryStopsOnlyThatCountry(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{Countries: []string{"NO", "DK", "FI"}}, nil)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		_, err := f.c.Lookup(ctx, "SE", "5569990004")
		if !errors.Is(err, massupdate.ErrCountryForbidden) || !strings.Contains(err.Error(), "SE") {
			t.Fatalf("SE lookup %d: %v, want ErrCountryForbidden naming SE", i, err)
		}
	}
	if _, err := f.c.Lookup(ctx, "NO", fjordlys); err != nil {
		t.Errorf("NO lookup after SE 403: %v", err)
	}
	if _, err := f.c.Lookup(ctx, "DK", "39999900"); err != nil {
		t.Errorf("DK lookup after SE 403: %v", err)
	}
	se := 0
	for _, r := range f.emu.Requests() {
		if strings.Contains(r.Path, "/SE/") {
			se++
		}
	}
	if se != 1 {
		t.Errorf("%d SE requests; after the first 403 none may be made", se)
	}
}

func TestServerErrorsAreRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.RetryBase = time.Second })
	f.emu.FailNext(1, http.StatusInternalServerError, "")
	f.emu.FailNext(1, http.StatusBadGateway, "")
	f.emu.FailNext(1, http.StatusServiceUnavailable, "")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatalf("Lookup after three 5xx: %v", err)
	}
	if n := len(f.emu.Requests()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	// Equal jitter with Rand = 0.5: 0.75 × 1s, 2s, 4s.
	want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second}
	if got := f.clock.Sleeps(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

func TestRetriesEndWithAReason(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	f.emu.FailNext(5, http.StatusServiceUnavailable, "")
	_, err := f.c.Lookup(context.Background(), "NO", fjordlys)
	if err == nil || !strings.Contains(err.Error(), "Proff answered 503 five times") {
		t.Fatalf("err %v, want the reason", err)
	}
	for _, s := range []error{massupdate.ErrNotFound, massupdate.ErrUnauthorized, massupdate.ErrQuotaExhausted, massupdate.ErrCountryForbidden} {
		if errors.Is(err, s) {
			t.Errorf("err wraps %v", s)
		}
	}
	if n := len(f.emu.Requests()); n != 5 {
		t.Errorf("%d requests, want 5 (MaxAttempts)", n)
	}
	for _, w := range f.clock.Sleeps() {
		if w > proff.DefaultMaxRetryWait {
			t.Errorf("waited %v, beyond the cap", w)
		}
	}
}

func TestRetryAfterSecondsAndDate(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	f.emu.FailNext(1, http.StatusTooManyRequests, "7")
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatal(err)
	}
	date := f.clock.Now().Add(12 * time.Second).Format(http.TimeFormat)
	f.emu.FailNext(1, http.StatusServiceUnavailable, date)
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatal(err)
	}
	f.emu.FailNext(1, http.StatusTooManyRequests, "120") // beyond the 30 s cap, below the quota threshold
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{7 * time.Second, 12 * time.Second, 30 * time.Second}
	if got := f.clock.Sleeps(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

func TestQuotaSpent(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	f.emu.FailNext(1, http.StatusTooManyRequests, "86400")
	_, err := f.c.Lookup(context.Background(), "NO", fjordlys)
	if !errors.Is(err, massupdate.ErrQuotaExhausted) {
		t.Fatalf("err %v, want ErrQuotaExhausted", err)
	}
	if n := len(f.emu.Requests()); n != 1 || len(f.clock.Sleeps()) != 0 {
		t.Errorf("%d requests, waits %v; a spent quota is not waited for", n, f.clock.Sleeps())
	}
	// A long Retry-After on a 503 is maintenance, not quota: the run stops resumable all the same, and
	// the reason says what happened.
	f.emu.FailNext(1, http.StatusServiceUnavailable, "7200")
	_, err = f.c.Lookup(context.Background(), "NO", fjordlys)
	if !errors.Is(err, massupdate.ErrQuotaExhausted) || strings.Contains(err.Error(), "quota is spent") ||
		!strings.Contains(err.Error(), "unavailable (503)") {
		t.Errorf("503 with a two-hour Retry-After: %v", err)
	}
}

func TestMalformedAndOversizedAnswersFailTheRecord(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.MaxBody = 64 << 10 })
	f.emu.Malformed("NO", fjordlys)
	_, err := f.c.Lookup(context.Background(), "NO", fjordlys)
	if !errors.Is(err, proff.ErrMalformed) || !strings.Contains(err.Error(), "Proff sent malformed JSON") {
		t.Errorf("truncated JSON: %v", err)
	}
	f.emu.SetDocument("NO", "920000010", []byte(`{"name": "X", "padding": "`+strings.Repeat("x", 70<<10)+`"}`))
	_, err = f.c.Lookup(context.Background(), "NO", "920000010")
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized answer: %v", err)
	}
	f.emu.SetDocument("NO", "930000027", []byte(`[1,2]`))
	if _, err = f.c.Lookup(context.Background(), "NO", "930000027"); !errors.Is(err, proff.ErrMalformed) {
		t.Errorf("array answer: %v", err)
	}
	if n := len(f.emu.Requests()); n != 3 {
		t.Errorf("%d requests; a bad answer is not retried", n)
	}
}

func TestTimeoutsAreRetried(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.Timeout = 30 * time.Millisecond; o.MaxAttempts = 2 })
	f.emu.SetLatency(2 * time.Second)
	_, err := f.c.Lookup(context.Background(), "NO", fjordlys)
	if err == nil || !strings.Contains(err.Error(), "could not be reached twice (last: timeout)") {
		t.Fatalf("err %v", err)
	}
	cs := f.calls.all()
	if len(cs) != 2 || cs[0].ErrorClass != transport.ClassTimeout {
		t.Errorf("calls %+v; want two timeouts", cs)
	}
}

func TestTokenInfoAndFitRate(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{CallLimitPerMinute: 120}, func(o *proff.Options) { o.RatePerSecond = 5 })
	ti, err := f.c.TokenInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ti.CallLimit.PerMinute != 120 || ti.CallsPerformed.LastMinute != 1 {
		t.Errorf("token info %+v", ti)
	}
	if strings.Contains(fmt.Sprintf("%+v %#v", ti, ti), secret) {
		t.Error("TokenInfo holds the token string")
	}
	if err := f.c.FitRateToToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := f.c.Rate(); r != 2 {
		t.Errorf("rate %v, want 2 (120 per minute)", r)
	}
	// A token limit above the configured rate never raises it.
	g := setup(t, proffemu.Options{CallLimitPerMinute: 6000}, func(o *proff.Options) { o.RatePerSecond = 5 })
	if err := g.c.FitRateToToken(context.Background()); err != nil || g.c.Rate() != 5 {
		t.Errorf("rate %v, %v; want 5", g.c.Rate(), err)
	}
}

// TestTokenNeverLeaks drives the success path and every failure path and searches every Call, error and
// log line for the token (P1, P8).
func TestTokenNeverLeaks(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var logMu sync.Mutex
	f := setup(t, proffemu.Options{}, func(o *proff.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.MaxAttempts = 2
	})
	ctx := context.Background()
	var errs []error
	lookup := func(cc, nr string) {
		if _, err := f.c.Lookup(ctx, cc, nr); err != nil {
			errs = append(errs, err)
		}
	}
	lookup("NO", fjordlys)    // success
	lookup("NO", "984851006") // 404
	f.emu.FailNext(2, http.StatusInternalServerError, "")
	lookup("NO", fjordlys) // 500 twice
	f.emu.FailNext(1, http.StatusTooManyRequests, "999999")
	lookup("NO", fjordlys) // quota
	f.emu.Malformed("NO", "920000010")
	lookup("NO", "920000010") // malformed
	f.emu.ForbidCountry("FI")
	lookup("FI", "31234563") // 403
	f.c.TokenInfo(ctx)       // answer holds the token
	f.emu.SetDocument("DK", "39999900", []byte(`{"tokenString":"`+secret+`"}`))
	f.emu.FailOrg("DK", "39999900", 1, http.StatusBadRequest, "")
	lookup("DK", "39999900") // 400 (error body excerpt)
	f.emu.RevokeToken()
	lookup("SE", "5569990004") // 401
	lookup("SE", "5569990004") // fails fast

	if len(errs) != 8 {
		t.Errorf("%d errors, want 8: %v", len(errs), errs)
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "Token ") {
			t.Errorf("error leaks the token: %v", err)
		}
	}
	for _, c := range f.calls.all() {
		s := fmt.Sprintf("%+v", c)
		if strings.Contains(s, secret) || strings.Contains(s, "Token "+secret[:4]) {
			t.Errorf("call leaks the token: %s", s)
		}
		if c.Status == http.StatusOK && c.ErrorExcerpt != "" {
			t.Errorf("a successful call keeps a body excerpt: %q", c.ErrorExcerpt)
		}
		if strings.Contains(s, "FJORDLYS") {
			t.Errorf("a call holds a success body: %s", s)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("log leaks the token: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "rejected the API token") {
		t.Errorf("the 401 was not logged: %s", logs.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]proff.Options{
		"no token":      {BaseURL: "https://api.proff.no"},
		"negative rate": {BaseURL: "https://api.proff.no", Token: secret, RatePerSecond: -1},
		"user info":     {BaseURL: "https://u:p@api.proff.no", Token: secret},
	} {
		if _, err := proff.New(o); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error leaks the token", name)
		}
	}
	c, err := proff.New(proff.Options{Token: secret, RatePerSecond: 50})
	if err != nil || c.Rate() != 50 {
		t.Errorf("defaults: %v rate %v", err, c.Rate())
	}
}

func TestCancelStopsRetrying(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	f.emu.FailNext(5, http.StatusServiceUnavailable, "")
	ctx, cancel := context.WithCancel(context.Background())
	calls, ck := 0, clocktest.New()
	ck.OnSleep(func(context.Context, time.Duration) { calls++; cancel() })
	c, err := proff.New(proff.Options{BaseURL: f.emu.URL(), Token: secret, Points: points(t, "name"), Clock: ck})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup(ctx, "NO", fjordlys)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	if n := len(f.emu.Requests()); n != 1 || calls != 1 {
		t.Errorf("%d requests, %d waits after cancel; want 1 and 1", n, calls)
	}
}

// fixed starts a server that answers every request with h, and a client for it on a virtual clock.
func fixed(t *testing.T, h http.HandlerFunc, names ...string) (*proff.Client, *clocktest.Clock) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ck := clocktest.New()
	c, err := proff.New(proff.Options{BaseURL: srv.URL, Token: secret, RatePerSecond: 1000, Points: points(t, names...),
		Clock: ck, Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	return c, ck
}

// TestNoCompanyInEveryForm: Proff's API is ASP.NET, which answers 204 when an action returns null (or 200
// with the JSON null when that formatter is off); a 404 may come with or without a body. Each is "no such
// company", the normal not_found outcome, not a failed record.
func TestNoCompanyInEveryForm(t *testing.T) {
	t.Parallel()
	answers := map[string]http.HandlerFunc{
		"204":           func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
		"200 null":      func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(" null\n")) },
		"404 no body":   func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) },
		"404 html body": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "<html>Not Found</html>", 404) },
	}
	for name, h := range answers {
		c, _ := fixed(t, h, "name")
		_, err := c.Lookup(context.Background(), "NO", "923609016")
		if !errors.Is(err, massupdate.ErrNotFound) {
			t.Errorf("%s: %v; want ErrNotFound", name, err)
		}
	}
}

func TestByteOrderMarkIsTolerated(t *testing.T) {
	t.Parallel()
	c, _ := fixed(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/service/tokeninformation" {
			w.Write([]byte("\xef\xbb\xbf" + `{"tokenString":"x","callLimit":{"perMinute":60}}`))
			return
		}
		w.Write([]byte("\xef\xbb\xbf" + `{"name":"EQUINOR ASA"}`))
	}, "name")
	got, err := c.Lookup(context.Background(), "NO", "923609016")
	if err != nil || got["name"] != "EQUINOR ASA" {
		t.Errorf("lookup: %v, %v", got, err)
	}
	ti, err := c.TokenInfo(context.Background())
	if err != nil || ti.CallLimit.PerMinute != 60 {
		t.Errorf("token info: %+v, %v", ti, err)
	}
}

// TestTokenInfoNotFoundSaysWhy: a 404 on the token information is no missing company; it mostly means
// PROFF_API_URL points somewhere else.
func TestTokenInfoNotFoundSaysWhy(t *testing.T) {
	t.Parallel()
	c, _ := fixed(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) }, "name")
	_, err := c.TokenInfo(context.Background())
	if err == nil || errors.Is(err, massupdate.ErrNotFound) || !strings.Contains(err.Error(), "PROFF_API_URL") {
		t.Errorf("token info on 404: %v", err)
	}
}

// TestRateLimitedWithoutRetryAfterWaitsOutTheMinute: Proff's limits are per token and minute, and nothing
// says a 429 names a Retry-After. The waits after such a 429 span the minute (5 s doubling to the 30 s cap),
// so a full minute window costs time, not the record.
func TestRateLimitedWithoutRetryAfterWaitsOutTheMinute(t *testing.T) {
	t.Parallel()
	ck := clocktest.New()
	start := ck.Now()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		if ck.Now().Sub(start) < time.Minute {
			w.WriteHeader(http.StatusTooManyRequests) // the minute's calls are spent; no Retry-After
			return
		}
		w.Write([]byte(`{"name":"EQUINOR ASA"}`))
	}))
	defer srv.Close()
	c, err := proff.New(proff.Options{BaseURL: srv.URL, Token: secret, RatePerSecond: 1000, Points: points(t, "name"),
		Clock: ck, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Lookup(context.Background(), "NO", "923609016")
	if err != nil || got["name"] != "EQUINOR ASA" {
		t.Fatalf("lookup after a full minute: %v, %v", got, err)
	}
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second}
	if got := ck.Sleeps(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
}

// TestRateLimitedHoldsEveryWorkerBack: the token's window is full for every worker, not only the one that
// got the 429: another lookup waits until the pause has passed, Retry-After or not.
func TestRateLimitedHoldsEveryWorkerBack(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	answered := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		answered++
		first := answered == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(`{"name":"X AS"}`))
	}))
	defer srv.Close()
	var c *proff.Client
	var other error
	ck, sleeps := clocktest.New(), 0
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
	c, err = proff.New(proff.Options{BaseURL: srv.URL, Token: secret, RatePerSecond: 1000, Points: points(t, "name"),
		Clock: ck, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(context.Background(), "NO", "923609016"); err != nil || other != nil {
		t.Fatalf("lookups: %v, %v", err, other)
	}
	if waits := ck.Sleeps(); len(waits) < 2 || waits[0] != 5*time.Second || waits[1] != 5*time.Second {
		t.Errorf("waits %v; want the second worker held back 5s by the first one's 429", waits)
	}
}

// TestRateLimitedForOverAMinuteIsASpentQuota: 429 on every try, past the turn of the minute, is an hourly,
// daily or monthly quota: the run stops (resumable) instead of spending a minute on every further record.
func TestRateLimitedForOverAMinuteIsASpentQuota(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	n := 0
	c, ck := fixed(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		w.WriteHeader(http.StatusTooManyRequests)
	}, "name")
	_, err := c.Lookup(context.Background(), "NO", "923609016")
	if !errors.Is(err, massupdate.ErrQuotaExhausted) {
		t.Errorf("err %v, want ErrQuotaExhausted", err)
	}
	var total time.Duration
	for _, w := range ck.Sleeps() {
		total += w
	}
	mu.Lock()
	defer mu.Unlock()
	if n != proff.DefaultMaxAttempts || total < time.Minute {
		t.Errorf("%d requests over %v; want %d over at least a minute", n, total, proff.DefaultMaxAttempts)
	}
}

// TestTokenPastedWithItsScheme: the documentation writes the header as "Authorization : Token [YOUR_TOKEN]",
// and people paste "Token …" as the token; the scheme goes once.
func TestTokenPastedWithItsScheme(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.Token = "Token  " + secret })
	if _, err := f.c.Lookup(context.Background(), "NO", fjordlys); err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if h := f.emu.Requests()[0].Header.Get("Authorization"); h != "Token "+secret {
		t.Errorf("Authorization %q", strings.Replace(h, secret, "<secret>", 1))
	}
}

// TestEveryPathSendsOnlyTheLookupValues (P2, P3) covers what the first P2 test does not: retries after
// 5xx and 429, the token information call, a 404 and a 401. Every request the emulator saw is a GET of
// one of the two path shapes, with no query, no body and only the expected headers.
func TestEveryPathSendsOnlyTheLookupValues(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	ctx := context.Background()
	f.emu.FailNext(1, http.StatusServiceUnavailable, "")
	f.emu.FailNext(1, http.StatusTooManyRequests, "1")
	f.emu.FailNext(1, http.StatusBadGateway, "")
	if _, err := f.c.Lookup(ctx, "NO", fjordlys); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.TokenInfo(ctx); err != nil {
		t.Fatal(err)
	}
	f.emu.FailNext(1, http.StatusServiceUnavailable, "")
	f.c.TokenInfo(ctx)
	f.c.Lookup(ctx, "SE", "SE 556012-5790 01") // unknown: 404 for the digits and for the hyphenated form
	f.emu.RevokeToken()
	f.c.Lookup(ctx, "FI", "0112038-9") // 401
	shape := regexp.MustCompile(`^/api/(companies/register/(NO|SE|DK|FI)/([0-9]{8,10}|[0-9]{6}-[0-9]{4}|[0-9]{7}-[0-9])|service/tokeninformation)$`)
	allowed := map[string]bool{"Authorization": true, "Accept": true, "Correlation-Id": true, "User-Agent": true,
		"Accept-Encoding": true}
	reqs := f.emu.Requests()
	if len(reqs) != 10 {
		t.Errorf("%d requests, want 10 (4 tries, 1 + 2 token information, two 404s, a 401)", len(reqs))
	}
	for i, r := range reqs {
		if r.Method != http.MethodGet || !shape.MatchString(r.Path) || r.RawQuery != "" || len(r.Body) != 0 {
			t.Errorf("request %d: %s %s?%s body %q", i, r.Method, r.Path, r.RawQuery, r.Body)
		}
		for h := range r.Header {
			if !allowed[h] {
				t.Errorf("request %d carries header %s", i, h)
			}
		}
	}
}

// TestCompressedAnswers: Go's transport asks for gzip, and Proff's front end compresses (chunked, with no
// Content-Length). The document is read decompressed, and the size cap holds for the decompressed size,
// so a small compressed answer cannot blow up memory.
func TestCompressedAnswers(t *testing.T) {
	t.Parallel()
	var big atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Errorf("Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		gz.Write([]byte(`{"name":"EQUINOR ASA","padding":"`))
		if big.Load() {
			gz.Write(bytes.Repeat([]byte(" "), 2<<20)) // 2 MiB that compress to a few KB
		}
		gz.Write([]byte(`"}`))
	}))
	defer srv.Close()
	c, err := proff.New(proff.Options{BaseURL: srv.URL, Token: secret, Points: points(t, "name"), MaxBody: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Lookup(context.Background(), "NO", "923609016")
	if err != nil || got["name"] != "EQUINOR ASA" {
		t.Fatalf("gzip answer: %v, %v", got, err)
	}
	big.Store(true)
	if _, err := c.Lookup(context.Background(), "NO", "923609016"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("2 MiB decompressed: %v", err)
	}
}

// TestRateLimitedRetryAfterZero: a 429 with "Retry-After: 0" (a window rounded down) is not retried at
// once, where every try would meet the same full second.
func TestRateLimitedRetryAfterZero(t *testing.T) {
	t.Parallel()
	ck := clocktest.New()
	start := ck.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ck.Now().Sub(start) < 900*time.Millisecond {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(`{"name":"EQUINOR ASA"}`))
	}))
	defer srv.Close()
	c, err := proff.New(proff.Options{BaseURL: srv.URL, Token: secret, RatePerSecond: 1000, Points: points(t, "name"),
		Clock: ck, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(context.Background(), "NO", "923609016"); err != nil {
		t.Fatalf("lookup: %v (waits %v)", err, ck.Sleeps())
	}
	if w := ck.Sleeps(); len(w) != 1 || w[0] != time.Second {
		t.Errorf("waits %v, want one of 1s", w)
	}
}
