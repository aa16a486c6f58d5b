// Package proffemu is a Proff API emulator for tests and the demo: a real HTTP server that answers the
// register lookup, the token information and the change feed endpoints in the shape of the real API
// (documents built on proff-register-company-example.json), seeded with fictional companies in all four
// countries, with companies that change over simulated days (Mutate, Add, Remove, Noise: feed.go), fault
// injection and a record of every request it received, so tests can assert what left proffsync (P2, P3, P7).
//
// What must never happen here: real company or person data (every seeded value is fictional), or anything
// that production code depends on: only tests and the demo sandbox import this package.
package proffemu

import (
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/proffconnect/proffsync/internal/orgnr"
)

//go:embed template.json
var template []byte

// Options configure the emulator.
type Options struct {
	Token     string   // the one token accepted; "test-token" when empty
	Countries []string // the countries of the token's agreement; all four when empty
	// Empty starts with no company; otherwise the Seed companies are loaded.
	Empty bool
	// TLS serves https with a self-signed certificate (CertPool trusts it).
	TLS bool
	// CallLimitPerMinute is what tokeninformation reports; 600 when 0.
	CallLimitPerMinute int
	// EnforceLimit answers 429, without Retry-After (Proff documents none), to an authorised request when
	// more than CallLimitPerMinute requests arrived in the minute before it, as a per-token limit does.
	// Off by default: the limit is only reported.
	EnforceLimit bool
	Now          func() time.Time
}

// Request is one request as the emulator received it.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	At       time.Time
}

type fault struct {
	n          int
	status     int
	retryAfter string
}

type key struct{ country, orgnr string }

// Server is a running emulator.
type Server struct {
	srv       *httptest.Server
	h         http.Handler
	now       func() time.Time
	mu        sync.Mutex
	token     string
	revoked   bool
	countries map[string]bool
	docs      map[key][]byte
	latency   time.Duration
	next      []fault
	perOrg    map[key]*fault
	limit     int
	enforce   bool
	requests  []Request
	forms     map[string]numberForms // per country; digits only when absent

	// The change feed (feed.go).
	feed            []feedEntry
	feedCountries   map[string]bool
	feedUnsupported int
	feedHref        HrefForm
	feedPageSize    int
	scrolls         map[string]scroll
	patchSeq        int
	scrollSeq       int
	noiseSeq        int
}

// New starts an emulator on a loopback port.
func New(o Options) *Server {
	s := &Server{token: o.Token, countries: map[string]bool{}, docs: map[key][]byte{}, perOrg: map[key]*fault{},
		limit: o.CallLimitPerMinute, enforce: o.EnforceLimit, now: o.Now,
		feedCountries: map[string]bool{"NO": true}, feedUnsupported: http.StatusBadRequest,
		feedPageSize: DefaultFeedPageSize, scrolls: map[string]scroll{}}
	if s.token == "" {
		s.token = "test-token"
	}
	if s.limit == 0 {
		s.limit = 600
	}
	if s.now == nil {
		s.now = time.Now
	}
	cs := o.Countries
	if len(cs) == 0 {
		cs = []string{"NO", "SE", "DK", "FI"}
	}
	for _, c := range cs {
		s.countries[strings.ToUpper(c)] = true
	}
	if !o.Empty {
		for _, d := range seedDocs() {
			s.SetDocument(d.country, d.orgnr, d.doc)
		}
	}
	s.h = http.HandlerFunc(s.serve)
	if o.TLS {
		s.srv = httptest.NewTLSServer(s.h)
	} else {
		s.srv = httptest.NewServer(s.h)
	}
	return s
}

// URL is the base URL to configure the client with.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Handler is the emulator's handler, for serving it elsewhere (the demo).
func (s *Server) Handler() http.Handler { return s.h }

// Token returns the accepted token.
func (s *Server) Token() string { return s.token }

// CertPool trusts the emulator's certificate (Options.TLS); nil otherwise.
func (s *Server) CertPool() *x509.CertPool {
	if s.srv.Certificate() == nil {
		return nil
	}
	p := x509.NewCertPool()
	p.AddCert(s.srv.Certificate())
	return p
}

// AddCompany adds (or replaces) a company, built into a register document with Document.
func (s *Server) AddCompany(c Company) {
	s.SetDocument(c.Country, c.OrgNumber, Document(c))
}

// SetDocument serves doc, as is, for that company: malformed or odd documents for decoding tests.
func (s *Server) SetDocument(country, orgNumber string, doc []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[key{strings.ToUpper(country), orgNumber}] = append([]byte(nil), doc...)
}

// RemoveCompany makes that number unknown again (404).
func (s *Server) RemoveCompany(country, orgNumber string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.docs, key{strings.ToUpper(country), orgNumber})
}

// Malformed makes that company's document a truncated JSON text.
func (s *Server) Malformed(country, orgNumber string) {
	k := key{strings.ToUpper(country), orgNumber}
	s.mu.Lock()
	defer s.mu.Unlock()
	doc := s.docs[k]
	if len(doc) < 2 {
		doc = template
	}
	s.docs[k] = append([]byte(nil), doc[:len(doc)/2]...)
}

// SetLatency delays every answer by d (a cancelled request stops waiting).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext answers the next n authorised requests with status and, when not empty, a Retry-After header.
// Calls queue up: FailNext(2, 503, "") then FailNext(1, 429, "5") gives 503, 503, 429.
func (s *Server) FailNext(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = append(s.next, fault{n: n, status: status, retryAfter: retryAfter})
}

// FailOrg answers the next n authorised lookups of one company with status (and Retry-After).
func (s *Server) FailOrg(country, orgNumber string, n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perOrg[key{strings.ToUpper(country), orgNumber}] = &fault{n: n, status: status, retryAfter: retryAfter}
}

// numberForms says which forms of an organisation number a country's lookups answer to.
type numberForms struct{ digits, hyphenated bool }

// NumberForms sets which forms of a country's organisation numbers the lookup answers to: the digits
// (5560125790), the hyphenated form as the register writes it (556012-5790, FI 3123456-3), or both. Proff's
// form for SE and FI is not documented; the default is digits only. The other form answers 404.
func (s *Server) NumberForms(country string, digits, hyphenated bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forms == nil {
		s.forms = map[string]numberForms{}
	}
	s.forms[strings.ToUpper(country)] = numberForms{digits: digits, hyphenated: hyphenated}
}

// canonicalPathNumber maps the number of a lookup path onto the key the documents are kept under, or
// reports that this form is not one the country answers to.
func (s *Server) canonicalPathNumber(cc, nr string) (string, bool) {
	s.mu.Lock()
	f, set := s.forms[cc]
	s.mu.Unlock()
	if !set {
		f = numberForms{digits: true}
	}
	if !strings.Contains(nr, "-") {
		return nr, f.digits
	}
	d := strings.ReplaceAll(nr, "-", "")
	return d, f.hyphenated && orgnr.Display(orgnr.Country(cc), d) == nr
}

// RevokeToken makes every later request answer 401.
func (s *Server) RevokeToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = true
}

// ForbidCountry takes a country out of the token's agreement: its lookups answer 403.
func (s *Server) ForbidCountry(cc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.countries, strings.ToUpper(cc))
}

// Requests returns a copy of every request received, in order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

const lookupPrefix = "/api/companies/register/"

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, At: s.now()})
	latency := s.latency
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	s.mu.Lock()
	authorised := !s.revoked && r.Header.Get("Authorization") == "Token "+s.token
	s.mu.Unlock()
	if !authorised {
		writeError(w, http.StatusUnauthorized, "invalid token")
		return
	}
	if s.overLimit() {
		writeError(w, http.StatusTooManyRequests, "call limit per minute exceeded")
		return
	}
	switch {
	case r.URL.Path == "/api/service/tokeninformation":
		if s.fault(w, key{}) {
			return
		}
		s.tokenInformation(w)
	case strings.HasPrefix(r.URL.Path, feedPrefix):
		cc := strings.TrimPrefix(r.URL.Path, feedPrefix)
		if cc == "" || strings.Contains(cc, "/") {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		if s.fault(w, key{}) {
			return
		}
		s.serveFeed(w, r)
	case strings.HasPrefix(r.URL.Path, lookupPrefix):
		cc, nr, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, lookupPrefix), "/")
		if !ok || nr == "" || strings.Contains(nr, "/") {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		if _, known := orgnr.ParseCountry(cc); !known || len(cc) != 2 || strings.ToUpper(cc) != cc {
			writeError(w, http.StatusBadRequest, "country must be one of NO, SE, DK, FI")
			return
		}
		nr, answers := s.canonicalPathNumber(cc, nr)
		k := key{cc, nr}
		if s.fault(w, k) {
			return
		}
		s.mu.Lock()
		allowed := s.countries[cc]
		doc, found := s.docs[k]
		s.mu.Unlock()
		found = found && answers
		switch {
		case !allowed:
			writeError(w, http.StatusForbidden, "country not included in agreement")
		case !found:
			writeError(w, http.StatusNotFound, "company not found")
		default:
			w.WriteHeader(http.StatusOK)
			w.Write(doc)
		}
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

// overLimit reports whether more than the per-minute limit of requests (this one included) arrived in the
// last minute, when the limit is enforced.
func (s *Server) overLimit() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.enforce {
		return false
	}
	since, n := s.now().Add(-time.Minute), 0
	for i := len(s.requests) - 1; i >= 0 && s.requests[i].At.After(since); i-- {
		n++
	}
	return n > s.limit
}

// fault answers with an injected failure when one is due; per-company faults go first.
func (s *Server) fault(w http.ResponseWriter, k key) bool {
	s.mu.Lock()
	var f *fault
	if pf := s.perOrg[k]; pf != nil && pf.n > 0 {
		pf.n--
		f = &fault{status: pf.status, retryAfter: pf.retryAfter}
	} else if len(s.next) > 0 {
		f = &fault{status: s.next[0].status, retryAfter: s.next[0].retryAfter}
		if s.next[0].n--; s.next[0].n <= 0 {
			s.next = s.next[1:]
		}
	}
	s.mu.Unlock()
	if f == nil {
		return false
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	writeError(w, f.status, http.StatusText(f.status))
	return true
}

func (s *Server) tokenInformation(w http.ResponseWriter) {
	s.mu.Lock()
	now := s.now()
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, -1)
	var minute, hour, day, period int
	for _, r := range s.requests {
		if !r.At.Before(start) {
			period++
		}
		age := now.Sub(r.At)
		if age <= time.Minute {
			minute++
		}
		if age <= time.Hour {
			hour++
		}
		if age <= 24*time.Hour {
			day++
		}
	}
	limit := s.limit
	token := s.token
	s.mu.Unlock()
	// The real answer echoes the token: clients must drop it, and tests check they do.
	json.NewEncoder(w).Encode(map[string]any{
		"tokenString": token,
		"callLimit": map[string]any{"perMinute": limit, "perHour": limit * 60, "perDay": limit * 60 * 24,
			"perMonth": limit * 60 * 24 * 30, "perYear": limit * 60 * 24 * 365, "perPeriod": 0},
		"callsPerformed": map[string]any{"lastMinute": minute, "lastHour": hour, "lastDay": day,
			"lastMonth": day, "lastYear": day,
			"period": map[string]any{"start": dateOnly(start), "end": dateOnly(end), "calls": period}},
	})
}

// dateOnly is a date as .NET's DateOnly serialises it, the shape the OpenAPI gives Period.start and end.
func dateOnly(t time.Time) map[string]any {
	// DayNumber counts days from 0001-01-01; 1970-01-01 is day 719162.
	days := 719162 + t.Unix()/86400
	return map[string]any{"year": t.Year(), "month": int(t.Month()), "day": t.Day(),
		"dayOfWeek": int(t.Weekday()), "dayOfYear": t.YearDay(), "dayNumber": days}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":%q}`, msg)
}
