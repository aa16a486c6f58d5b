// Package sfemu is a Salesforce emulator: a real HTTP server that speaks the wire formats of the Salesforce
// REST API as proffsync meets them (Salesforce's REST API documentation): the OAuth 2.0 token endpoint
// (client_credentials, JWT bearer, username-password), SOQL query with paging, describe, single and
// collection PATCH with per-record results, /limits and Sforce-Limit-Info, plus fault injection (session
// expiry, row locks, validation rules, request limit, 5xx, latency) and a record of every request.
//
// It exists for tests and the demo sandbox. Nothing in production code may depend on it, and it must never
// be reachable from outside the process's loopback listener.
package sfemu

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/proffconnect/proffsync/internal/mapping"
)

// Options configure the emulated org.
type Options struct {
	// Credentials the token endpoint accepts. ClientID and ClientSecret identify the connected app;
	// Username and Password the integration user (password flow); JWTPublicKey verifies JWT assertions.
	ClientID, ClientSecret, Username, Password string
	JWTPublicKey                               *rsa.PublicKey
	// APIUsed and APIMax seed the daily API allocation (default 0 of 100000).
	APIUsed, APIMax int64
	// Now is the clock for record timestamps and JWT expiry; time.Now when nil.
	Now func() time.Time
	// LimitInfo is the form of the Sforce-Limit-Info header (default LimitInfoBursts, a real org's form).
	LimitInfo LimitInfoForm
}

// LimitInfoForm is one of the forms Salesforce gives Sforce-Limit-Info, so that
// tests meet each of them: the pairs are separated by "; ", and a client that splits on "," alone misses
// api-usage and with it the API reserve.
type LimitInfoForm int

const (
	LimitInfoBursts LimitInfoForm = iota // "api-usage=U/M; api-bursts=1/750"
	LimitInfoPerApp                      // "api-usage=U/M; per-app-api-usage=17/250(appName=proffsync)"
	LimitInfoPlain                       // "api-usage=U/M"
	LimitInfoComma                       // "api-usage=U/M, api-bursts=1/750": not Salesforce's, tolerated by clients
)

func (f LimitInfoForm) header(used, max int64) string {
	switch f {
	case LimitInfoPerApp:
		return fmt.Sprintf("api-usage=%d/%d; per-app-api-usage=17/250(appName=proffsync)", used, max)
	case LimitInfoPlain:
		return fmt.Sprintf("api-usage=%d/%d", used, max)
	case LimitInfoComma:
		return fmt.Sprintf("api-usage=%d/%d, api-bursts=1/750", used, max)
	}
	return fmt.Sprintf("api-usage=%d/%d; api-bursts=1/750", used, max)
}

// Request is one request as the emulator received it, for assertions (bodies included: test data only).
type Request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// Server is a running emulator.
type Server struct {
	opts Options
	ts   *httptest.Server

	mu         sync.Mutex
	objects    map[string]*object // lower-case name → object
	tokens     map[string]bool
	cursors    map[string]*cursor
	open       []string // locators of the open cursors, oldest first
	nextID     int64
	nextCursor int64
	apiUsed    int64
	apiMax     int64
	limitHit   bool
	failN      int
	failStatus int
	failErr    *apiError // FailNextWith's answer, nil for FailNext's
	latency    time.Duration
	locks      map[string]int
	validation map[string]string
	requests   []Request
	logins     int
	badRecord  string // CorruptNextRecord's JSON, "" when off
}

type cursor struct {
	q        *query
	version  string
	lastID   string // Id order: resume after this Id
	returned int    // records returned so far (the offset in nextRecordsUrl)
	total    int
	batch    int
	locator  string    // "" until a second page is needed
	used     time.Time // the last page served: a locator idle for 15 minutes expires
	sorted   []*record // other orders: the whole sorted result, taken at query time
}

// New starts an emulator on a loopback port.
func New(o Options) *Server {
	if o.APIMax == 0 {
		o.APIMax = 100000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		opts:       o,
		objects:    map[string]*object{"account": newAccount(), "lead": newLead(), "contact": newContact(), "company__c": newCompany()},
		tokens:     map[string]bool{},
		cursors:    map[string]*cursor{},
		apiUsed:    o.APIUsed,
		apiMax:     o.APIMax,
		locks:      map[string]int{},
		validation: map[string]string{},
	}
	// The org's own record takes no number from the counter, so that the Ids tests mint stay as they were.
	org, id, now := newOrganization(), makeID("00D", 1), formatTime(o.Now())
	org.ids, org.recs[id] = []string{id}, &record{values: map[string]any{"Id": id, "IsDeleted": false, "Name": "Proffsync Emulated Org",
		"DefaultCurrencyIsoCode": "NOK", "CreatedDate": now, "LastModifiedDate": now, "SystemModstamp": now}}
	s.objects["organization"] = org
	s.ts = httptest.NewServer(s.Handler())
	return s
}

// URL is the base URL: the login URL and the instance URL at once. (Mounted through Handler on another
// listener, the token answer names that listener as the instance.)
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

// Handler serves the emulated API (for mounting on another listener, e.g. TLS in tests).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// ---- data ----

// AddRecord stores a record and returns its new 18-character Id; Ids increase, so ORDER BY Id follows the
// order of insertion. Field names are matched without case; an unknown field panics (a broken test setup).
func (s *Server) AddRecord(object string, fields map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[strings.ToLower(object)]
	if o == nil {
		panic("sfemu: unknown object " + object)
	}
	s.nextID++
	id := makeID(o.keyPrefix, s.nextID)
	vals := map[string]any{}
	for _, f := range o.fields {
		if f.Default != nil {
			vals[f.Name] = f.Default
		}
	}
	for k, v := range fields {
		f := o.field(k)
		if f == nil {
			panic(fmt.Sprintf("sfemu: %s has no field %s", o.name, k))
		}
		vals[f.Name] = normalize(f, v)
	}
	now := formatTime(s.opts.Now())
	vals["Id"], vals["IsDeleted"], vals["CreatedDate"], vals["LastModifiedDate"], vals["SystemModstamp"] = id, false, now, now, now
	if o.name == "Lead" || o.name == "Contact" { // a person's Name is built from FirstName and LastName
		vals["Name"] = leadName(vals)
	}
	o.ids = append(o.ids, id)
	o.recs[id] = &record{values: vals}
	return id
}

// Record returns a copy of a record's fields (nil when there is no such record; deleted ones are returned).
func (s *Server) Record(object, id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[strings.ToLower(object)]
	if o == nil || o.recs[id] == nil {
		return nil
	}
	out := make(map[string]any, len(o.recs[id].values))
	for k, v := range o.recs[id].values {
		out[k] = v
	}
	return out
}

// DeleteRecord moves a record to the recycle bin: queries skip it, writes fail with ENTITY_IS_DELETED.
func (s *Server) DeleteRecord(object, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[strings.ToLower(object)]; o != nil && o.recs[id] != nil {
		o.recs[id].deleted = true
		o.recs[id].values["IsDeleted"] = true
	}
}

// ConvertLead converts a lead, as the Convert button does: the record stays, queryable, with IsConverted
// true, and every write to it fails with CANNOT_UPDATE_CONVERTED_LEAD.
func (s *Server) ConvertLead(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.objects["lead"].recs[id]; rec != nil {
		rec.values["IsConverted"] = true
	}
}

// SetField adds a field to an object's schema or replaces what describe says about it (e.g. Updateable
// false for a field the integration user may not edit).
func (s *Server) SetField(object string, f mapping.Field) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[strings.ToLower(object)]; o != nil {
		o.setField(f)
	}
}

// SetOrgCurrency sets the org's corporate currency (Organization.DefaultCurrencyIsoCode; NOK at start).
func (s *Server) SetOrgCurrency(iso string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects["organization"]
	o.recs[o.ids[0]].values["DefaultCurrencyIsoCode"] = iso
}

// HideField removes a field from describe and SOQL, as field-level security without read access does.
func (s *Server) HideField(object, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[strings.ToLower(object)]; o != nil {
		o.removeField(name)
	}
}

// ---- faults ----

// ExpireSessions invalidates every access token issued so far: the next call answers 401 INVALID_SESSION_ID.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]bool{}
}

// LockRow makes the next `times` writes to the record fail with UNABLE_TO_LOCK_ROW.
func (s *Server) LockRow(id string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.locks[id] = times
}

// FailValidation makes every write to the record fail with FIELD_CUSTOM_VALIDATION_EXCEPTION and message
// ("" removes the rule).
func (s *Server) FailValidation(id, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if message == "" {
		delete(s.validation, id)
		return
	}
	s.validation[id] = message
}

// SetRequestLimitExceeded makes every API call answer 403 REQUEST_LIMIT_EXCEEDED while on.
func (s *Server) SetRequestLimitExceeded(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitHit = on
}

// SetAPIUsage sets the daily API allocation as Sforce-Limit-Info and /limits report it.
func (s *Server) SetAPIUsage(used, max int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiUsed, s.apiMax = used, max
}

// SetLimitInfoForm changes the form of the Sforce-Limit-Info header from the next answer on.
func (s *Server) SetLimitInfoForm(f LimitInfoForm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.LimitInfo = f
}

// APIUsage returns the calls counted against the daily allocation and the allocation.
func (s *Server) APIUsage() (used, max int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiUsed, s.apiMax
}

// ExpireQueryLocators drops every open query cursor, as Salesforce does after 15 minutes without a
// nextRecordsUrl call or when the user opens an eleventh: the next nextRecordsUrl answers 400
// INVALID_QUERY_LOCATOR.
func (s *Server) ExpireQueryLocators() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursors = map[string]*cursor{}
	s.open = nil
}

// FailNext answers the next n requests (any endpoint, the token endpoint included) with status and the body
// Salesforce or a proxy in front of it sends for that status.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus, s.failErr = n, status, nil
}

// FailNextWith answers the next n requests with status and a Salesforce error array of one element, e.g.
// 403 REQUEST_LIMIT_EXCEEDED "ConcurrentPerOrgLongTxn Limit exceeded." (too many long requests at once,
// not the daily allocation).
func (s *Server) FailNextWith(n, status int, errorCode, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus, s.failErr = n, status, &apiError{status, errorCode, message}
}

// CorruptNextRecord makes the next query page carry raw (any JSON text, e.g. "null", or an object without
// attributes) in place of its first record, as a broken proxy or a hostile server might: the client must fail
// the page, not panic or skip the record.
func (s *Server) CorruptNextRecord(raw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.badRecord = raw
}

// SetLatency delays every answer by d (cut short when the client goes away).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the requests recorded so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Logins counts the access tokens issued.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// ---- HTTP ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorItem is one element of Salesforce's error array, in Salesforce's key order.
type errorItem struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func writeErr(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, []errorItem{{Message: e.Msg, ErrorCode: e.Code}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	latency := s.latency
	fail := 0
	var failErr *apiError
	if s.failN > 0 {
		s.failN--
		fail, failErr = s.failStatus, s.failErr
	}
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
	if failErr != nil {
		writeErr(w, failErr)
		return
	}
	if fail != 0 {
		writeFault(w, fail)
		return
	}
	switch {
	case r.URL.Path == "/services/oauth2/token":
		s.token(w, r, body)
	case strings.HasPrefix(r.URL.Path, "/services/data/"):
		s.data(w, r, body)
	default:
		writeErr(w, &apiError{404, "NOT_FOUND", "The requested resource does not exist"})
	}
}

func writeFault(w http.ResponseWriter, status int) {
	switch status {
	case 500:
		writeErr(w, &apiError{500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact support: 1214869519-33580 (-1023975471)"})
	case 503:
		writeErr(w, &apiError{503, "SERVER_UNAVAILABLE", "Server Unavailable"})
	case 401:
		writeErr(w, &apiError{401, "INVALID_SESSION_ID", "Session expired or invalid"})
	case 403:
		writeErr(w, &apiError{403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."})
	default: // what a proxy or load balancer in front of Salesforce answers: HTML, or nothing at all
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		if status != 504 {
			fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1></center></body></html>\n",
				status, http.StatusText(status), status, http.StatusText(status))
		}
	}
}

// ---- OAuth ----

func (s *Server) token(w http.ResponseWriter, r *http.Request, body []byte) {
	oauthErr := func(code, desc string) {
		writeJSON(w, 400, map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost {
		writeJSON(w, 405, map[string]string{"error": "invalid_request", "error_description": "must use HTTP POST"})
		return
	}
	// The instance is wherever the client reached us: the emulator may be mounted on another listener (TLS).
	base := "http://" + r.Host
	if r.TLS != nil {
		base = "https://" + r.Host
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		oauthErr("invalid_request", "invalid request body")
		return
	}
	switch form.Get("grant_type") {
	case "client_credentials":
		if form.Get("client_id") != s.opts.ClientID {
			oauthErr("invalid_client_id", "client identifier invalid")
			return
		}
		if form.Get("client_secret") != s.opts.ClientSecret {
			oauthErr("invalid_client", "invalid client credentials")
			return
		}
	case "password":
		if form.Get("client_id") != s.opts.ClientID {
			oauthErr("invalid_client_id", "client identifier invalid")
			return
		}
		if form.Get("client_secret") != s.opts.ClientSecret {
			oauthErr("invalid_client", "invalid client credentials")
			return
		}
		if form.Get("username") != s.opts.Username || form.Get("password") != s.opts.Password {
			oauthErr("invalid_grant", "authentication failure")
			return
		}
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if msg := s.checkJWT(form.Get("assertion")); msg != "" {
			oauthErr("invalid_grant", msg)
			return
		}
	case "":
		oauthErr("unsupported_grant_type", "grant type not supported")
		return
	default:
		oauthErr("unsupported_grant_type", "grant type not supported")
		return
	}
	tok := newToken()
	s.mu.Lock()
	s.tokens[tok] = true
	s.logins++
	s.mu.Unlock()
	issued := strconv.FormatInt(s.opts.Now().UnixMilli(), 10)
	writeJSON(w, 200, map[string]string{
		"access_token": tok, "instance_url": base, "id": base + "/id/00D000000000001EAA/005000000000001AAA",
		"token_type": "Bearer", "issued_at": issued, "signature": base64.StdEncoding.EncodeToString([]byte(issued)),
		"scope": "api",
	})
}

func (s *Server) checkJWT(assertion string) string {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "invalid assertion"
	}
	if s.opts.JWTPublicKey == nil {
		return "invalid assertion"
	}
	var hdr struct{ Alg string }
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" {
		return "invalid assertion"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.opts.JWTPublicKey, crypto.SHA256, sum[:], sig) != nil {
		return "invalid assertion"
	}
	var c struct {
		Iss, Sub string
		Aud      any
		Exp      int64
	}
	if json.Unmarshal(cb, &c) != nil {
		return "invalid assertion"
	}
	if c.Iss != s.opts.ClientID {
		return "invalid client identifier"
	}
	if c.Sub != s.opts.Username {
		return "user hasn't approved this consumer"
	}
	// The audience is the authorization server, never the host the assertion is posted to: a My Domain
	// URL (or this emulator's own URL) as aud is refused, as Salesforce refuses it.
	aud, _ := c.Aud.(string)
	if aud != "https://login.salesforce.com" && aud != "https://test.salesforce.com" {
		return "audience is invalid"
	}
	now := s.opts.Now().Unix()
	if c.Exp <= now || c.Exp > now+3*60+30 { // Salesforce wants exp within three minutes
		return "expired authorization code"
	}
	return ""
}

func newToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00D000000000001!AQ" + base64.RawURLEncoding.EncodeToString(b[:])
}

// ---- REST ----

func (s *Server) data(w http.ResponseWriter, r *http.Request, body []byte) {
	rest := strings.TrimPrefix(r.URL.Path, "/services/data/")
	ver, rest, _ := strings.Cut(rest, "/")
	if !validVersion(ver) {
		writeErr(w, &apiError{404, "NOT_FOUND", "The requested resource does not exist"})
		return
	}
	version := ver[1:]
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	s.mu.Lock()
	if !ok || !s.tokens[tok] {
		s.mu.Unlock()
		writeErr(w, &apiError{401, "INVALID_SESSION_ID", "Session expired or invalid"})
		return
	}
	if s.limitHit || s.apiMax > 0 && s.apiUsed >= s.apiMax {
		w.Header().Set("Sforce-Limit-Info", s.opts.LimitInfo.header(s.apiUsed, s.apiMax))
		s.mu.Unlock()
		writeErr(w, &apiError{403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."})
		return
	}
	s.apiUsed++
	w.Header().Set("Sforce-Limit-Info", s.opts.LimitInfo.header(s.apiUsed, s.apiMax))
	defer s.mu.Unlock()

	segs := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case r.Method == http.MethodGet && segs[0] == "query" && len(segs) == 1:
		s.query(w, r, version)
	case r.Method == http.MethodGet && segs[0] == "query" && len(segs) == 2:
		s.queryMore(w, segs[1])
	case r.Method == http.MethodGet && segs[0] == "limits" && len(segs) == 1:
		writeJSON(w, 200, map[string]any{
			"DailyApiRequests":     map[string]int64{"Max": s.apiMax, "Remaining": max(s.apiMax-s.apiUsed, 0)},
			"DailyBulkV2QueryJobs": map[string]int64{"Max": 10000, "Remaining": 10000},
			"DataStorageMB":        map[string]int64{"Max": 5, "Remaining": 5},
		})
	case segs[0] == "sobjects" && len(segs) >= 2:
		o := s.objects[strings.ToLower(segs[1])]
		if o == nil {
			writeErr(w, &apiError{404, "NOT_FOUND", "The requested resource does not exist"})
			return
		}
		switch {
		case r.Method == http.MethodGet && len(segs) == 3 && segs[2] == "describe":
			writeJSON(w, 200, o.describeJSON(version))
		case r.Method == http.MethodGet && len(segs) == 3:
			s.getRecord(w, o, segs[2], version)
		case r.Method == http.MethodPatch && len(segs) == 3:
			s.patchOne(w, o, segs[2], body)
		default:
			writeErr(w, &apiError{405, "METHOD_NOT_ALLOWED", fmt.Sprintf("HTTP Method '%s' not allowed. Allowed are GET,PATCH", r.Method)})
		}
	case segs[0] == "composite" && len(segs) == 2 && segs[1] == "sobjects" && !versionBelow(version, 42):
		if r.Method != http.MethodPatch {
			writeErr(w, &apiError{405, "METHOD_NOT_ALLOWED", fmt.Sprintf("HTTP Method '%s' not allowed. Allowed are PATCH", r.Method)})
			return
		}
		s.patchCollection(w, body)
	default:
		writeErr(w, &apiError{404, "NOT_FOUND", "The requested resource does not exist"})
	}
}

// versionBelow says the API version (digits like 62.0) is older than major.0: a resource that came later is
// not there (sObject Collections came with 42.0).
func versionBelow(version string, major int) bool {
	a, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(a)
	return err == nil && n < major
}

func validVersion(v string) bool {
	a, b, ok := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	if !strings.HasPrefix(v, "v") || !ok || a == "" || b == "" {
		return false
	}
	for _, c := range a + b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// query runs SOQL. Called with s.mu held.
func (s *Server) query(w http.ResponseWriter, r *http.Request, version string) {
	soql := r.URL.Query().Get("q")
	if strings.TrimSpace(soql) == "" {
		writeErr(w, malformed("A query string has to be specified"))
		return
	}
	q, err := parseSOQL(soql, s.objects)
	if err != nil {
		writeErr(w, err)
		return
	}
	if q.count {
		n := 0
		for _, id := range q.obj.ids {
			if q.match(q.obj.recs[id]) {
				n++
			}
		}
		if q.limit >= 0 && n > q.limit {
			n = q.limit
		}
		writeJSON(w, 200, map[string]any{"totalSize": n, "done": true, "records": []any{}})
		return
	}
	c := &cursor{q: q, version: version}
	if q.orderedByID() {
		for _, id := range q.obj.ids {
			if q.match(q.obj.recs[id]) {
				c.total++
			}
		}
		c.total = max(c.total-q.offset, 0)
		skip := q.offset
		for _, id := range q.obj.ids { // offset: position the cursor after the skipped records
			if skip == 0 {
				break
			}
			if q.match(q.obj.recs[id]) {
				c.lastID = id
				skip--
			}
		}
	} else {
		for _, id := range q.obj.ids {
			if rec := q.obj.recs[id]; q.match(rec) {
				c.sorted = append(c.sorted, rec)
			}
		}
		q.sort(c.sorted)
		c.sorted = c.sorted[min(q.offset, len(c.sorted)):]
		c.total = len(c.sorted)
	}
	if q.limit >= 0 && c.total > q.limit {
		c.total = q.limit
	}
	c.batch = batchSize(r.Header.Get("Sforce-Query-Options"))
	s.page(w, c)
}

// batchSize reads Sforce-Query-Options: batchSize=N (200–2000; Salesforce's default 2000).
func batchSize(h string) int {
	for _, part := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(k, "batchSize") {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return min(max(n, 200), 2000)
			}
		}
	}
	return 2000
}

func (s *Server) queryMore(w http.ResponseWriter, locator string) {
	id, off, ok := strings.Cut(locator, "-")
	c := s.cursors[id]
	if c != nil && s.opts.Now().Sub(c.used) > cursorIdle {
		s.closeCursor(c)
		c = nil
	}
	n, err := strconv.Atoi(off)
	if !ok || c == nil || err != nil || n != c.returned {
		writeErr(w, &apiError{400, "INVALID_QUERY_LOCATOR", "invalid query locator"})
		return
	}
	s.page(w, c)
}

// page writes the next batch of a cursor. Called with s.mu held.
func (s *Server) page(w http.ResponseWriter, c *cursor) {
	var recs []*record
	want := min(c.batch, c.total-c.returned)
	if c.sorted != nil || !c.q.orderedByID() {
		end := min(c.returned+want, len(c.sorted))
		recs = c.sorted[c.returned:end]
	} else if want > 0 {
		ids := c.q.obj.ids
		i := searchAfter(ids, c.lastID)
		for ; i < len(ids) && len(recs) < want; i++ {
			if rec := c.q.obj.recs[ids[i]]; c.q.match(rec) {
				recs = append(recs, rec)
			}
		}
		if len(recs) > 0 {
			c.lastID = recs[len(recs)-1].values["Id"].(string)
		}
		if len(recs) < want { // records deleted since the query started: the result ends early
			c.total = c.returned + len(recs)
		}
	}
	c.returned += len(recs)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"totalSize":%d,"done":%t,`, c.total, c.returned >= c.total)
	if c.returned < c.total {
		if c.locator == "" {
			s.nextCursor++
			c.locator = fmt.Sprintf("01gRO%010dAA", s.nextCursor)
			s.cursors[c.locator] = c
			s.open = append(s.open, c.locator)
			if len(s.open) > maxOpenCursors { // the oldest is released
				s.closeCursor(s.cursors[s.open[0]])
			}
		}
		c.used = s.opts.Now()
		fmt.Fprintf(&b, `"nextRecordsUrl":"/services/data/v%s/query/%s-%d",`, c.version, c.locator, c.returned)
	} else if c.locator != "" {
		s.closeCursor(c)
	}
	b.WriteString(`"records":[`)
	for i, rec := range recs {
		if i > 0 {
			b.WriteByte(',')
		}
		if i == 0 && s.badRecord != "" {
			b.WriteString(s.badRecord)
			s.badRecord = ""
			continue
		}
		id, _ := rec.values["Id"].(string)
		fmt.Fprintf(&b, `{"attributes":{"type":%q,"url":"/services/data/v%s/sobjects/%s/%s"}`, c.q.obj.name, c.version, c.q.obj.name, id)
		writeFields(&b, c, rec)
		b.WriteByte('}')
	}
	b.WriteString("]}")
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(200)
	_, _ = w.Write(b.Bytes())
}

// writeFields writes a record's selected fields. A parent's fields come as Salesforce nests them: one object
// per relationship, at its first field's place, {"attributes":{…},"Org_Number__c":"…"}, or null when the
// lookup is empty.
func writeFields(b *bytes.Buffer, c *cursor, rec *record) {
	var done map[*fieldDef]bool // lookups written already
	for _, f := range c.q.fields {
		rc := c.q.rels[f]
		if rc == nil {
			v, _ := json.Marshal(c.q.obj.value(rec, f))
			fmt.Fprintf(b, `,%q:%s`, f.Name, v)
			continue
		}
		if done[rc.ref] {
			continue
		}
		if done == nil {
			done = map[*fieldDef]bool{}
		}
		done[rc.ref] = true
		pr := rc.parentRec(rec)
		if pr == nil {
			fmt.Fprintf(b, `,%q:null`, rc.ref.RelationshipName)
			continue
		}
		pid, _ := pr.values["Id"].(string)
		fmt.Fprintf(b, `,%q:{"attributes":{"type":%q,"url":"/services/data/v%s/sobjects/%s/%s"}`, rc.ref.RelationshipName, rc.parent.name, c.version, rc.parent.name, pid)
		for _, g := range c.q.fields {
			if gc := c.q.rels[g]; gc != nil && gc.ref == rc.ref {
				v, _ := json.Marshal(gc.parent.value(pr, gc.field))
				fmt.Fprintf(b, `,%q:%s`, gc.field.Name, v)
			}
		}
		b.WriteByte('}')
	}
}

// Salesforce's limits on query cursors: each expires after 15 minutes without a call, and a user holds
// at most 10 (the emulator counts them per org).
const (
	cursorIdle     = 15 * time.Minute
	maxOpenCursors = 10
)

// closeCursor forgets a cursor. Called with s.mu held.
func (s *Server) closeCursor(c *cursor) {
	if c == nil || c.locator == "" {
		return
	}
	delete(s.cursors, c.locator)
	for i, l := range s.open {
		if l == c.locator {
			s.open = append(s.open[:i], s.open[i+1:]...)
			break
		}
	}
}

// searchAfter returns the index of the first id greater than after.
func searchAfter(ids []string, after string) int {
	lo, hi := 0, len(ids)
	for lo < hi {
		m := (lo + hi) / 2
		if ids[m] <= after {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (s *Server) getRecord(w http.ResponseWriter, o *object, id, version string) {
	rec := o.recs[id]
	if rec == nil || rec.deleted {
		writeErr(w, &apiError{404, "NOT_FOUND", "The requested resource does not exist"})
		return
	}
	out := map[string]any{"attributes": map[string]string{"type": o.name, "url": "/services/data/v" + version + "/sobjects/" + o.name + "/" + id}}
	for _, f := range o.fields {
		out[f.Name] = o.value(rec, f)
	}
	writeJSON(w, 200, out)
}

// ---- writes ----

type recordError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

// parseRecord decodes one record of a write body into canonical field names. A field that does not exist or
// a value of the wrong JSON type fails the whole request, as Salesforce's deserializer does.
func parseRecord(o *object, raw map[string]json.RawMessage, collection bool) (id string, vals map[string]any, e *apiError) {
	vals = map[string]any{}
	for k, v := range raw {
		switch {
		case strings.EqualFold(k, "attributes"):
			continue
		case strings.EqualFold(k, "id"):
			if collection {
				_ = json.Unmarshal(v, &id)
				continue
			}
		}
		f := o.field(k)
		if f == nil {
			return "", nil, &apiError{400, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", k, o.name)}
		}
		var x any
		dec := json.NewDecoder(bytes.NewReader(v))
		if err := dec.Decode(&x); err != nil {
			return "", nil, &apiError{400, "JSON_PARSER_ERROR", "Unexpected character at [line:1, column:1]"}
		}
		if msg := typeError(f, x); msg != "" {
			return "", nil, &apiError{400, "JSON_PARSER_ERROR", msg}
		}
		vals[f.Name] = x
	}
	return id, vals, nil
}

func typeError(f *fieldDef, x any) string {
	if x == nil {
		return ""
	}
	switch f.Type {
	case "int":
		n, ok := x.(float64)
		if !ok {
			return fmt.Sprintf("Cannot deserialize instance of int from %s value %v or request may be missing a required field", jsonKind(x), x)
		}
		if n != math.Trunc(n) {
			return fmt.Sprintf("Cannot deserialize instance of int from VALUE_NUMBER_FLOAT value %v or request may be missing a required field", x)
		}
	case "double", "currency", "percent":
		if _, ok := x.(float64); !ok {
			if str, ok := x.(string); !ok || !isNumber(str) {
				return fmt.Sprintf("Cannot deserialize instance of double from %s value %v or request may be missing a required field", jsonKind(x), x)
			}
		}
	case "boolean":
		if _, ok := x.(bool); !ok {
			return fmt.Sprintf("Cannot deserialize instance of boolean from %s value %v or request may be missing a required field", jsonKind(x), x)
		}
	case "date", "datetime":
		str, ok := x.(string)
		if _, good := parseTime(str); !ok || !good {
			return fmt.Sprintf("Cannot deserialize instance of %s from %s value %v or request may be missing a required field", f.Type, jsonKind(x), x)
		}
	default:
		switch x.(type) {
		case map[string]any, []any:
			return fmt.Sprintf("Cannot deserialize instance of string from %s value or request may be missing a required field", jsonKind(x))
		}
	}
	return ""
}

func isNumber(s string) bool { _, err := strconv.ParseFloat(s, 64); return err == nil }

func jsonKind(x any) string {
	switch x.(type) {
	case string:
		return "VALUE_STRING"
	case float64:
		return "VALUE_NUMBER_INT"
	case bool:
		return "VALUE_TRUE"
	case map[string]any:
		return "START_OBJECT"
	case []any:
		return "START_ARRAY"
	}
	return "VALUE_NULL"
}

// apply validates and writes one record's values, or returns its errors. Called with s.mu held.
func (s *Server) apply(o *object, id string, vals map[string]any) []recordError {
	rec := o.recs[id]
	if rec == nil {
		if len(id) != 15 && len(id) != 18 {
			return []recordError{{"MALFORMED_ID", fmt.Sprintf("%s ID: id value of incorrect type: %s", o.label, id), []string{"Id"}}}
		}
		return []recordError{{"INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []string{}}}
	}
	if rec.deleted {
		return []recordError{{"ENTITY_IS_DELETED", "entity is deleted", []string{}}}
	}
	if rec.values["IsConverted"] == true {
		return []recordError{{"CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", []string{}}}
	}
	if n := s.locks[id]; n > 0 {
		s.locks[id] = n - 1
		return []recordError{{"UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: " + id, []string{}}}
	}
	var errs []recordError
	var readOnly []string
	for _, f := range o.fields { // describe order, so messages are stable
		v, ok := vals[f.Name]
		if !ok {
			continue
		}
		if !f.Updateable {
			readOnly = append(readOnly, f.Name)
			continue
		}
		nv := normalize(f, v)
		if str, ok := nv.(string); ok && f.Type == "email" && !emailAddress.MatchString(str) {
			errs = append(errs, recordError{"INVALID_EMAIL_ADDRESS", fmt.Sprintf("%s: invalid email address: %s", f.Label, str), []string{f.Name}})
			continue
		}
		switch {
		case nv == nil && !f.Nillable:
			errs = append(errs, recordError{"REQUIRED_FIELD_MISSING", "Required fields are missing: [" + f.Name + "]", []string{f.Name}})
		case f.Length > 0 && isText(f.Type) && f.Type != "picklist":
			if str, ok := nv.(string); ok && utf16Len(str) > f.Length {
				errs = append(errs, recordError{"STRING_TOO_LONG", fmt.Sprintf("%s: data value too large: %s (max length=%d)", f.Label, str, f.Length), []string{f.Name}})
			}
		case f.Type == "picklist" && f.RestrictedPicklist:
			if str, ok := nv.(string); ok && !contains(f.PicklistValues, str) {
				errs = append(errs, recordError{"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", fmt.Sprintf("%s: bad value for restricted picklist field: %s", f.Label, str), []string{f.Name}})
			}
		case f.Type == "int" && f.Digits > 0:
			if n, ok := nv.(float64); ok && math.Abs(n) >= math.Pow10(f.Digits) {
				errs = append(errs, recordError{"NUMBER_OUTSIDE_VALID_RANGE", fmt.Sprintf("%s: value outside of valid range on numeric field: %v", f.Label, strconv.FormatFloat(n, 'f', -1, 64)), []string{f.Name}})
			}
		}
	}
	if len(readOnly) > 0 {
		errs = append(errs, recordError{"INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: " + strings.Join(readOnly, ", ") +
			". Please check the security settings of this field and verify that it is read/write for your profile or permission set.", readOnly})
	}
	if len(errs) > 0 {
		return errs
	}
	if msg, ok := s.validation[id]; ok {
		return []recordError{{"FIELD_CUSTOM_VALIDATION_EXCEPTION", msg, []string{}}}
	}
	for name, v := range vals {
		rec.values[name] = normalize(o.field(name), v)
	}
	now := formatTime(s.opts.Now())
	rec.values["LastModifiedDate"], rec.values["SystemModstamp"] = now, now
	if o.name == "Lead" || o.name == "Contact" { // a person's Name is built from FirstName and LastName
		rec.values["Name"] = leadName(rec.values)
	}
	return nil
}

// emailAddress is what an email field accepts: Salesforce refuses anything else with INVALID_EMAIL_ADDRESS
// (url and phone fields take any text).
var emailAddress = regexp.MustCompile(`^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$`)

// utf16Len is a text's length as Salesforce measures it against a field's length: in UTF-16 code units, as
// Java counts, so a character outside the Basic Multilingual Plane (an emoji, a rare CJK ideograph) counts
// as two.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) patchOne(w http.ResponseWriter, o *object, id string, body []byte) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		writeErr(w, &apiError{400, "JSON_PARSER_ERROR", "Unexpected character at [line:1, column:1]"})
		return
	}
	_, vals, e := parseRecord(o, raw, false)
	if e != nil {
		writeErr(w, e)
		return
	}
	rec := o.recs[id]
	if rec == nil {
		writeErr(w, &apiError{404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: " + id})
		return
	}
	if rec.deleted {
		writeErr(w, &apiError{404, "ENTITY_IS_DELETED", "entity is deleted"})
		return
	}
	if errs := s.apply(o, id, vals); errs != nil {
		out := make([]errorItem, len(errs))
		for i, e := range errs {
			out[i] = errorItem{Message: e.Message, ErrorCode: e.StatusCode, Fields: e.Fields}
		}
		writeJSON(w, 400, out)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type collectionResult struct {
	ID      *string       `json:"id,omitempty"`
	Success bool          `json:"success"`
	Errors  []recordError `json:"errors"`
}

func (s *Server) patchCollection(w http.ResponseWriter, body []byte) {
	var req struct {
		AllOrNone bool              `json:"allOrNone"`
		Records   []json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, &apiError{400, "JSON_PARSER_ERROR", "Unexpected character at [line:1, column:1]"})
		return
	}
	if len(req.Records) == 0 {
		writeErr(w, &apiError{400, "INVALID_FIELD", "No SObject records were provided."})
		return
	}
	if len(req.Records) > 200 {
		writeErr(w, &apiError{400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"})
		return
	}
	type parsed struct {
		o    *object
		id   string
		vals map[string]any
	}
	ps := make([]parsed, len(req.Records))
	for i, rr := range req.Records {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(rr, &raw); err != nil {
			writeErr(w, &apiError{400, "JSON_PARSER_ERROR", "Unexpected character at [line:1, column:1]"})
			return
		}
		var attrs struct{ Type string }
		if a, ok := raw["attributes"]; !ok || json.Unmarshal(a, &attrs) != nil || attrs.Type == "" {
			writeErr(w, &apiError{400, "INVALID_TYPE", "Must send a concrete entity type."})
			return
		}
		o := s.objects[strings.ToLower(attrs.Type)]
		if o == nil {
			writeErr(w, &apiError{400, "INVALID_TYPE", "Unable to find sObject type " + attrs.Type})
			return
		}
		id, vals, e := parseRecord(o, raw, true)
		if e != nil {
			writeErr(w, e)
			return
		}
		ps[i] = parsed{o, id, vals}
	}
	results := make([]collectionResult, len(ps))
	failed := false
	for i, p := range ps {
		id := p.id
		if id == "" {
			results[i] = collectionResult{Errors: []recordError{{"MISSING_ARGUMENT", "Id not specified in an update call", []string{}}}}
			failed = true
			continue
		}
		errs := s.apply(p.o, id, p.vals)
		if errs == nil {
			results[i] = collectionResult{ID: &id, Success: true, Errors: []recordError{}}
			continue
		}
		failed = true
		results[i] = collectionResult{ID: &id, Errors: errs}
	}
	if req.AllOrNone && failed {
		// The successful writes are rolled back: a real org never commits them. The emulator applied them
		// already; all-or-none is not what proffsync sends, so it only reports the shape.
		for i := range results {
			if results[i].Success {
				results[i] = collectionResult{ID: results[i].ID, Errors: []recordError{{"ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were valid and the request was using AllOrNone header", []string{}}}}
			}
		}
	}
	writeJSON(w, 200, results)
}

// ---- values ----

// normalize turns a written or seeded value into what the org stores: blank text is null, datetimes are in
// Salesforce's format, numbers in numeric fields are float64.
func normalize(f *fieldDef, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if isText(f.Type) && x == "" {
			return nil
		}
		switch f.Type {
		case "datetime":
			if t, ok := parseTime(x); ok {
				return formatTime(t)
			}
		case "date":
			if t, ok := parseTime(x); ok {
				return t.Format("2006-01-02")
			}
		case "int", "double", "currency", "percent":
			if n, err := strconv.ParseFloat(x, 64); err == nil {
				return n
			}
		}
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case time.Time:
		if f.Type == "date" {
			return x.Format("2006-01-02")
		}
		return formatTime(x)
	}
	return v
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000+0000") }

func leadName(v map[string]any) any {
	first, _ := v["FirstName"].(string)
	last, _ := v["LastName"].(string)
	n := strings.TrimSpace(first + " " + last)
	if n == "" {
		return nil
	}
	return n
}

// makeID mints an 18-character Id: key prefix, a pod-like "5g", a zero-padded counter (so Ids sort in
// creation order) and the case-safe checksum suffix Salesforce appends to 15-character Ids.
func makeID(prefix string, n int64) string {
	id15 := fmt.Sprintf("%s5g%010d", prefix, n)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	suffix := make([]byte, 3)
	for chunk := 0; chunk < 3; chunk++ {
		bits := 0
		for i := 0; i < 5; i++ {
			c := id15[chunk*5+i]
			if c >= 'A' && c <= 'Z' {
				bits |= 1 << i
			}
		}
		suffix[chunk] = alphabet[bits]
	}
	return id15 + string(suffix)
}
