package transport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// P8: a Call has exactly the technical-log fields README: Privacy guarantees, P8 lists. A new field (a header,
// a body) must be a decision taken here, with the README, not something a refactor slips in.
func TestCallHoldsOnlyTheTechnicalLogFields(t *testing.T) {
	t.Parallel()
	want := []string{"APIMax", "APIUsed", "Attempt", "CorrelationID", "Duration", "Endpoint", "ErrorClass",
		"ErrorExcerpt", "Method", "RunID", "Service", "StartedAt", "Status"}
	var got []string
	ct := reflect.TypeFor[Call]()
	for i := 0; i < ct.NumField(); i++ {
		got = append(got, ct.Field(i).Name)
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Call has fields %v, want exactly %v", got, want)
	}
}

// P8: whatever a Call holds, in any field, never includes a success body, a request or response header
// value, or more than MaxExcerpt bytes of an error body (a 1 MiB answer included); the caller still reads
// every byte of it.
func TestCallsKeepNoBodyNoHeaderAndABoundedExcerpt(t *testing.T) {
	t.Parallel()
	const (
		successBody = "SUCCESS-BODY-recognisable-0042"
		respHeader  = "RESPONSE-HEADER-recognisable-0043"
		reqHeader   = "REQUEST-HEADER-recognisable-0044"
		token       = "TOKEN-recognisable-000000000045"
	)
	big := "ERROR " + strings.Repeat("x", 1<<20) + " END"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "sid="+respHeader)
		w.Header().Set("X-Echo", r.Header.Get("X-Custom")+" "+r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/big":
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, big)
		case "/echo":
			// A server that quotes the credential back in its error.
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"bad request","auth":"`+r.Header.Get("Authorization")+`"}`)
		default:
			io.WriteString(w, successBody)
		}
	}))
	defer srv.Close()
	rec := &calls{}
	c := NewClient(Options{Service: Proff, Recorder: rec, Secrets: []string{token}})
	bodies := map[string]string{}
	for _, path := range []string{"/ok", "/big", "/echo"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Token "+token)
		req.Header.Set("X-Custom", reqHeader)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bodies[path] = string(b)
	}
	if bodies["/big"] != big || bodies["/ok"] != successBody {
		t.Errorf("the caller did not get the whole body back (%d bytes of %d)", len(bodies["/big"]), len(big))
	}
	cs := rec.all()
	if len(cs) != 3 {
		t.Fatalf("%d calls", len(cs))
	}
	for _, call := range cs {
		v := reflect.ValueOf(call)
		for i := 0; i < v.NumField(); i++ {
			text := strings.ToLower(stringOf(v.Field(i)))
			for _, leak := range []string{successBody, respHeader, reqHeader, token, "sid="} {
				if strings.Contains(text, strings.ToLower(leak)) {
					t.Errorf("Call.%s keeps %q: %q", v.Type().Field(i).Name, leak, text)
				}
			}
		}
		// The bound the README documents (Privacy guarantees, P8), written out: raising MaxExcerpt must fail here.
		if n := len(call.ErrorExcerpt); n > 200+len("…") || MaxExcerpt > 200 {
			t.Errorf("an excerpt of %d bytes (MaxExcerpt %d), more than the documented 200", n, MaxExcerpt)
		}
	}
	if big := cs[1]; !strings.HasPrefix(big.ErrorExcerpt, "ERROR xxx") || !strings.HasSuffix(big.ErrorExcerpt, "…") {
		t.Errorf("the excerpt of the 1 MiB error is %q, want its start, cut", big.ErrorExcerpt)
	}
	if echo := cs[2]; !strings.Contains(echo.ErrorExcerpt, "bad request") {
		t.Errorf("the echo's excerpt lost the error itself: %q", echo.ErrorExcerpt)
	}
}

func stringOf(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int64:
		return ""
	default:
		if d, ok := v.Interface().(time.Duration); ok {
			return d.String()
		}
		if tm, ok := v.Interface().(time.Time); ok {
			return tm.String()
		}
		return reflect.ValueOf(v.Interface()).String()
	}
}

// A secret that straddles the excerpt's cut is still scrubbed: the scrub runs before anything is cut, and
// a body read only in part loses a secret's beginning at its end.
func TestExcerptNeverKeepsPartOfASecret(t *testing.T) {
	t.Parallel()
	const secret = "STRADDLING-SECRET-recognisable-0046"
	rt := &RoundTripper{Secrets: []string{secret}}
	for cut := 0; cut < len(secret); cut++ {
		// The secret begins just before MaxExcerpt, and (read only in part) before excerptHead.
		for _, tc := range []struct {
			s       string
			partial bool
		}{
			{strings.Repeat("a", MaxExcerpt-cut) + secret + " tail", false},
			{strings.Repeat("b", excerptHead-cut) + secret[:cut], true},
			{strings.Repeat(" ", excerptHead-cut-4) + "abc " + secret[:cut], true},
		} {
			got := rt.excerpt(tc.s, tc.partial)
			if cut >= 4 && strings.Contains(got, secret[:min(cut, 4)]) || strings.Contains(got, secret[:len(secret)/2]) {
				t.Errorf("cut %d: excerpt %q keeps part of the secret", cut, got)
			}
		}
	}
}
