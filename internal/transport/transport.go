// Package transport is the HTTP plumbing the Proff and Salesforce clients share: the transport policy
// (https only, except loopback; TLS 1.2 or higher: README: Privacy guarantees, P6), a fresh Correlation-ID
// on every request (P7), and one technical-log Call per request handed to a Recorder (P8).
//
// What must never happen here: a header value, a request body or the body of a successful response reaching
// a Call, a log line or an error. An error body may leave only as a short excerpt with secrets scrubbed.
package transport

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proffconnect/proffsync/internal/runctx"
	"github.com/proffconnect/proffsync/internal/secret"
)

// CorrelationHeader is the header every request carries (P7).
const CorrelationHeader = "Correlation-ID"

// Service names, as technical-log rows and metrics carry them.
const (
	Proff      = "proff"
	Salesforce = "salesforce"
)

// Error classes of a Call.
const (
	ClassNone      = ""
	ClassTimeout   = "timeout"
	ClassCanceled  = "canceled"
	ClassNetwork   = "network"
	ClassTLS       = "tls"
	ClassRefused   = "refused" // refused by policy before the network
	ClassClient    = "http_4xx"
	ClassRateLimit = "rate_limited" // 429
	ClassServer    = "http_5xx"
)

// Call is one technical-log row: what was called, how it went, how long it took. Never a body of a
// successful call, never a header.
type Call struct {
	RunID         string
	CorrelationID string
	Service       string
	Method        string
	Endpoint      string // the endpoint template, e.g. "GET /api/companies/register/{country}/{orgnr}"
	Status        int    // 0 when no response came
	Duration      time.Duration
	Attempt       int // 1 for the first try
	ErrorClass    string
	ErrorExcerpt  string // a short, scrubbed excerpt of an error body or the transport error
	StartedAt     time.Time
	// APIUsed and APIMax come from Salesforce's Sforce-Limit-Info header (api-usage=USED/MAX); 0 when absent.
	APIUsed, APIMax int64
}

// Recorder receives one Call per request. It must not block for long: it runs on the request path.
type Recorder interface {
	RecordCall(ctx context.Context, c Call)
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(ctx context.Context, c Call)

func (f RecorderFunc) RecordCall(ctx context.Context, c Call) { f(ctx, c) }

// Multi sends every Call to each recorder in turn (nil ones are skipped).
func Multi(rs ...Recorder) Recorder {
	return RecorderFunc(func(ctx context.Context, c Call) {
		for _, r := range rs {
			if r != nil {
				r.RecordCall(ctx, c)
			}
		}
	})
}

// Tally counts calls per service and passes each one on.
type Tally struct {
	Next       Recorder
	proff, sf  atomic.Int64
	mu         sync.Mutex
	lastUsed   int64
	lastMax    int64
	haveLimits bool
}

func (t *Tally) RecordCall(ctx context.Context, c Call) {
	switch c.Service {
	case Proff:
		t.proff.Add(1)
	case Salesforce:
		t.sf.Add(1)
	}
	if c.APIMax > 0 {
		t.mu.Lock()
		t.lastUsed, t.lastMax, t.haveLimits = c.APIUsed, c.APIMax, true
		t.mu.Unlock()
	}
	if t.Next != nil {
		t.Next.RecordCall(ctx, c)
	}
}

// Counts returns the calls counted so far, per service.
func (t *Tally) Counts() (proff, salesforce int64) { return t.proff.Load(), t.sf.Load() }

// APIUsage returns the last Sforce-Limit-Info seen.
func (t *Tally) APIUsage() (used, max int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastUsed, t.lastMax, t.haveLimits
}

type ctxKey int

const (
	keyEndpoint ctxKey = iota
	keyAttempt
)

// WithEndpoint names the endpoint template the request made with ctx logs (never the concrete path, which
// may hold an org number or a record id).
func WithEndpoint(ctx context.Context, template string) context.Context {
	return context.WithValue(ctx, keyEndpoint, template)
}

// WithAttempt numbers the try (1 for the first) of the request made with ctx.
func WithAttempt(ctx context.Context, attempt int) context.Context {
	return context.WithValue(ctx, keyAttempt, attempt)
}

// CheckURL accepts https URLs, and http only for loopback hosts (P6).
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL %q", raw)
	}
	return checkURL(u)
}

func checkURL(u *url.URL) error {
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("URL %q has no host", u.Redacted())
		}
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("refusing plain http to %s: only https is allowed except for loopback hosts", u.Host)
	default:
		return fmt.Errorf("URL %q: scheme must be https", u.Redacted())
	}
}

// IsLoopback reports whether host is localhost or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Options configure a client.
type Options struct {
	Service  string   // Proff or Salesforce
	Recorder Recorder // receives one Call per request; may be nil
	// Secrets are scrubbed from error excerpts wherever they appear.
	Secrets []string
	// RootCAs replaces the system roots (tests and the sandbox); nil uses the system's.
	RootCAs TLSRoots
	// Timeout bounds a whole request including reading the body; default 60s.
	Timeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers; default 30s.
	ResponseHeaderTimeout time.Duration
	// MaxConnsPerHost bounds connections to one host (0: unbounded).
	MaxConnsPerHost int
	// Base replaces the network transport (fault injection in tests); nil dials for real.
	Base http.RoundTripper
}

// TLSRoots is the certificate pool type of crypto/x509, named here so callers need not import it.
type TLSRoots = *x509CertPool

// NewClient returns an http.Client that enforces the policy, sets Correlation-ID and records every call.
// It never follows redirects: a redirect could carry a credential header to another host.
func NewClient(o Options) *http.Client {
	base := o.Base
	if base == nil {
		base = NewNetworkTransport(o)
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	return &http.Client{
		Transport:     &RoundTripper{Base: base, Service: o.Service, Recorder: o.Recorder, Secrets: o.Secrets},
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// NewNetworkTransport is the dialling transport: TLS 1.2 minimum, bounded timeouts, connection reuse.
func NewNetworkTransport(o Options) *http.Transport {
	rht := o.ResponseHeaderTimeout
	if rht == 0 {
		rht = 30 * time.Second
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: rht,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   64,
		MaxConnsPerHost:       o.MaxConnsPerHost,
		ForceAttemptHTTP2:     true,
	}
}

// RoundTripper enforces the URL policy, sets a fresh Correlation-ID and records a Call per request.
type RoundTripper struct {
	Base     http.RoundTripper
	Service  string
	Recorder Recorder
	Secrets  []string
	Now      func() time.Time // for tests; time.Now when nil
}

// ErrRefused wraps every request refused by policy before the network.
var ErrRefused = errors.New("request refused by transport policy")

func (rt *RoundTripper) now() time.Time {
	if rt.Now != nil {
		return rt.Now()
	}
	return time.Now()
}

func (rt *RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	call := Call{
		RunID:         runctx.RunID(ctx),
		CorrelationID: NewCorrelationID(),
		Service:       rt.Service,
		Method:        req.Method,
		Endpoint:      endpoint(req),
		Attempt:       1,
		StartedAt:     rt.now(),
	}
	if a, ok := ctx.Value(keyAttempt).(int); ok && a > 0 {
		call.Attempt = a
	}
	if err := checkURL(req.URL); err != nil {
		closeBody(req)
		call.ErrorClass = ClassRefused
		call.ErrorExcerpt = rt.excerpt(err.Error(), false)
		rt.record(ctx, call)
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	// RoundTrippers must not modify the caller's request.
	r2 := req.Clone(ctx)
	r2.Header.Set(CorrelationHeader, call.CorrelationID)

	resp, err := rt.Base.RoundTrip(r2)
	call.Duration = rt.now().Sub(call.StartedAt)
	if err != nil {
		call.ErrorClass = classifyError(ctx, err)
		call.ErrorExcerpt = rt.excerpt(err.Error(), false)
		rt.record(ctx, call)
		return nil, err
	}
	call.Status = resp.StatusCode
	call.APIUsed, call.APIMax = ParseLimitInfo(resp.Header.Get("Sforce-Limit-Info"))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		call.ErrorClass = ClassRateLimit
	case resp.StatusCode >= 500:
		call.ErrorClass = ClassServer
	case resp.StatusCode >= 400:
		call.ErrorClass = ClassClient
	}
	if resp.StatusCode >= 400 && resp.Body != nil {
		// Keep a short excerpt of the error body; give the caller the whole body back.
		head := make([]byte, excerptHead)
		n, _ := io.ReadFull(resp.Body, head)
		head = head[:n]
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(strings.NewReader(string(head)), resp.Body), resp.Body}
		call.ErrorExcerpt = rt.excerpt(string(head), n == excerptHead)
	}
	rt.record(ctx, call)
	return resp, nil
}

func (rt *RoundTripper) record(ctx context.Context, c Call) {
	if rt.Recorder != nil {
		rt.Recorder.RecordCall(ctx, c)
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

func endpoint(req *http.Request) string {
	if t, ok := req.Context().Value(keyEndpoint).(string); ok && t != "" {
		return t
	}
	// Without a template, log the path with every segment that holds a digit replaced: such segments are
	// ids and org numbers, which the technical log must not keep.
	segs := strings.Split(req.URL.Path, "/")
	for i, s := range segs {
		if strings.ContainsAny(s, "0123456789") && !versionSegment.MatchString(s) {
			segs[i] = "{id}"
		}
	}
	return req.Method + " " + strings.Join(segs, "/")
}

var versionSegment = regexp.MustCompile(`^v\d+(\.\d+)?$`)

func classifyError(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout(), isTimeout(context.Cause(ctx)), pastDeadline(ctx):
		// http.Client.Timeout cancels the request with a timeout as the cause ("net/http: request
		// canceled" is all the transport says): it must read as the timeout it is, not a cancellation.
		return ClassTimeout
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return ClassCanceled
	case IsTLSError(err):
		return ClassTLS
	default:
		return ClassNetwork
	}
}

// IsTLSError reports whether err is a failed TLS handshake or record, by type: a certificate the client does
// not trust, an alert the server sent (a TLS 1.1-only server answers a TLS 1.2 hello with one, which crypto/tls
// returns as a net.OpError of op "remote error"), or a record that is not TLS at all.
func IsTLSError(err error) bool {
	var (
		alert  tls.AlertError
		header tls.RecordHeaderError
		verify *tls.CertificateVerificationError
		ua     x509.UnknownAuthorityError
		host   x509.HostnameError
		inv    x509.CertificateInvalidError
		op     *net.OpError
	)
	return errors.As(err, &alert) || errors.As(err, &header) || errors.As(err, &verify) || errors.As(err, &ua) ||
		errors.As(err, &host) || errors.As(err, &inv) || errors.As(err, &op) && op.Op == "remote error"
}

// pastDeadline: http.Client.Timeout on a RoundTripper it does not know cancels the request from a timer of
// its own, which can fire a moment before the request context's deadline does.
func pastDeadline(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl.Add(-5*time.Millisecond))
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout())
}

// NewCorrelationID returns a fresh random UUID (version 4).
func NewCorrelationID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // cannot happen on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ParseLimitInfo reads the api-usage pair from a Sforce-Limit-Info header value. Salesforce separates its
// pairs with "; " ("api-usage=110018/100000; api-bursts=1/750", "api-usage=25/5000;
// per-app-api-usage=17/250(appName=x)"); "," and stray spaces are tolerated too, since a header missed here
// silently switches the API reserve guard off.
func ParseLimitInfo(v string) (used, max int64) {
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' }) {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "api-usage") {
			continue
		}
		u, m, ok := strings.Cut(val, "/")
		if !ok {
			return 0, 0
		}
		uu, err1 := strconv.ParseInt(strings.TrimSpace(u), 10, 64)
		mm, err2 := strconv.ParseInt(strings.TrimSpace(m), 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0
		}
		return uu, mm
	}
	return 0, 0
}

// MaxExcerpt bounds Call.ErrorExcerpt: at most this many bytes of an error body or error text, secrets
// scrubbed and white space collapsed, followed by "…" when cut. The technical log keeps a hint for the
// operator, never a copy of what a server answered.
const MaxExcerpt = 200

// excerptHead is how much of an error body is read for its excerpt (the caller still gets all of it).
const excerptHead = 512

// excerpt makes the ErrorExcerpt of s. Secrets are scrubbed before anything is cut, so that a cut never
// leaves half a secret that the scrub could no longer recognise; cut says s itself was cut off after
// excerptHead bytes, and then a secret's beginning at its very end is dropped too.
func (rt *RoundTripper) excerpt(s string, cut bool) string {
	s = secret.Scrub(strings.ToValidUTF8(s, ""), rt.Secrets)
	if cut {
		s = trimSecretStart(s, rt.Secrets)
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > MaxExcerpt {
		s = strings.ToValidUTF8(s[:MaxExcerpt], "") + "…"
	}
	return s
}

// trimSecretStart removes from the end of s the beginning of any secret (secret.MinLen characters or more,
// as secret.Scrub matches), as a body cut off mid-secret ends.
func trimSecretStart(s string, secrets []string) string {
	for _, sec := range secrets {
		for k := len(sec) - 1; k >= secret.MinLen; k-- {
			if strings.HasSuffix(s, sec[:k]) {
				s = s[:len(s)-k] + "****"
				break
			}
		}
	}
	return s
}
