package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/runctx"
)

type calls struct {
	mu sync.Mutex
	cs []Call
}

func (c *calls) RecordCall(_ context.Context, call Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cs = append(c.cs, call)
}

func (c *calls) all() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.cs...)
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	ok := []string{"https://api.proff.no", "http://127.0.0.1:8080/x", "http://localhost:1", "http://[::1]:9/", "http://127.9.9.9"}
	bad := []string{"http://api.proff.no", "http://10.0.0.1", "ftp://x", "https://", "http://localhost.example.com", "://"}
	for _, u := range ok {
		if err := CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", u, err)
		}
	}
	for _, u := range bad {
		if err := CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) accepted", u)
		}
	}
}

// P6: a plain http URL to a non-loopback host is refused before anything reaches the network.
func TestRefusesPlainHTTPToRemoteHostBeforeTheNetwork(t *testing.T) {
	t.Parallel()
	rec := &calls{}
	base := roundTripFunc(func(*http.Request) (*http.Response, error) {
		t.Error("the request reached the network")
		return nil, errors.New("unreachable")
	})
	c := NewClient(Options{Service: Proff, Recorder: rec, Base: base})
	_, err := c.Get("http://api.proff.no/api/companies/register/NO/923609016")
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v, want ErrRefused", err)
	}
	cs := rec.all()
	if len(cs) != 1 || cs[0].ErrorClass != ClassRefused || cs[0].Status != 0 {
		t.Fatalf("calls = %+v", cs)
	}
	if strings.Contains(cs[0].Endpoint, "923609016") {
		t.Errorf("endpoint %q keeps the org number", cs[0].Endpoint)
	}
}

// P6: a server that offers only TLS 1.1 is refused.
func TestRefusesTLSBelow12(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	srv.StartTLS()
	defer srv.Close()
	rec := &calls{}
	c := NewClient(Options{Service: Salesforce, Recorder: rec, RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	resp, err := c.Get(srv.URL + "/services/data/v62.0/limits")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 server was accepted")
	}
	cs := rec.all()
	if len(cs) != 1 || cs[0].ErrorClass != ClassTLS {
		t.Fatalf("calls = %+v", cs)
	}
	// The same server at TLS 1.2 is fine: the refusal is about the version, not the certificate.
	srv12 := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer srv12.Close()
	c12 := NewClient(Options{Service: Salesforce, RootCAs: srv12.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	resp, err = c12.Get(srv12.URL)
	if err != nil {
		t.Fatalf("TLS 1.2 server: %v", err)
	}
	resp.Body.Close()
}

// P7 and P8: a fresh Correlation-ID on every request, the same id in its Call; an error body is kept only
// as a scrubbed excerpt; a success body never.
func TestCorrelationIDAndCallRows(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get(CorrelationHeader)] = true
		mu.Unlock()
		w.Header().Set("Sforce-Limit-Info", "api-usage=25/5000")
		if strings.HasSuffix(r.URL.Path, "/fail") {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"message":"bad Token s3cr3t-token-value-0123 and Bearer abc.def.ghi.jkl.mno","secret":"shh-its-a-secret"}`)
			return
		}
		io.WriteString(w, `{"name":"SUCCESS BODY"}`)
	}))
	defer srv.Close()
	rec := &calls{}
	c := NewClient(Options{Service: Salesforce, Recorder: rec, Secrets: []string{"shh-its-a-secret"}})
	for i := 0; i < 5; i++ {
		ctx := WithAttempt(WithEndpoint(runctx.WithRunID(context.Background(), "run-1"), "GET /thing/{id}"), i+1)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/thing/001AAA", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/services/data/v62.0/sobjects/Account/001XYZ/fail", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "shh-its-a-secret") {
		t.Errorf("the caller must still get the whole error body, got %q", body)
	}
	cs := rec.all()
	if len(cs) != 6 || len(seen) != 6 {
		t.Fatalf("%d calls, %d distinct ids at the server", len(cs), len(seen))
	}
	for i, c := range cs[:5] {
		if !seen[c.CorrelationID] || c.RunID != "run-1" || c.Endpoint != "GET /thing/{id}" || c.Attempt != i+1 ||
			c.Status != 200 || c.ErrorExcerpt != "" || c.APIUsed != 25 || c.APIMax != 5000 {
			t.Errorf("call %d = %+v", i, c)
		}
	}
	last := cs[5]
	if last.Endpoint != "GET /services/data/v62.0/sobjects/Account/{id}/fail" || last.ErrorClass != ClassClient || last.Status != 401 {
		t.Errorf("error call = %+v", last)
	}
	for _, leak := range []string{"s3cr3t-token-value", "abc.def.ghi", "shh-its-a-secret", "SUCCESS BODY"} {
		for _, c := range cs {
			if strings.Contains(c.ErrorExcerpt, leak) || strings.Contains(c.Endpoint, leak) {
				t.Errorf("call keeps %q: %+v", leak, c)
			}
		}
	}
	if !strings.Contains(last.ErrorExcerpt, "Token ****") {
		t.Errorf("excerpt = %q", last.ErrorExcerpt)
	}
}

func TestParseLimitInfo(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]int64{
		"api-usage=25/5000":                                       {25, 5000},
		"api-usage=110018/100000; api-bursts=1/750":               {110018, 100000}, // usage beyond the allocation in a burst
		"api-usage=25/5000; per-app-api-usage=17/250(appName=x)":  {25, 5000},
		"per-app-api-usage=17/250(appName=x); api-usage=906/1000": {906, 1000},
		"api-usage=906/1000;api-bursts=1/750":                     {906, 1000},
		"  api-usage = 906 / 1000 ;  api-bursts=1/750 ":           {906, 1000},
		"api-usage=1/15000, per-app-api-usage=1/100(appName=x)":   {1, 15000},
		"per-app-api-usage=17/250(appName=x)":                     {0, 0},
		"":                                                        {0, 0},
		"api-usage=x/5":                                           {0, 0},
	} {
		u, m := ParseLimitInfo(in)
		if u != want[0] || m != want[1] {
			t.Errorf("ParseLimitInfo(%q) = %d/%d", in, u, m)
		}
	}
}

func TestCorrelationIDsAreUUIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewCorrelationID()
		if len(id) != 36 || id[14] != '4' || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestTally(t *testing.T) {
	t.Parallel()
	next := &calls{}
	var tl Tally
	tl.Next = next
	tl.RecordCall(context.Background(), Call{Service: Proff})
	tl.RecordCall(context.Background(), Call{Service: Salesforce, APIUsed: 10, APIMax: 100})
	tl.RecordCall(context.Background(), Call{Service: Salesforce})
	p, s := tl.Counts()
	u, m, ok := tl.APIUsage()
	if p != 1 || s != 2 || u != 10 || m != 100 || !ok || len(next.all()) != 3 {
		t.Errorf("tally: %d %d %d/%d %v, forwarded %d", p, s, u, m, ok, len(next.all()))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A request cut off by http.Client.Timeout is logged as a timeout, not as a network error.
func TestClientTimeoutIsClassifiedAsTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	rec := &calls{}
	c := NewClient(Options{Service: Proff, Recorder: rec, Timeout: 50 * time.Millisecond})
	if _, err := c.Get(srv.URL + "/api/x"); err == nil {
		t.Fatal("no timeout")
	}
	cs := rec.all()
	if len(cs) != 1 || cs[0].ErrorClass != ClassTimeout {
		t.Fatalf("calls = %+v", cs)
	}
}
