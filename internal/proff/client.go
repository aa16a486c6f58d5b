// Package proff is the Proff API client of proffsync: it looks companies up by country and organisation
// number, GET only, through one shared rate limiter, classifies Proff's failures onto the massupdate
// sentinels, and turns the register document into the values of the mapped data points (the catalogue).
//
// What must never happen here: a request other than GET leaving the process (P3); anything from a
// Salesforce record but the country and the org number leaving, and only in the path (P2); the token
// reaching a log line, an error, a Call or any host but the configured base URL (P1, P8); the rate limit
// being exceeded, retries included.
package proff

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/retry"
	"github.com/proffconnect/proffsync/internal/secret"
	"github.com/proffconnect/proffsync/internal/transport"
)

// Endpoint templates, as technical-log rows keep them (never the concrete org number).
const (
	EndpointLookup    = "GET /api/companies/register/{country}/{orgnr}"
	EndpointTokenInfo = "GET /api/service/tokeninformation"
)

// Defaults.
const (
	DefaultBaseURL      = "https://api.proff.no"
	DefaultRate         = massupdate.DefaultRatePerSecond
	DefaultConcurrency  = massupdate.DefaultConcurrency
	DefaultMaxAttempts  = 5
	DefaultMaxRetryWait = 30 * time.Second
	DefaultQuotaWait    = 10 * time.Minute
	DefaultRetryBase    = 500 * time.Millisecond
	// DefaultRateLimitedBase is the first wait after a 429 that named no Retry-After. Proff's limits are per
	// token and per minute (hour, day): 5 s doubling to the 30 s cap spans 65 s over the four retries of
	// the default five tries, so the minute that was full has passed before the record gives up.
	DefaultRateLimitedBase = 5 * time.Second
	DefaultMaxBody         = 4 << 20
	DefaultTimeout         = 30 * time.Second
	userAgent              = "proffsync/1.0 (+https://github.com/proffconnect/proffsync)"
)

// Options configure a Client. Zero values take the defaults above.
type Options struct {
	BaseURL       string // default DefaultBaseURL
	Token         string // required: the customer's own token (never logged)
	RatePerSecond float64
	Concurrency   int         // requests in flight at most
	Points        []DataPoint // the data points Lookup returns
	Recorder      transport.Recorder
	RootCAs       *x509.CertPool
	Logger        *slog.Logger
	APIVersion    string // optional api-version header ("1.0", "1.1")
	MaxAttempts   int    // tries per request, retries included
	// MaxRetryWait caps one wait between tries, a Retry-After included.
	MaxRetryWait time.Duration
	// QuotaWait: a Retry-After longer than this means the token's daily or monthly quota is spent.
	QuotaWait time.Duration
	RetryBase time.Duration // first backoff step; doubles per try
	// RateLimitedBase replaces RetryBase after a 429 without Retry-After; default DefaultRateLimitedBase.
	RateLimitedBase time.Duration
	MaxBody         int64         // the largest answer read
	Timeout         time.Duration // one try, body included; DefaultTimeout when 0
	// Clock reads the time and waits: backoff, Retry-After pauses and the limiter all run on it, so tests
	// run them on a virtual clock (clocktest). clock.System when nil.
	Clock clock.Clock
	// Rand returns a number in [0, 1) for jitter.
	Rand func() float64
	// Base replaces the network transport (tests).
	Base http.RoundTripper
	// Forms remembers per country which form of an SE or FI number finds companies (forms.go); nil: the
	// client learns it anew in every run.
	Forms FormMemory
}

// Client looks companies up in Proff. It is safe for concurrent use by any number of workers.
type Client struct {
	base    *url.URL
	token   string
	hc      *http.Client
	points  []DataPoint
	log     *slog.Logger
	o       Options
	limiter *rate.Limiter
	sem     chan struct{}
	forms   *formState // which form of an SE or FI number Proff answers (forms.go)

	waited       atomic.Int64 // nanoseconds spent waiting for the limiter
	unauthorized atomic.Bool
	mu           sync.Mutex
	forbidden    map[string]bool
	pauseUntil   time.Time // a Retry-After holds every worker back, not only the one that got it

	// retry waits out a 5xx, a 408 or a failed connection; rateLimited a 429, whose Retry-After gets at
	// least a second and whose absence waits out the minute (see backoff).
	retry, rateLimited retry.Policy
}

// New validates the options and returns a client. It makes no call.
func New(o Options) (*Client, error) {
	o, base, err := withDefaults(o)
	if err != nil {
		return nil, err
	}
	hc, err := NewHTTPClient(o)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base: base, token: o.Token, hc: hc, points: o.Points, log: o.Logger, o: o,
		limiter:   rate.NewLimiter(rate.Limit(o.RatePerSecond), burstFor(o.RatePerSecond)),
		sem:       make(chan struct{}, o.Concurrency),
		forms:     newFormState(o.Forms, o.Logger),
		forbidden: map[string]bool{},
		retry: retry.Policy{Attempts: o.MaxAttempts, Base: o.RetryBase, Cap: o.MaxRetryWait,
			Jitter: retry.Equal, Rand: o.Rand},
		rateLimited: retry.Policy{Attempts: o.MaxAttempts, Base: o.RateLimitedBase, Cap: o.MaxRetryWait,
			Jitter: retry.Up, MinRetryAfter: time.Second, Rand: o.Rand},
	}
	return c, nil
}

func withDefaults(o Options) (Options, *url.URL, error) {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if err := transport.CheckURL(o.BaseURL); err != nil {
		return o, nil, fmt.Errorf("proff base URL: %w", err)
	}
	base, err := url.Parse(strings.TrimRight(o.BaseURL, "/"))
	if err != nil {
		return o, nil, fmt.Errorf("proff base URL: invalid")
	}
	if base.RawQuery != "" || base.User != nil {
		return o, nil, fmt.Errorf("proff base URL: must have no query and no user info")
	}
	// Proff's documentation shows the header as "Authorization: Token [YOUR_TOKEN]", and the scheme is
	// often pasted with the token: sent twice ("Token Token …") it is refused with 401 and stops the run.
	if scheme, rest, ok := strings.Cut(strings.TrimSpace(o.Token), " "); ok && strings.EqualFold(scheme, "Token") {
		o.Token = strings.TrimSpace(rest)
	}
	if strings.TrimSpace(o.Token) == "" {
		return o, nil, errors.New("proff: no API token given (PROFF_API_TOKEN)")
	}
	if strings.ContainsAny(o.Token, "\r\n") {
		return o, nil, errors.New("proff: the API token holds a line break")
	}
	if o.RatePerSecond < 0 || math.IsNaN(o.RatePerSecond) || math.IsInf(o.RatePerSecond, 0) {
		return o, nil, fmt.Errorf("proff: rate limit %v per second is not a positive number", o.RatePerSecond)
	}
	return withZeroDefaults(o), base, nil
}

// orDefault is v, or def when v is zero or less (an option left unset).
func orDefault[T int | int64 | float64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// withZeroDefaults gives every option left zero its documented default.
func withZeroDefaults(o Options) Options {
	o.RatePerSecond = orDefault(o.RatePerSecond, DefaultRate)
	o.Concurrency = orDefault(o.Concurrency, DefaultConcurrency)
	o.MaxAttempts = orDefault(o.MaxAttempts, DefaultMaxAttempts)
	o.MaxRetryWait = orDefault(o.MaxRetryWait, DefaultMaxRetryWait)
	o.QuotaWait = orDefault(o.QuotaWait, DefaultQuotaWait)
	o.RetryBase = orDefault(o.RetryBase, DefaultRetryBase)
	o.RateLimitedBase = orDefault(o.RateLimitedBase, DefaultRateLimitedBase)
	o.Timeout = orDefault(o.Timeout, DefaultTimeout)
	o.MaxBody = orDefault(o.MaxBody, DefaultMaxBody)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return o
}

// burstFor keeps any one-second window at most 10 % over the rate: burst = max(1, floor(rate/10)).
func burstFor(perSecond float64) int {
	return max(1, int(math.Floor(perSecond/10)))
}

var utf8BOM = []byte("\xef\xbb\xbf")

// ErrMethodRefused wraps the refusal of any method but GET (P3).
var ErrMethodRefused = errors.New("only GET may be sent to Proff")

// NewHTTPClient returns the http.Client every Proff request goes through: the shared transport (URL policy,
// TLS 1.2, Correlation-ID, one Call per request), inside a layer that refuses every method but GET before
// the network and sets the Authorization header only on requests to the configured base URL's host.
func NewHTTPClient(o Options) (*http.Client, error) {
	o, base, err := withDefaults(o)
	if err != nil {
		return nil, err
	}
	hc := transport.NewClient(transport.Options{
		Service: transport.Proff, Recorder: o.Recorder, Secrets: []string{o.Token},
		RootCAs: o.RootCAs, MaxConnsPerHost: o.Concurrency, Base: o.Base,
	})
	hc.Transport = &getOnly{next: &authorize{next: hc.Transport, scheme: base.Scheme, host: base.Host, token: o.Token}}
	return hc, nil
}

type getOnly struct{ next http.RoundTripper }

func (g *getOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != "" {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%w: refused %s before the network", ErrMethodRefused, req.Method)
	}
	return g.next.RoundTrip(req)
}

type authorize struct {
	next         http.RoundTripper
	scheme, host string
	token        string
}

func (a *authorize) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.EqualFold(req.URL.Scheme, a.scheme) && strings.EqualFold(req.URL.Host, a.host) {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Token "+a.token)
	} else if req.Header.Get("Authorization") != "" {
		// Never let a credential reach another host, whoever set it.
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
	}
	return a.next.RoundTrip(req)
}

// Rate returns the current limit in requests per second.
func (c *Client) Rate() float64 { return float64(c.limiter.Limit()) }

// RateLimitWait returns the total time workers spent waiting for the rate limiter.
func (c *Client) RateLimitWait() time.Duration { return time.Duration(c.waited.Load()) }

// Lookup implements massupdate.CompanyLookup: it looks one company up and returns the values of
// Options.Points. Only the country and the canonical org number leave, in the path (P2).
func (c *Client) Lookup(ctx context.Context, country, orgNumber string) (map[string]any, error) {
	cc, ok := orgnr.ParseCountry(country)
	if !ok {
		return nil, fmt.Errorf("proff lookup: country %q is not one of NO, SE, DK, FI", country)
	}
	nr, err := orgnr.Normalize(cc, orgNumber)
	if err != nil {
		// Never spend a call on a number that fails its check.
		return nil, fmt.Errorf("proff lookup: %w", err)
	}
	if c.isForbidden(string(cc)) {
		return nil, fmt.Errorf("proff lookup: Proff refused country %s earlier in this run (403): %w", cc, massupdate.ErrCountryForbidden)
	}
	// SE and FI numbers may need their hyphenated form in the path (forms.go).
	body, err := c.fetchDocument(ctx, cc, nr)
	if err != nil {
		return nil, fmt.Errorf("proff lookup: %w", err)
	}
	// The document must be the company asked for, in the catalogue's shape (identity.go, shape.go).
	vals, err := extractLookedUp(body, cc, nr, c.points, c.o.Clock.Now())
	if err != nil {
		return nil, fmt.Errorf("proff lookup: %w", err)
	}
	return vals, nil
}

// TokenInfo is the token's quota as Proff reports it. The token string in the same answer is never kept.
type TokenInfo struct {
	CallLimit      CallLimit `json:"callLimit"`
	CallsPerformed CallStats `json:"callsPerformed"`
}

// CallLimit is how many calls the token may make per period (0: not limited or not reported).
type CallLimit struct {
	PerMinute int64 `json:"perMinute"`
	PerHour   int64 `json:"perHour"`
	PerDay    int64 `json:"perDay"`
	PerMonth  int64 `json:"perMonth"`
	PerYear   int64 `json:"perYear"`
}

// CallStats is how many calls the token made in the last period.
type CallStats struct {
	LastMinute int64 `json:"lastMinute"`
	LastHour   int64 `json:"lastHour"`
	LastDay    int64 `json:"lastDay"`
	LastMonth  int64 `json:"lastMonth"`
	LastYear   int64 `json:"lastYear"`
}

// TokenInfo reads /api/service/tokeninformation. That answer holds the token itself: only the limits and
// counts are decoded, the rest of the body is dropped.
func (c *Client) TokenInfo(ctx context.Context) (TokenInfo, error) {
	body, err := c.get(ctx, "/api/service/tokeninformation", EndpointTokenInfo, "")
	if err != nil {
		return TokenInfo{}, fmt.Errorf("proff token information: %w", err)
	}
	var raw struct {
		CallLimit      map[string]json.RawMessage `json:"callLimit"`
		CallsPerformed map[string]json.RawMessage `json:"callsPerformed"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return TokenInfo{}, fmt.Errorf("proff token information: %w", ErrMalformed)
	}
	num := func(m map[string]json.RawMessage, k string) int64 {
		v, ok := getFold(m, k)
		if !ok {
			return 0
		}
		f, ok := typed(v, mapping.Number)
		if !ok {
			return 0
		}
		return int64(f.(float64))
	}
	l, p := raw.CallLimit, raw.CallsPerformed
	return TokenInfo{
		CallLimit: CallLimit{PerMinute: num(l, "perMinute"), PerHour: num(l, "perHour"), PerDay: num(l, "perDay"),
			PerMonth: num(l, "perMonth"), PerYear: num(l, "perYear")},
		CallsPerformed: CallStats{LastMinute: num(p, "lastMinute"), LastHour: num(p, "lastHour"),
			LastDay: num(p, "lastDay"), LastMonth: num(p, "lastMonth"), LastYear: num(p, "lastYear")},
	}, nil
}

// FitRateToToken reads the token's limits and lowers the rate to its per-minute limit / 60 when that is
// lower than the configured rate. It never raises the rate.
func (c *Client) FitRateToToken(ctx context.Context) error {
	ti, err := c.TokenInfo(ctx)
	if err != nil {
		return err
	}
	if ti.CallLimit.PerMinute <= 0 {
		return nil
	}
	perSecond := float64(ti.CallLimit.PerMinute) / 60
	if cur := c.Rate(); perSecond < cur {
		c.limiter.SetLimitAt(c.o.Clock.Now(), rate.Limit(perSecond))
		c.limiter.SetBurstAt(c.o.Clock.Now(), burstFor(perSecond))
		c.log.LogAttrs(ctx, slog.LevelInfo, "lowered the Proff rate to the token's limit",
			slog.Float64("configured_per_second", cur), slog.Float64("per_second", perSecond),
			slog.Int64("token_per_minute", ti.CallLimit.PerMinute))
	}
	return nil
}

func (c *Client) isForbidden(cc string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forbidden[cc]
}

// failure is why one try failed; retry says whether another try may help.
type failure struct {
	status     int
	class      string // transport error class when no answer came
	retry      bool
	retryAfter time.Duration
	hasAfter   bool
	err        error // final, classified error (not retryable)
}

// get sends GET base+path with retries and returns the body of a 200 answer.
func (c *Client) get(ctx context.Context, path, endpoint, country string) ([]byte, error) {
	if c.unauthorized.Load() {
		return nil, fmt.Errorf("Proff rejected the token earlier in this run (401): %w", massupdate.ErrUnauthorized)
	}
	ctx = transport.WithEndpoint(ctx, endpoint)
	var last failure
	start, only429 := c.o.Clock.Now(), true
	for attempt := 1; !c.retry.Spent(attempt - 1); attempt++ {
		if attempt > 1 {
			if err := c.backoff(ctx, attempt, last); err != nil {
				return nil, err
			}
		}
		if country != "" && c.isForbidden(country) {
			return nil, fmt.Errorf("Proff refused country %s earlier in this run (403): %w", country, massupdate.ErrCountryForbidden)
		}
		if c.unauthorized.Load() {
			return nil, fmt.Errorf("Proff rejected the token earlier in this run (401): %w", massupdate.ErrUnauthorized)
		}
		body, f := c.try(transport.WithAttempt(ctx, attempt), path, country)
		if f == nil {
			return body, nil
		}
		if f.err != nil {
			return nil, f.err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		last = *f
		only429 = only429 && f.status == http.StatusTooManyRequests
		if f.hasAfter && f.retryAfter > c.o.QuotaWait {
			why := "the token's quota is spent"
			if f.status != http.StatusTooManyRequests {
				why = fmt.Sprintf("Proff is unavailable (%d), e.g. for maintenance", f.status)
			}
			// Either way the run stops, to be resumed later (ErrQuotaExhausted), rather than wait that long.
			return nil, fmt.Errorf("Proff asked to wait %s before the next call: %s: %w",
				f.retryAfter.Round(time.Second), why, massupdate.ErrQuotaExhausted)
		}
	}
	if only429 && c.o.Clock.Now().Sub(start) >= time.Minute {
		// Refused for over a minute, though the per-minute window has turned: an hourly, daily or monthly
		// quota is spent. Every further record would spend its minute the same way: stop (resumable).
		return nil, fmt.Errorf("Proff answered 429 for over a minute, %s: the token's quota is spent: %w",
			times(c.o.MaxAttempts), massupdate.ErrQuotaExhausted)
	}
	return nil, errors.New(exhausted(last, c.o.MaxAttempts))
}

// exhausted says why the last try failed and how many there were: "Proff answered 503 five times".
func exhausted(f failure, n int) string {
	if f.status != 0 {
		return fmt.Sprintf("Proff answered %d %s", f.status, times(n))
	}
	return fmt.Sprintf("Proff could not be reached %s (last: %s)", times(n), f.class)
}

func times(n int) string {
	words := []string{"", "once", "twice", "three times", "four times", "five times", "six times",
		"seven times", "eight times", "nine times", "ten times"}
	if n > 0 && n < len(words) {
		return words[n]
	}
	return strconv.Itoa(n) + " times"
}

// backoff waits before try number attempt: Retry-After when Proff sent one, else exponential backoff with
// jitter (from RateLimitedBase after a 429); either capped at MaxRetryWait. Every worker holds back until
// a Retry-After, or the wait after any 429, has passed.
func (c *Client) backoff(ctx context.Context, attempt int, last failure) error {
	rateLimited := last.status == http.StatusTooManyRequests
	// A 429 uses its own policy. "Retry-After: 0" (or a date already past) on a 429 is a server rounding
	// down the rest of its second: retrying at once would meet the same full window, up to the last try,
	// hence its floor of a second. A 429 without Retry-After: the token's window is full for everyone, so
	// every worker holds back (below) for the whole step: jitter only upwards, from RateLimitedBase, so
	// that the waits still span the minute. Anything else: equal jitter, never less than half the step.
	p := c.retry
	if rateLimited {
		p = c.rateLimited
	}
	d := p.Wait(attempt-1, last.retryAfter, last.hasAfter)
	if last.hasAfter || rateLimited {
		c.mu.Lock()
		if until := c.o.Clock.Now().Add(d); until.After(c.pauseUntil) {
			c.pauseUntil = until
		}
		c.mu.Unlock()
	}
	if err := c.o.Clock.Sleep(ctx, d); err != nil {
		return err
	}
	return nil
}

// try makes one request: it waits for a slot and a token of the limiter, then sends. The try's own
// deadline (Options.Timeout) is a context deadline, so the technical log classifies it as a timeout.
func (c *Client) try(parent context.Context, path, country string) ([]byte, *failure) {
	select {
	case c.sem <- struct{}{}:
	case <-parent.Done():
		return nil, &failure{err: parent.Err()}
	}
	defer func() { <-c.sem }()
	if err := c.waitTurn(parent); err != nil {
		return nil, &failure{err: err}
	}

	ctx, cancel := context.WithTimeout(parent, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+path, nil)
	if err != nil {
		return nil, &failure{err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if c.o.APIVersion != "" {
		req.Header.Set("api-version", c.o.APIVersion)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.sendFailure(parent, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return c.okBody(parent, resp)
	}
	if resp.StatusCode == http.StatusNoContent && isFeedRequest(parent) {
		// ASP.NET answers 204 when an action returns null ("no changes"): an empty page, which ends the read
		// as complete. As a failed read it would send the country to full lookups on every quiet night.
		return []byte(emptyFeedPage), nil
	}
	return nil, c.statusFailure(ctx, resp, path, country)
}

// sendFailure classifies a request that got no answer: the run's end, a policy refusal and a failed TLS
// handshake are final; a timeout or a broken connection is retried.
func (c *Client) sendFailure(parent context.Context, err error) *failure {
	switch {
	case parent.Err() != nil:
		return &failure{err: parent.Err()}
	case errors.Is(err, transport.ErrRefused) || errors.Is(err, ErrMethodRefused):
		return &failure{err: errors.New(c.scrub(err.Error()))}
	}
	class := errClass(err)
	if class == classTLS {
		// A handshake refused (TLS below 1.2, unknown CA) fails the same way every time: no retry.
		return &failure{err: fmt.Errorf("TLS with Proff failed: %s", c.scrub(err.Error()))}
	}
	return &failure{class: class, retry: true}
}

// okBody reads a 200's body within MaxBody.
func (c *Client) okBody(parent context.Context, resp *http.Response) ([]byte, *failure) {
	body, err := readBody(resp, c.o.MaxBody)
	if err != nil {
		if parent.Err() != nil {
			return nil, &failure{err: parent.Err()}
		}
		return nil, &failure{class: "body cut off: " + errClass(err), retry: true}
	}
	if int64(len(body)) > c.o.MaxBody {
		return nil, &failure{err: fmt.Errorf("Proff sent an answer larger than %d MiB", c.o.MaxBody>>20)}
	}
	// .NET writers may start a UTF-8 body with a byte order mark, which no JSON decoder accepts.
	return bytes.TrimPrefix(body, utf8BOM), nil
}

// statusFailure classifies an answer other than 200.
func (c *Client) statusFailure(ctx context.Context, resp *http.Response, path, country string) *failure {
	code := resp.StatusCode
	switch {
	case isFeedRequest(ctx) && code >= 400 && code < 500 && code != http.StatusUnauthorized &&
		code != http.StatusTooManyRequests && code != http.StatusRequestTimeout:
		// The change feed classifies its own 4xx (feed.go): there it means no feed for the country.
		return &failure{err: &feedStatusError{status: code}}
	case country == "" && (code == http.StatusNotFound || code == http.StatusNoContent):
		// Not a company lookup: "no company" would mislead. A 404 here mostly means a wrong base URL.
		return &failure{err: fmt.Errorf("Proff answered %d for %s: is PROFF_API_URL the API's base URL?",
			code, strings.TrimPrefix(path, "/"))}
	case code == http.StatusNotFound:
		return &failure{err: fmt.Errorf("Proff has no company with that number (404): %w", massupdate.ErrNotFound)}
	case code == http.StatusNoContent:
		// ASP.NET (which Proff's API is built on) answers 204 when an action returns null: no such company.
		return &failure{err: fmt.Errorf("Proff has no company with that number (204): %w", massupdate.ErrNotFound)}
	case code == http.StatusUnauthorized:
		if !c.unauthorized.Swap(true) {
			c.log.LogAttrs(ctx, slog.LevelError, "Proff rejected the API token: no further calls in this run",
				slog.Int("status", code))
		}
		return &failure{err: fmt.Errorf("Proff rejected the API token (401): %w", massupdate.ErrUnauthorized)}
	case code == http.StatusForbidden:
		return c.forbiddenFailure(ctx, country)
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		f := &failure{status: code, retry: true}
		f.retryAfter, f.hasAfter = retry.ParseRetryAfter(resp.Header.Get("Retry-After"), c.o.Clock.Now())
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		return f
	}
	return &failure{err: &statusError{status: code}}
}

// statusError is an answer statusFailure gives no meaning of its own (a 400, 410, 422, a 3xx…), so that a
// caller may give it one by its status: fetchDocument takes a plain 4xx on one form of an SE or FI number
// as "not in this form".
type statusError struct{ status int }

func (e *statusError) Error() string { return fmt.Sprintf("Proff answered %d", e.status) }

// forbiddenFailure: a 403 outside a company lookup refuses the token; on a lookup it refuses the country,
// which is logged once.
func (c *Client) forbiddenFailure(ctx context.Context, country string) *failure {
	if country == "" {
		return &failure{err: fmt.Errorf("Proff refused the token (403): %w", massupdate.ErrUnauthorized)}
	}
	c.mu.Lock()
	first := !c.forbidden[country]
	c.forbidden[country] = true
	c.mu.Unlock()
	if first {
		c.log.LogAttrs(ctx, slog.LevelWarn, "the Proff token does not cover this country: no further calls for it",
			slog.String("country", country))
	}
	return &failure{err: fmt.Errorf("Proff refused country %s (403): %w", country, massupdate.ErrCountryForbidden)}
}

// waitTurn waits for the shared limiter (and for a pause a Retry-After set). Retries pass here too, so
// the rate holds for every request sent.
func (c *Client) waitTurn(ctx context.Context) error {
	start := c.o.Clock.Now()
	c.mu.Lock()
	pause := c.pauseUntil.Sub(start)
	c.mu.Unlock()
	if pause > 0 {
		if err := c.o.Clock.Sleep(ctx, pause); err != nil {
			return err
		}
	}
	now := c.o.Clock.Now()
	r := c.limiter.ReserveN(now, 1)
	if !r.OK() {
		return errors.New("the Proff rate limiter refused the request")
	}
	d := r.DelayFrom(now)
	if d > 0 {
		if err := c.o.Clock.Sleep(ctx, d); err != nil {
			r.CancelAt(c.o.Clock.Now())
			return err
		}
	}
	c.waited.Add(int64(c.o.Clock.Now().Sub(start)))
	return nil
}

const classTLS = "TLS failure"

func errClass(err error) string {
	var ne interface{ Timeout() bool }
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case transport.IsTLSError(err): // by type, the rule the technical log classifies by
		return classTLS
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed early"
	default:
		return "connection failed"
	}
}

func (c *Client) scrub(s string) string { return secret.Scrub(s, []string{c.token}) }

var _ massupdate.CompanyLookup = (*Client)(nil)

// readBody reads at most max+1 bytes of the body. With a Content-Length it reads into a buffer of exactly
// that size: io.ReadAll's doubling would leave about twice the document as garbage on every lookup.
func readBody(resp *http.Response, max int64) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= max {
		// net/http ends the body at Content-Length: exactly n bytes, or an error.
		buf := make([]byte, n)
		_, err := io.ReadFull(resp.Body, buf)
		return buf, err
	}
	return io.ReadAll(io.LimitReader(resp.Body, max+1))
}
